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

/** The variable yargs reads as option `name` (camelCase): RANGEGET_MIN_SEGMENT_SIZE for minSegmentSize. */
export function environmentVariable(name: string): string {
  return `RANGEGET_${name.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

/** Runs an option's check; see optionChecker. */
export type CheckOption = <T>(name: string, check: () => T) => T;

/**
 * yargs takes an option from its RANGEGET_ variable when the command line does not give it. A bad
 * value from there fails every run, with a flag nobody typed: the checks this returns name the
 * variable in their usage errors then. `parsed` holds the options as parsed, `commandLineOnly`
 * parses them again without the environment (only when a check fails).
 */
export function optionChecker(parsed: Record<string, unknown>, commandLineOnly: () => Record<string, unknown>): CheckOption {
  return (name, check) => {
    try {
      return check();
    } catch (err) {
      const variable = environmentVariable(name);
      const fromEnvironment = process.env[variable] !== undefined && String(parsed[name]) !== String(commandLineOnly()[name]);
      if (!(err instanceof UsageError) || !fromEnvironment) throw err;
      throw new UsageError(`${err.message} (from ${variable} in the environment)`);
    }
  };
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
