import { createRequire } from 'node:module';
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
    const dispatcher = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
    // As the entry point does: request(), and connect() that the proxy agent tunnels with, become dispatcher methods.
    Object.assign(dispatcher.prototype, require('undici/lib/api/index.js'));
    return require('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof Undici.EnvHttpProxyAgent;
  } catch {
    return (require('undici') as typeof Undici).EnvHttpProxyAgent;
  }
}

export const EnvHttpProxyAgent = loadAgent();
