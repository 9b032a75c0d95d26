import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import { AbortedError, HttpError, ProtocolError } from './errors.js';
import { sharedLookup } from './lookup.js';
import { toNetworkError } from './network-errors.js';
import { burstyReads, readBytesFor, recyclingReads } from './read-buffers.js';
import { WarmConnections } from './preconnect.js';
import { sessionResuming } from './tls-sessions.js';
import { EnvHttpProxyAgent, poolFactory } from './undici.js';

export const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
export type Headers = Record<string, string>;

/** How to reach servers: connection count, timeouts, TLS trust, proxy, rate limit. */
export interface ConnectionOptions {
  /** Connections per origin (the download's parallelism); unlimited when undefined. */
  connections?: number;
  timeoutMs: number;
  insecure: boolean;
  /** The CAs that verify servers, when not Node's default ones (trust.ts). */
  trust?: SecureContext;
  /** Proxy URL for every request; else HTTP_PROXY / HTTPS_PROXY / NO_PROXY from the environment. */
  proxy?: string;
  /** --limit-rate, bytes per second: it bounds the size of socket reads. */
  limitRate?: number;
  /**
   * The requests a download starts with, when fewer than `connections` (which a list's downloads
   * may grow to): only their sockets may start with small reads (read-buffers.ts).
   */
  firstConnections?: number;
}

/** A download's dispatcher, and the connections it can open ahead of its requests (none through a proxy). */
export interface Dispatchers {
  agent: Dispatcher;
  warm: WarmConnections | undefined;
}

/**
 * The dispatcher for all requests of one download: HTTP/1.1 only (ranges on one HTTP/2 connection
 * would share one congestion window), one request per connection at a time, our own timeouts
 * (undici's 300 s are far too long), TLS verified unless --insecure, proxies honoured, socket
 * reads into recycled buffers (read-buffers.ts), each host resolved once (lookup.ts),
 * connections that can open ahead of the requests (preconnect.ts), and requests given to idle
 * connected clients first (undici.ts).
 */
export function createDispatcher(options: ConnectionOptions): Dispatchers {
  const tls = { rejectUnauthorized: !options.insecure, secureContext: options.trust };
  const readBytes = readBytesFor(options.connections, options.limitRate);
  const connect = {
    timeout: options.timeoutMs,
    ...tls,
    onread: recyclingReads(readBytes, burstyReads(readBytes, options.firstConnections ?? options.connections)),
    lookup: sharedLookup(),
  };
  // Connections opened early go straight to the server: through a proxy they would go around it.
  const warm = usesProxy(options.proxy) ? undefined : new WarmConnections(sessionResuming(connect));
  const agent = new EnvHttpProxyAgent({
    connections: options.connections,
    pipelining: 1,
    allowH2: false,
    connect: warm?.connect ?? connect,
    requestTls: tls,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    ...(poolFactory ? { factory: poolFactory } : {}),
    ...(options.proxy ? { httpProxy: options.proxy, httpsProxy: options.proxy } : {}),
  });
  return { agent, warm };
}

/** Whether --proxy or the environment names a proxy (which EnvHttpProxyAgent then uses). */
function usesProxy(proxy: string | undefined): boolean {
  const { HTTP_PROXY, http_proxy, HTTPS_PROXY, https_proxy } = process.env;
  return Boolean(proxy || HTTP_PROXY || http_proxy || HTTPS_PROXY || https_proxy);
}

/** First value of a response header (undici gives lowercase names). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export interface FollowedResponse {
  url: string;
  response: Dispatcher.ResponseData;
}

/**
 * One request, following up to MAX_REDIRECTS redirects by hand so the final URL is known.
 * Credentials never travel to another origin. The caller consumes or destroys the body.
 */
export async function requestFollowingRedirects(
  dispatcher: Dispatcher,
  url: string,
  method: 'HEAD' | 'GET',
  headers: Headers,
  signal?: AbortSignal,
): Promise<FollowedResponse> {
  const visited = new Set<string>();
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    visited.add(current);
    const target = new URL(current);
    const sent = headersFor(current, url, headers);
    let response: Dispatcher.ResponseData;
    try {
      response = await dispatcher.request({ origin: target.origin, path: target.pathname + target.search, method, headers: sent, signal });
    } catch (err) {
      throw signal?.aborted ? new AbortedError() : toNetworkError(err, current);
    }
    const location = headerValue(response.headers, 'location');
    if (!REDIRECT_STATUSES.has(response.statusCode) || !location) return { url: current, response };
    await response.body.dump();
    current = resolveLocation(location, current);
    if (visited.has(current)) throw new ProtocolError(`redirect loop at ${current}`);
  }
  throw new ProtocolError(`more than ${MAX_REDIRECTS} redirects starting at ${url}`);
}

function resolveLocation(location: string, base: string): string {
  const next = new URL(location, base);
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new ProtocolError(`redirect to unsupported URL ${next.href}`);
  }
  return next.href;
}

/** The headers to send to `target` for a download of `original`: credentials only to the original origin. */
export function headersFor(target: string, original: string, headers: Headers): Headers {
  if (new URL(target).origin === new URL(original).origin) return headers;
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.includes(name)));
}

/** Longest wait rangeget accepts from Retry-After before retrying anyway. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from `now`, capped. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : (parseHttpDate(value) ?? NaN) - now;
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : undefined;
}

/**
 * An HTTP date (RFC 9110 5.6.7) in milliseconds since the epoch. Its obsolete asctime form names no
 * zone, which Date.parse would take as local time; HTTP dates are all GMT.
 */
export function parseHttpDate(value: string): number | undefined {
  const text = value.trim();
  const ms = Date.parse(/(\bGMT|\bUTC|Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text} GMT`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** How long to wait before retry number `attempt` after `err`: as the server asked, else backoff. */
export function retryDelayMs(err: unknown, attempt: number): number {
  return (err instanceof HttpError ? err.retryAfterMs : undefined) ?? backoffMs(attempt);
}

/** Waits `ms` (before a retry, or a connection's spread start); an abort ends the wait with AbortedError. */
export async function abortableWait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => {
    throw new AbortedError();
  });
}

/** Exponential backoff with jitter: about 250 ms, 500 ms, 1 s, ... capped at 10 s. */
function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 250 * 2 ** (attempt - 1));
  return Math.round(base * (0.5 + random() / 2));
}
