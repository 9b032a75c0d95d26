/** Network failures: told in words (which host, what happened, what may help), and whether a retry may help. */
import { HttpError, NetworkError, RangegetError } from './errors.js';

/** TLS errors about the server's certificate, which the user may choose to trust. */
const CERTIFICATE_CODES = /^(CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO|ERR_TLS_CERT)/;
/** Other errors that, like a certificate one, say the destination is wrong, not that the network is flaky. */
const PERMANENT_NETWORK_CODES = /^(ENOTFOUND|EAI_NONAME|ERR_TLS|ERR_SSL|ERR_INVALID_URL)/;

type Described = [what: (host: string) => string, hint?: string];
const LONGER_TIMEOUT = 'a longer --timeout may help';
/** What an OS or undici error code means, in words, about the server at `host`, and what may help. */
const PLAIN_WORDS: Record<string, Described> = {
  ENOTFOUND: [(host) => `cannot find ${host}`, 'check the URL'],
  EAI_NONAME: [(host) => `cannot find ${host}`, 'check the URL'],
  EAI_AGAIN: [(host) => `cannot look up ${host} just now`],
  ECONNREFUSED: [(host) => `${host} refused the connection`, 'check the port, and that the server is running'],
  ECONNRESET: [(host) => `${host} reset the connection`],
  EHOSTUNREACH: [(host) => `${host} cannot be reached from here`],
  ENETUNREACH: [(host) => `${host} cannot be reached from here`],
  ETIMEDOUT: [(host) => `${host} did not answer in time`],
  UND_ERR_CONNECT_TIMEOUT: [(host) => `no connection to ${host} within the timeout`, LONGER_TIMEOUT],
  UND_ERR_HEADERS_TIMEOUT: [(host) => `${host} sent no response within the timeout`, LONGER_TIMEOUT],
  UND_ERR_BODY_TIMEOUT: [(host) => `${host} sent no data within the timeout`, LONGER_TIMEOUT],
  UND_ERR_SOCKET: [(host) => `${host} closed the connection`],
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: [(host) => `${host} sent a body of another length than its Content-Length said`],
  ERR_SSL_WRONG_VERSION_NUMBER: [(host) => `${host} did not answer in TLS`, "check the URL's scheme and port"],
};

/**
 * Wraps whatever undici threw into a NetworkError that says, in words, what went wrong with
 * which host and whether a retry may help; the code stays in brackets, for searching.
 */
export function toNetworkError(err: unknown, url: string): RangegetError {
  if (err instanceof RangegetError) return err;
  const cause = err as NodeJS.ErrnoException;
  const code = cause?.code ?? '';
  const certificate = CERTIFICATE_CODES.test(code);
  const target = new URL(url);
  const proxy = proxyIn(cause, target);
  const message = proxy ? describeProxyFailure(proxy, cause) : describe(target.host, cause, certificate);
  return new NetworkError(message, {
    cause: err,
    retryable: !certificate && !PERMANENT_NETWORK_CODES.test(code),
  });
}

/**
 * The proxy's address when the failure was in reaching it, not `target`: a lookup of another host
 * name, or a connection to another port.
 */
function proxyIn(cause: (NodeJS.ErrnoException & { hostname?: string; address?: string; port?: number }) | undefined, target: URL): string | undefined {
  if (cause?.syscall === 'getaddrinfo' && cause.hostname && cause.hostname !== target.hostname) return cause.hostname;
  const targetPort = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  if (cause?.syscall === 'connect' && cause.port !== undefined && cause.port !== targetPort) return `${cause.address}:${cause.port}`;
  return undefined;
}

function describeProxyFailure(proxy: string, cause: NodeJS.ErrnoException): string {
  const words = PLAIN_WORDS[cause.code ?? ''];
  const what = words ? words[0](`the proxy ${proxy}`) : `the proxy ${proxy}: ${cause.message}`;
  return `${what} (${cause.code}); check --proxy, or HTTP_PROXY and HTTPS_PROXY`;
}

function describe(host: string, cause: NodeJS.ErrnoException | undefined, certificate: boolean): string {
  const code = cause?.code ?? '';
  const words = PLAIN_WORDS[code];
  if (words) return `${words[0](host)} (${code})${words[1] ? `; ${words[1]}` : ''}`;
  const message = cause?.message || String(cause);
  if (isParserError(cause)) return notHttp(host, message.replace(/^Response does not match the HTTP\/1\.1 protocol \((.*)\)$/, '$1'));
  const what = message !== code && code ? `${code}: ${message}` : message;
  const hint = certificate ? '; to trust it, name its CA with --ca-cert FILE (or skip the check with --insecure)' : '';
  return `${host}: ${what}${hint}`;
}

/** What llhttp's reason for refusing a response says: another protocol on that port, or broken HTTP. */
function notHttp(host: string, reason: string): string {
  if (reason.startsWith('Expected HTTP/')) return `${host} did not answer in HTTP (${reason}); check the URL's scheme and port`;
  return `${host} sent a response that is not valid HTTP/1.1 (${reason}), which rangeget cannot read`;
}

/** Whether another attempt at the same request may succeed. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof HttpError) return err.status >= 500 || err.status === 408 || err.status === 429;
  if (err instanceof NetworkError) return err.retryable;
  return false;
}

/** `HTTP 503` or `HTTP 429`: the server is too busy for this request (or allows fewer connections), else undefined. */
export function busyStatus(err: unknown): string | undefined {
  return err instanceof HttpError && (err.status === 503 || err.status === 429) ? `HTTP ${err.status}` : undefined;
}

/** Codes of a connection the server would not keep: refused, reset or closed, or not accepted in time. */
const REFUSED_CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** The code of a connection the server would not keep (see REFUSED_CONNECTION_CODES), else undefined. */
export function refusedConnectionCode(err: unknown): string | undefined {
  const code = err instanceof NetworkError ? (err.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
  return code !== undefined && REFUSED_CONNECTION_CODES.has(code) ? code : undefined;
}

/** A response that is not HTTP/1.1 at all: another protocol, a broken server, or stray bytes on a reused connection. */
function isParserError(cause: unknown): boolean {
  return (cause as Error | undefined)?.name === 'HTTPParserError';
}

/**
 * How many attempts the first contact gets when `err` suggests a wrong address, else undefined.
 * Nothing listening: one (a wrong host or port, which retries do not change). Not HTTP: two, as
 * the second goes out on a fresh connection (undici drops the one that broke, and a server that
 * sends a body after a HEAD leaves stray bytes on it).
 */
export function attemptsForWrongAddress(err: unknown): number | undefined {
  if (!(err instanceof NetworkError)) return undefined;
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  if (cause?.code === 'ECONNREFUSED') return 1;
  return isParserError(cause) ? 2 : undefined;
}
