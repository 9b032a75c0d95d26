import yargs from 'yargs';
import { download } from '../download.js';
import { AbortedError, ExitCode, RangegetError, UsageError } from '../errors.js';
import { DEFAULT_CONNECTIONS, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, MAX_CONNECTIONS, type DownloadOptions } from '../options.js';
import { parseSize } from '../size.js';
import { VERSION } from '../version.js';
import { runDemo } from './demo.js';
import { Reporter, type Mode } from './reporter.js';

interface CliArgs {
  urls: string[];
  output?: string;
  dir?: string;
  connections: string | number;
  minSegmentSize: string;
  checksum?: string;
  retries: string | number;
  timeout: string | number;
  header?: string | string[];
  userAgent?: string;
  insecure: boolean;
  caCert?: string;
  overwrite: boolean;
  restart: boolean;
  quiet: boolean;
  json: boolean;
}

const EPILOGUE = [
  'Exit codes: 0 done, 1 internal error, 2 usage, 3 network or HTTP failure,',
  '            4 checksum mismatch, 5 local file I/O, 130 interrupted.',
  'Partial data lives in <output>.part, its state in <output>.part.json:',
  'run the same command again to resume.',
].join('\n');

function parser(argv: string[]) {
  return yargs(argv)
    .scriptName('rangeget')
    .usage('Usage: $0 [options] <url>...\n       $0 demo\n\nFast, resumable, multi-connection HTTP downloads.')
    .command('$0 [urls..]', false)
    .command('demo', 'download a generated file from a local throttled server with 1 and 8 connections (no network)')
    .option('output', { alias: 'o', type: 'string', describe: 'output file (default: name from the server or URL)' })
    .option('dir', { alias: 'd', type: 'string', describe: 'directory to save into (default: current)' })
    .option('connections', { alias: 'n', requiresArg: true, default: DEFAULT_CONNECTIONS, describe: `parallel connections, 1-${MAX_CONNECTIONS}` })
    .option('min-segment-size', { type: 'string', requiresArg: true, default: '1M', describe: 'smallest range per request (512K, 4M, 1MiB)' })
    .option('checksum', { type: 'string', requiresArg: true, describe: 'verify the result: sha256=HEX, sha512=, sha1=, md5=' })
    .option('retries', { requiresArg: true, default: DEFAULT_RETRIES, describe: 'retries per range after network errors and 5xx' })
    .option('timeout', { requiresArg: true, default: DEFAULT_TIMEOUT_MS / 1000, describe: 'connect and idle timeout, seconds' })
    .option('header', { alias: 'H', type: 'string', requiresArg: true, describe: "extra request header 'Name: value' (repeatable)" })
    .option('user-agent', { type: 'string', describe: 'User-Agent header' })
    .option('insecure', { type: 'boolean', default: false, describe: 'do not verify TLS certificates' })
    .option('ca-cert', { type: 'string', requiresArg: true, describe: 'also trust this CA certificate (PEM file)' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing output file' })
    .option('restart', { type: 'boolean', default: false, describe: 'discard any partial download and start over' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only errors' })
    .option('json', { type: 'boolean', default: false, describe: 'print NDJSON events on stdout' })
    .example('$0 https://example.org/d.iso', '8 connections, into the current directory')
    .example('$0 -n 16 -o /data/x.iso https://example.org/d.iso', '16 connections, chosen path')
    .example('$0 --checksum sha256=HEX https://x.org/d.iso', 'verify it')
    .example('$0 demo', 'the speed-up, on a local server')
    .epilogue(EPILOGUE)
    .version(VERSION)
    .alias('version', 'V')
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error instanceof RangegetError ? error : new UsageError(`${message ?? error.message} (see rangeget --help)`);
    });
}

function integer(given: string | number, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = String(given);
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(`invalid ${what} '${text}': use a whole number from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'up' : max}`);
  }
  return value;
}

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 1) throw new UsageError(`invalid header '${line}': use 'Name: value'`);
    headers[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return headers;
}

/** Turns parsed flags into download options; every value is checked before any network use. */
function toOptions(args: CliArgs, url: string): DownloadOptions {
  return {
    url,
    output: args.output,
    dir: args.dir,
    connections: integer(args.connections, 'connection count', 1, MAX_CONNECTIONS),
    minSegmentSize: parseSize(args.minSegmentSize, 'minimum segment size'),
    checksum: args.checksum,
    retries: integer(args.retries, 'retry count', 0, 100),
    timeoutMs: integer(args.timeout, 'timeout', 1, 3600) * 1000,
    headers: parseHeaders([args.header ?? []].flat()),
    userAgent: args.userAgent,
    insecure: args.insecure,
    caCert: args.caCert,
    overwrite: args.overwrite,
    restart: args.restart,
  };
}

function outputMode(args: CliArgs): Mode {
  if (args.json) return 'json';
  if (args.quiet) return 'quiet';
  return process.stderr.isTTY ? 'tty' : 'plain';
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let reporter = new Reporter('plain');
  try {
    const args = (await parser(argv).parseAsync()) as unknown as CliArgs & { _: string[]; help?: boolean; version?: boolean };
    if (args.help || args.version) return ExitCode.ok;
    reporter = new Reporter(outputMode(args));
    const urls = args.urls ?? [];
    if (args._[0] === 'demo' || (urls.length === 1 && urls[0] === 'demo')) return await withInterruptSignal((signal) => runDemo(reporter, signal));
    if (urls.length === 0) throw new UsageError('missing URL (see rangeget --help)');
    if (urls.length > 1 && args.output !== undefined) {
      throw new UsageError('-o names one file but several URLs were given; use -d DIR to save them side by side');
    }
    const options = urls.map((url) => toOptions(args, url));
    return await withInterruptSignal((signal) => downloadAll(options, signal, reporter));
  } catch (err) {
    if (err instanceof RangegetError) {
      reporter.error(err);
      return err.exitCode;
    }
    reporter.error({ message: `internal error: ${(err as Error)?.stack ?? String(err)}` });
    return ExitCode.internal;
  }
}

/** Downloads one URL after another; a failure is reported and the rest still run. Interrupts stop all. */
async function downloadAll(list: DownloadOptions[], signal: AbortSignal, reporter: Reporter): Promise<number> {
  let exitCode: number = ExitCode.ok;
  for (const options of list) {
    try {
      await download({ ...options, signal, onEvent: (e) => reporter.event(e) });
    } catch (err) {
      if (!(err instanceof RangegetError) || err instanceof AbortedError) throw err;
      reporter.error(err);
      exitCode = err.exitCode;
    }
  }
  return exitCode;
}

/** Ctrl-C or SIGTERM aborts gracefully (flush, save the manifest); a second one exits at once. */
async function withInterruptSignal<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
