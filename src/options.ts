import { resolve } from 'node:path';
import type { ConnectionGrant } from './connection-grant.js';
import { UsageError } from './errors.js';
import { CHECKSUM_ALGORITHMS, type Checksum, type ChecksumAlgorithm } from './merger.js';
import type { EventListener } from './events.js';
import type { Headers } from './http.js';
import { VERSION } from './version.js';

export const DEFAULT_CONNECTIONS = 8;
export const MAX_CONNECTIONS = 64;
export const DEFAULT_MIN_SEGMENT_SIZE = 1 << 20;
export const DEFAULT_RETRIES = 5;
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Options of `download()`; each mirrors a CLI flag. */
export interface DownloadOptions {
  url: string;
  /** Output file path (relative to `dir`); default: from Content-Disposition or the URL. */
  output?: string;
  /** Directory for the output; default: the current directory. */
  dir?: string;
  /** Parallel connections, 1..64; default 8. */
  connections?: number;
  /**
   * Connections opened while the HEAD is under way, so that the range requests after it need not
   * wait for their handshakes; default `connections`. A small file makes one request: 1 suits it.
   */
  preconnect?: number;
  /** Smallest range worth its own request, in bytes; default 1 MiB. */
  minSegmentSize?: number;
  /** Expected digest as `algo=hex` (sha256, sha512, sha1, md5). */
  checksum?: string;
  /** Retries per range after a network error or a 5xx; default 5. */
  retries?: number;
  /** Connect and idle timeout in milliseconds; default 30 s. */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: Headers;
  /** Basic auth as `user:password`; also taken from `user:password@` in the URL. */
  user?: string;
  /** Overall speed cap across all connections, bytes per second. */
  limitRate?: number;
  /** Proxy URL (http://, https://, socks5://); default: HTTP_PROXY / HTTPS_PROXY / NO_PROXY. */
  proxy?: string;
  /** Other URLs of the same file; ranges are spread across all of them. */
  mirrors?: string[];
  userAgent?: string;
  /** Skip TLS certificate verification. */
  insecure?: boolean;
  /** A PEM file with a CA certificate to trust besides the system's. */
  caCert?: string;
  /** Replace an existing complete output file. */
  overwrite?: boolean;
  /** Discard any partial download and start over. */
  restart?: boolean;
  /** Give the saved file the server's Last-Modified as its modification time (as curl -R, aria2 -R). */
  remoteTime?: boolean;
  /** Stops the download; the partial state stays on disk, resumable. */
  signal?: AbortSignal;
  /** Receives start, progress (5 per second), notice, retry and done events. */
  onEvent?: EventListener;
  /** Lets the running download open more connections than `connections`, up to 64 (a list of downloads passing on the connections of finished ones). */
  moreConnections?: ConnectionGrant;
}

/** Options checked and completed with defaults. */
export interface Settings {
  url: string;
  output: string | undefined;
  dir: string;
  connections: number;
  preconnect: number;
  minSegmentSize: number;
  checksum: Checksum | undefined;
  retries: number;
  timeoutMs: number;
  limitRate: number | undefined;
  headers: Headers;
  insecure: boolean;
  caCert: string | undefined;
  proxy: string | undefined;
  mirrors: string[];
  overwrite: boolean;
  restart: boolean;
  remoteTime: boolean;
}

export function resolveSettings(options: DownloadOptions): Settings {
  const connections = options.connections ?? DEFAULT_CONNECTIONS;
  if (!Number.isInteger(connections) || connections < 1 || connections > MAX_CONNECTIONS) {
    throw new UsageError(`invalid connection count '${connections}': use a whole number from 1 to ${MAX_CONNECTIONS}`);
  }
  if (options.output === '') throw new UsageError('-o names no file: give it a file name, or leave it out');
  const { url, credentials } = splitCredentials(checkUrl(options.url));
  return {
    url,
    output: options.output,
    dir: resolve(options.dir ?? '.'),
    connections,
    preconnect: Math.min(connections, positiveInteger(options.preconnect ?? connections, 'preconnect count', 0)),
    minSegmentSize: positiveInteger(options.minSegmentSize ?? DEFAULT_MIN_SEGMENT_SIZE, 'minimum segment size', 1),
    checksum: options.checksum === undefined ? undefined : parseChecksum(options.checksum),
    retries: positiveInteger(options.retries ?? DEFAULT_RETRIES, 'retry count', 0),
    timeoutMs: positiveInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeout', 1),
    limitRate: options.limitRate === undefined ? undefined : positiveInteger(options.limitRate, 'rate limit', 1),
    headers: withBasicAuth(requestHeaders(options.headers ?? {}, options.userAgent), options.user ?? credentials),
    insecure: options.insecure ?? false,
    caCert: options.caCert,
    proxy: options.proxy === undefined ? undefined : checkProxyUrl(options.proxy),
    mirrors: (options.mirrors ?? []).map(checkUrl),
    overwrite: options.overwrite ?? false,
    restart: options.restart ?? false,
    remoteTime: options.remoteTime ?? false,
  };
}

function positiveInteger(value: number, what: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`invalid ${what} '${value}'`);
  return value;
}

/** The URL, normalised; a UsageError unless it is a full http:// or https:// URL. */
export function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid URL '${redact(text)}': give a full http:// or https:// URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`unsupported URL scheme '${url.protocol}' in '${redact(text)}': only http and https`);
  }
  return url.href;
}

function checkProxyUrl(text: string): string {
  // curl's socks5h:// (host names resolved by the proxy) is what undici's socks5:// does anyway.
  const url = URL.canParse(text) ? new URL(text.replace(/^socks5h:/i, 'socks5:')) : undefined;
  if (!url || !['http:', 'https:', 'socks5:', 'socks:'].includes(url.protocol)) {
    throw new UsageError(`invalid proxy '${redact(text)}': give a URL such as http://proxy.example:3128`);
  }
  return url.href;
}

/** Masks the password of every `scheme://user:password@` in `text`. */
export function redact(text: string): string {
  return text.replace(/(\/\/[^/\s:@]*):[^/\s@]*@/g, '$1:***@');
}

/** The URL without `user:password@`, and those credentials as `user:password`. */
function splitCredentials(href: string): { url: string; credentials: string | undefined } {
  const url = new URL(href);
  if (!url.username && !url.password) return { url: href, credentials: undefined };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  return { url: url.href, credentials };
}

/** Adds `Authorization: Basic …` unless a header already says how to authorise. */
function withBasicAuth(headers: Headers, credentials: string | undefined): Headers {
  if (credentials === undefined || headers.authorization !== undefined) return headers;
  return { ...headers, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

export function parseChecksum(text: string): Checksum {
  // Also as aria2 (sha-256=HEX) and digests (sha256:HEX) write it.
  const [, name = '', hex = ''] = /^([^=:]*)[=:](.*)$/.exec(text) ?? [];
  const algorithm = name.toLowerCase().replace('-', '') as ChecksumAlgorithm;
  const length = CHECKSUM_ALGORITHMS[algorithm];
  if (!length || !new RegExp(`^[0-9a-fA-F]{${length}}$`).test(hex)) {
    throw new UsageError(`invalid checksum '${text}': use ALGO=HEX with ALGO one of ${Object.keys(CHECKSUM_ALGORITHMS).join(', ')}`);
  }
  return { algorithm, expected: hex.toLowerCase() };
}

/** rangeget owns these; a user value would break ranged requests. */
const RESERVED_HEADERS = ['range', 'if-range', 'accept-encoding', 'host', 'content-length', 'transfer-encoding', 'connection'];

/** Characters that would end a header value early (and that undici refuses, as a network error). */
const BREAKS_HEADER = /[\r\n\0]/;

/** Lowercase names (undici merges by exact name), identity encoding, and a user agent. */
export function requestHeaders(extra: Headers, userAgent: string | undefined): Headers {
  if (userAgent !== undefined && BREAKS_HEADER.test(userAgent)) throw new UsageError(`invalid user agent ${JSON.stringify(userAgent)}: one line of text`);
  const headers: Headers = { 'user-agent': userAgent ?? `rangeget/${VERSION}` };
  for (const [name, value] of Object.entries(extra)) {
    const key = name.trim().toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(key) || BREAKS_HEADER.test(value)) {
      throw new UsageError(`invalid header '${name}: ${value}': use 'Name: value'`);
    }
    if (RESERVED_HEADERS.includes(key)) throw new UsageError(`header '${name}' is set by rangeget and cannot be overridden`);
    headers[key] = value.trim();
  }
  headers['accept-encoding'] = 'identity';
  return headers;
}
