import yargs from 'yargs';
import { download } from '../download.js';
import { ExitCode, RangegetError, UsageError } from '../errors.js';
import { DEFAULT_CONNECTIONS, DEFAULT_RETRIES, MAX_CONNECTIONS, type DownloadOptions } from '../options.js';
import { parseSize } from '../size.js';
import { VERSION } from '../version.js';
import { runDemo } from './demo.js';
import { Reporter, type Mode } from './reporter.js';

interface CliArgs {
  url?: string;
  output?: string;
  dir?: string;
  connections: string;
  minSegmentSize: string;
  checksum?: string;
  retries: string;
  timeout: string;
  header?: string | string[];
  userAgent?: string;
  insecure: boolean;
  overwrite: boolean;
  restart: boolean;
  quiet: boolean;
  json: boolean;
}

const EPILOGUE = `Exit codes: 0 done, 1 internal error, 2 usage, 3 network/HTTP, 4 checksum mismatch, 5 local file I/O, 130 interrupted.
Partial data lives in <output>.part with its manifest <output>.part.json; run the same command to resume.`;

function parser(argv: string[]) {
  return yargs(argv)
    .scriptName('rangeget')
    .usage('Usage: $0 [options] <url>\n       $0 demo\n\nDownloads <url> over several connections at once; resumes after any interruption.')
    .command('$0 [url]', false)
    .command('demo', 'download a generated file from a local throttled server with 1 and 8 connections (no network)')
    .option('output', { alias: 'o', type: 'string', describe: 'output file (default: name from the server or URL)' })
    .option('dir', { alias: 'd', type: 'string', describe: 'directory to save into (default: current)' })
    .option('connections', { alias: 'n', type: 'string', default: String(DEFAULT_CONNECTIONS), describe: `parallel connections, 1-${MAX_CONNECTIONS}` })
    .option('min-segment-size', { type: 'string', default: '1M', describe: 'smallest range per request (512K, 4M, 1MiB)' })
    .option('checksum', { type: 'string', describe: 'verify the result: sha256=HEX, sha512=, sha1=, md5=' })
    .option('retries', { type: 'string', default: String(DEFAULT_RETRIES), describe: 'retries per range after network errors and 5xx' })
    .option('timeout', { type: 'string', default: '30', describe: 'connect and idle timeout, seconds' })
    .option('header', { alias: 'H', type: 'string', requiresArg: true, describe: "extra request header 'Name: value' (repeatable)" })
    .option('user-agent', { type: 'string', describe: 'User-Agent header' })
    .option('insecure', { type: 'boolean', default: false, describe: 'do not verify TLS certificates' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing output file' })
    .option('restart', { type: 'boolean', default: false, describe: 'discard any partial download and start over' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only errors' })
    .option('json', { type: 'boolean', default: false, describe: 'print NDJSON events on stdout' })
    .example('$0 https://mirror.example/debian-13.iso', 'download with 8 connections into the current directory')
    .example('$0 -n 16 -o /data/debian.iso https://mirror.example/debian-13.iso', '16 connections, chosen output path')
    .example('$0 --checksum sha256=5f2a... https://mirror.example/debian-13.iso', 'verify the result')
    .example('$0 demo', 'see the speed-up on a local throttled server')
    .epilogue(EPILOGUE)
    .version(VERSION)
    .alias('version', 'V')
    .help()
    .alias('help', 'h')
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UsageError(`${message} (see rangeget --help)`);
    });
}

function integer(text: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
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
export function toOptions(args: CliArgs & { url: string }): DownloadOptions {
  return {
    url: args.url,
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
    if (args._[0] === 'demo' || args.url === 'demo') return await withInterruptSignal((signal) => runDemo(reporter, signal));
    if (!args.url) throw new UsageError('missing URL (see rangeget --help)');
    const options = toOptions({ ...args, url: args.url });
    await withInterruptSignal((signal) => download({ ...options, signal, onEvent: (e) => reporter.event(e) }));
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof RangegetError) {
      reporter.error(err);
      return err.exitCode;
    }
    reporter.error({ message: `internal error: ${(err as Error)?.stack ?? String(err)}` });
    return ExitCode.internal;
  }
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
