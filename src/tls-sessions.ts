import type { SecureContext } from 'node:tls';
import type { buildConnector as BuildConnector } from 'undici';
import type { OpeningConnector } from './preconnect.js';
import { buildConnector } from './undici.js';

type ConnectOptions = BuildConnector.BuildOptions & { rejectUnauthorized?: boolean; secureContext?: SecureContext | undefined };

/** Servers whose latest TLS session the process keeps. */
const MAX_SESSIONS = 100;
/** The latest session of each server, under the trust that verified it. */
const sessions = new Map<string, Buffer>();
const trustIds = new WeakMap<SecureContext, number>();

/**
 * undici's connector, with TLS sessions shared by every download of the process: undici keeps them
 * per connector, and each download makes its own, so every file of a list began with full
 * handshakes (3.0 ms each on loopback, 1.9 resumed). A session resumes only under the trust it was
 * made with: a resumed session keeps the verdict of its first handshake, so one verified under
 * another --ca-cert would pass a server this download does not trust (and one from an --insecure
 * download would fail it).
 */
export function sessionResuming(options: ConnectOptions): OpeningConnector {
  const trust = trustOf(options);
  const connect = buildConnector(options) as OpeningConnector;
  return (target, callback) => {
    if (target.protocol !== 'https:') return connect(target, callback);
    const key = `${trust} ${target.hostname}:${target.port} ${target.servername ?? ''}`;
    const session = sessions.get(key);
    // undici's connector takes a session only when it is made.
    const socket = (session ? (buildConnector({ ...options, session }) as OpeningConnector) : connect)(target, callback);
    socket?.on('session', (latest: Buffer) => keep(key, latest));
    return socket;
  };
}

function keep(key: string, session: Buffer): void {
  sessions.delete(key);
  sessions.set(key, session);
  if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
}

let trusts = 0;

function trustOf({ rejectUnauthorized, secureContext }: ConnectOptions): string {
  if (rejectUnauthorized === false) return 'unverified';
  if (!secureContext) return 'default';
  let id = trustIds.get(secureContext);
  if (id === undefined) trustIds.set(secureContext, (id = ++trusts));
  return `trust ${id}`;
}
