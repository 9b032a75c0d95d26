import { createRequire, Module } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

/**
 * undici's agent, loaded without the package's entry point, which also loads fetch, WebSocket,
 * caches and mocks: about 100 ms of every start, a third of the CLI's. Should a later undici 7
 * move these files, the entry point is used instead: slower to start, same behaviour
 * (test/undici.test.ts notices).
 */
function loadAgent(): typeof Undici.EnvHttpProxyAgent {
  try {
    deferHttp2Client();
    const dispatcher = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
    // As the entry point does: request(), and connect() that the proxy agent tunnels with, become dispatcher methods.
    Object.assign(dispatcher.prototype, require('undici/lib/api/index.js'));
    return require('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof Undici.EnvHttpProxyAgent;
  } catch {
    return (require('undici') as typeof Undici).EnvHttpProxyAgent;
  }
}

type ConnectH2 = (...args: unknown[]) => unknown;

/**
 * undici's client loads its HTTP/2 half up front, and with it node:http2 and node:tls, for a
 * protocol never negotiated here (allowH2 stays off). A stand-in in the module cache loads the real
 * file on its first call. With tls also loaded lazily (files.ts), a start is ~7 ms shorter.
 */
function deferHttp2Client(): void {
  const path = require.resolve('undici/lib/dispatcher/client-h2.js');
  // Already loaded (the host application uses undici too): nothing left to save.
  if (require.cache[path]) return;
  let real: ConnectH2 | undefined;
  const load = (): ConnectH2 => {
    delete require.cache[path];
    return require(path) as ConnectH2;
  };
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = (...args: unknown[]): unknown => (real ??= load())(...args);
  require.cache[path] = standIn;
}

export const EnvHttpProxyAgent = loadAgent();

/** undici's connector factory (the agent has loaded its file already). */
function loadConnector(): typeof Undici.buildConnector {
  try {
    return require('undici/lib/core/connect.js') as typeof Undici.buildConnector;
  } catch {
    return (require('undici') as typeof Undici).buildConnector;
  }
}

export const buildConnector = loadConnector();

type PoolFactory = (origin: string | URL, options: object) => Undici.Dispatcher;

/**
 * undici's pool gives a request to its first client that is not busy, connected or not. Behind a
 * server that takes only so many connections (a firewall dropping the handshakes of the others),
 * requests then wait on fresh connections that are never accepted while connected ones idle. This
 * pool gives a request an idle connected client first. Undefined should a later undici 7 move the
 * pool's internals: undici's own pool is used then (test/undici.test.ts notices).
 */
function loadPoolFactory(): PoolFactory | undefined {
  try {
    const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
    const { kClients, kGetDispatcher } = require('undici/lib/dispatcher/pool-base.js') as Record<string, symbol>;
    const { kConnected, kBusy } = require('undici/lib/core/symbols.js') as Record<string, symbol>;
    if (![kClients, kGetDispatcher, kConnected, kBusy].every((key) => typeof key === 'symbol')) return undefined;
    type Internals = Record<symbol, unknown>;
    class PreferConnectedPool extends Pool {
      [kGetDispatcher!](): unknown {
        const clients = (this as unknown as Internals)[kClients!] as Internals[];
        return clients.find((client) => client[kConnected!] && !client[kBusy!])
          ?? (Pool.prototype as unknown as Record<symbol, () => unknown>)[kGetDispatcher!]!.call(this);
      }
    }
    return (origin, options) => new PreferConnectedPool(origin, options);
  } catch {
    return undefined;
  }
}

export const poolFactory = loadPoolFactory();
