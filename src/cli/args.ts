import type { Argv } from 'yargs';
import type { ConnectionGrant, Share } from '../connection-grant.js';
import { UsageError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS, type DownloadOptions } from '../options.js';

/** Options of every command that talks to a server. */
export function networkOptions<T>(y: Argv<T>) {
  return y
    .option('timeout', { requiresArg: true, default: DEFAULT_TIMEOUT_MS / 1000, describe: 'connect and idle timeout, seconds' })
    .option('header', { alias: 'H', type: 'string', requiresArg: true, describe: "extra request header 'Name: value' (repeatable)" })
    .option('user-agent', { type: 'string', describe: 'User-Agent header' })
    .option('insecure', { type: 'boolean', default: false, describe: 'do not verify TLS certificates' })
    .option('ca-cert', { type: 'string', requiresArg: true, describe: 'also trust this CA certificate (PEM file)' })
    .option('proxy', { type: 'string', requiresArg: true, describe: 'proxy URL (default: HTTP_PROXY, HTTPS_PROXY, NO_PROXY)' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only errors' });
}

/** A whole number from `min` to `max`, or a usage error naming `what`. */
export function integer(given: string | number, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = String(given);
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(`invalid ${what} '${text}': use a whole number from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'up' : max}`);
  }
  return value;
}

/** `Name: value` lines from -H into a header object. */
export function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 1) throw new UsageError(`invalid header '${line}': use 'Name: value'`);
    headers[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return headers;
}

/**
 * With several downloads at once (`-j`), they share `-n` and `--limit-rate`: each gets an equal
 * part of them, so the totals hold whatever the list.
 */
export function shareBudget(list: DownloadOptions[], jobs: number): DownloadOptions[] {
  const running = Math.min(jobs, list.length);
  const share = (total: number) => Math.max(1, Math.floor(total / running));
  return list.map((options) => ({
    ...options,
    connections: share(options.connections!),
    ...(options.limitRate === undefined ? {} : { limitRate: share(options.limitRate) }),
  }));
}

/** What a download of a list held: its own share of -n and --limit-rate, and what it was given. */
export function held(options: DownloadOptions, grant: ConnectionGrant): Share {
  const { connections, bytesPerSecond } = grant.given;
  return { connections: options.connections! + connections, bytesPerSecond: (options.limitRate ?? 0) + bytesPerSecond };
}

/** Shares connections and rate out among `grants`: whole connections as evenly as they go, the rate evenly. */
export function handOut(freed: Share, grants: ConnectionGrant[]): void {
  grants.forEach((grant, i) => {
    const connections = Math.floor(freed.connections / grants.length) + (i < freed.connections % grants.length ? 1 : 0);
    grant.give({ connections, bytesPerSecond: Math.floor(freed.bytesPerSecond / grants.length) });
  });
}
