import pLimit from 'p-limit';
import yargs, { type Argv } from 'yargs';
import { ConnectionGrant } from '../connection-grant.js';
import { download } from '../download.js';
import { AbortedError, ExitCode, OutputExistsError, RangegetError, UsageError } from '../errors.js';
import { DEFAULT_CONNECTIONS, DEFAULT_RETRIES, MAX_CONNECTIONS, type DownloadOptions } from '../options.js';
import { parseSize } from '../size.js';
import { VERSION } from '../version.js';
import { environmentVariable, handOut, held, integer, networkOptions, optionChecker, parseHeaders, shareBudget, type CheckOption } from './args.js';
import { benchOptions, runBenchCommand, type BenchArgs } from './bench.js';
import { PreconnectHints } from './preconnect-hints.js';
import { readInputFile, type InputEntry } from './input-file.js';
import { runDemo } from './demo.js';
import { Reporter, type Mode, type Outcome } from './reporter.js';

interface CliArgs {
  urls: string[];
  inputFile?: string;
  jobs: string | number;
  output?: string;
  dir?: string;
  connections: string | number;
  minSegmentSize: string;
  checksum?: string;
  retries: string | number;
  timeout: string | number;
  header?: string | string[];
  userAgent?: string;
  user?: string;
  limitRate?: string;
  mirror?: string | string[];
  proxy?: string;
  insecure: boolean;
  caCert?: string;
  overwrite: boolean;
  skipExisting: boolean;
  restart: boolean;
  remoteTime: boolean;
  quiet: boolean;
  json: boolean;
  verbose: boolean;
}

const EPILOGUE = [
  'Defaults come from the environment too: RANGEGET_CONNECTIONS=16, RANGEGET_TIMEOUT=60, ...',
  'Exit codes: 0 done, 1 internal error, 2 usage, 3 network or HTTP failure,',
  '            4 checksum mismatch, 5 local file I/O, 130 interrupted.',
  'Partial data lives in <output>.part, its state in <output>.part.json:',
  'run the same command again to resume.',
].join('\n');

function downloadOptions<T>(y: Argv<T>) {
  return networkOptions(y)
    .option('input-file', { alias: 'i', type: 'string', requiresArg: true, describe: "URLs to fetch, one per line with an optional name after it ('-': stdin)" })
    .option('jobs', { alias: 'j', requiresArg: true, default: 2, describe: 'downloads at once, sharing -n (freed connections go to the rest)' })
    .option('output', { alias: 'o', type: 'string', describe: 'output file (default: name from the server or URL)' })
    .option('dir', { alias: 'd', type: 'string', describe: 'directory to save into (default: current)' })
    .option('connections', { alias: 'n', requiresArg: true, default: DEFAULT_CONNECTIONS, describe: `parallel connections, 1-${MAX_CONNECTIONS}` })
    .option('min-segment-size', { type: 'string', requiresArg: true, default: '1M', describe: 'smallest range per request (512K, 4M, 1MiB)' })
    .option('checksum', { type: 'string', requiresArg: true, describe: 'verify the result: sha256=HEX, sha512=, sha1=, md5=' })
    .option('mirror', { type: 'string', requiresArg: true, describe: 'another URL of the same file (repeatable)' })
    .option('limit-rate', { type: 'string', requiresArg: true, describe: 'overall speed cap, bytes per second (500K, 10M)' })
    .option('user', { alias: 'u', type: 'string', requiresArg: true, describe: 'basic auth user:password (or put it in the URL)' })
    .option('retries', { requiresArg: true, default: DEFAULT_RETRIES, describe: 'retries per range after network errors and 5xx' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing output file' })
    .option('skip-existing', { type: 'boolean', default: false, describe: 'leave an existing output file as it is and go on' })
    .option('restart', { type: 'boolean', default: false, describe: 'discard any partial download and start over' })
    .option('remote-time', { alias: 'R', type: 'boolean', default: false, describe: "give the file the server's Last-Modified time" })
    .option('json', { type: 'boolean', default: false, describe: 'print NDJSON events on stdout' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'on a terminal, one row per connection (range, speed, retries)' });
}

/** Options that may be given more than once and collect every value; the URLs are positional. */
const REPEATABLE = new Set(['_', 'urls', 'header', 'H', 'mirror']);

/**
 * Any other option given more than once takes its last value, as with curl and wget: a default set in
 * an alias or a script (`alias rg='rangeget -n 16'`) can then be overridden on the command line.
 */
function lastValues(args: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(args)) if (Array.isArray(value) && !REPEATABLE.has(name)) args[name] = value.at(-1);
}

/** The CLI's parser; `withEnvironment` false leaves out the RANGEGET_ variables. */
function parser(argv: string[], withEnvironment = true) {
  const cli = yargs(argv)
    .middleware(lastValues, true)
    // Flags of every command, known before the command's name too: `rangeget -q bench URL` must not take `bench` for -q's value.
    .boolean(['quiet', 'q', 'insecure', 'json'])
    .scriptName('rangeget')
    .usage('Usage: $0 [options] <url>...\n\nFast, resumable, multi-connection HTTP downloads.')
    .command('$0 [urls..]', false, downloadOptions)
    .command('demo', 'see the speed-up on a local throttled server (no network)')
    .command('bench [url]', 'measure throughput per connection count; find the knee', benchOptions)
    .example('$0 https://example.org/d.iso', '8 connections, into the current directory')
    .example('$0 -n 16 -o /data/x.iso https://example.org/d.iso', '16 connections, chosen path')
    .example('$0 --checksum sha256=HEX https://x.org/d.iso', 'verify it')
    .example('$0 demo', 'the speed-up, on a local server')
    .example('$0 bench https://x.org/d.iso', 'how many connections are worth opening')
    .completion('completion', 'print a bash/zsh completion script (rangeget completion >> ~/.bashrc)')
    .epilogue(EPILOGUE)
    .version(VERSION)
    .alias('version', 'V')
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error instanceof RangegetError ? error : new UsageError(`${plainYargsMessage(message ?? error.message, argv)} (see rangeget --help)`);
    });
  return withEnvironment ? cli.env('RANGEGET') : cli;
}

/**
 * yargs names an unknown flag twice (bogus-flag, bogusFlag) and a flag without its dashes: name them
 * as typed, or as the RANGEGET_ variable that set one (yargs reads every RANGEGET_ variable as a flag).
 */
function plainYargsMessage(message: string, argv: string[]): string {
  const flag = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown) {
    const names = unknown[1]!.split(', ');
    const typed = names.filter((name) => !names.some((other) => other !== name && camelCase(other) === name));
    const named = typed.map((name) => fromEnvironment(name, argv) ?? flag(name));
    return `unknown option${typed.length > 1 ? 's' : ''} ${named.join(', ')}`;
  }
  const missing = /^Not enough arguments following: (.+)$/.exec(message);
  return missing ? `${flag(missing[1]!)} needs a value` : message;
}

/** `RANGEGET_FOO_BAR in the environment` for fooBar, when that variable, not the command line, gave it. */
function fromEnvironment(name: string, argv: string[]): string | undefined {
  const variable = environmentVariable(name);
  const short = name.length === 1;
  const typed = argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`) || (short && /^-[^-]/.test(arg) && arg.includes(name)));
  return process.env[variable] === undefined || typed ? undefined : `${variable} in the environment`;
}

function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** Turns parsed flags into download options; every value is checked before any network use. */
function toOptions(args: CliArgs, url: string, check: CheckOption): DownloadOptions {
  const { limitRate } = args;
  return {
    url,
    output: args.output,
    dir: args.dir,
    connections: check('connections', () => integer(args.connections, 'connection count', 1, MAX_CONNECTIONS)),
    minSegmentSize: check('minSegmentSize', () => parseSize(args.minSegmentSize, 'minimum segment size')),
    checksum: args.checksum,
    retries: check('retries', () => integer(args.retries, 'retry count', 0, 100)),
    timeoutMs: check('timeout', () => integer(args.timeout, 'timeout', 1, 3600)) * 1000,
    headers: check('header', () => parseHeaders([args.header ?? []].flat())),
    userAgent: args.userAgent,
    user: args.user,
    // A rate may be written as one: 10M/s.
    limitRate: limitRate === undefined ? undefined : check('limitRate', () => parseSize(limitRate.replace(/\/s$/i, ''), 'rate limit')),
    insecure: args.insecure,
    caCert: args.caCert,
    proxy: args.proxy,
    mirrors: [args.mirror ?? []].flat(),
    overwrite: args.overwrite,
    restart: args.restart,
    remoteTime: args.remoteTime,
  };
}

function outputMode(args: CliArgs): Mode {
  if (args.json) return 'json';
  if (args.quiet) return 'quiet';
  return process.stderr.isTTY ? 'tty' : 'plain';
}

let socksWarningDropped = false;

/**
 * undici calls its SOCKS5 support experimental, once per process, in a warning on stderr: noise
 * in the one-line output (and through -q) about a proxy the user chose. Other warnings still print.
 */
function dropSocksWarning(): void {
  if (socksWarningDropped) return;
  socksWarningDropped = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).startsWith('SOCKS5 proxy support is experimental')) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  dropSocksWarning();
  // A reader that goes away (`rangeget --json URL | head -1`) costs its lines, not the download.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  // Until the flags are parsed: a usage error is an event too for a --json reader.
  const json = argv.includes('--json') || /^(1|true)$/i.test(process.env.RANGEGET_JSON ?? '');
  let reporter = new Reporter(json ? 'json' : 'plain');
  try {
    const args = (await parser(argv).parseAsync()) as unknown as CliArgs & {
      _: string[]; help?: boolean; version?: boolean; getYargsCompletions?: string;
    };
    const check = optionChecker(args as unknown as Record<string, unknown>, () => parser(argv, false).parseSync());
    const printedByYargs = args.urls?.length === 1 && args.urls[0] === 'completion';
    if (args.help || args.version || args.getYargsCompletions !== undefined || printedByYargs) return ExitCode.ok;
    reporter = new Reporter(outputMode(args), { verbose: args.verbose });
    const urls = args.urls ?? [];
    if (args._[0] === 'demo' || (urls.length === 1 && urls[0] === 'demo')) return await withInterruptSignal((signal) => runDemo(reporter, signal));
    if (args._[0] === 'bench') return await withInterruptSignal((signal) => runBenchCommand(args as unknown as BenchArgs, signal, check));
    const entries: InputEntry[] = [...urls.map((url) => ({ url })), ...(args.inputFile ? await readInputFile(args.inputFile) : [])];
    if (entries.length === 0) {
      if (args.inputFile === undefined) throw new UsageError('missing URL (see rangeget --help)');
      const list = args.inputFile === '-' ? 'standard input' : args.inputFile;
      throw new UsageError(`${list} lists no URL (one per line; # starts a comment)`);
    }
    if (args.output === '-') {
      throw new UsageError("-o - would name a file '-': rangeget saves to files, not to standard output (it writes ranges at their offsets, and resumes); for a file named -, use -o ./-");
    }
    if (entries.length > 1 && args.output !== undefined) {
      throw new UsageError('-o names one file but several URLs were given; use -d DIR to save them side by side');
    }
    const jobs = check('jobs', () => integer(args.jobs, 'job count', 1, 64));
    const list = entries.map((entry) => ({ ...toOptions(args, entry.url, check), ...(entry.output ? { output: entry.output } : {}) }));
    const shared = list.length > 1 ? shareBudget(list, jobs) : list;
    return await withInterruptSignal((signal) => downloadAll(shared, { jobs, skipExisting: args.skipExisting }, signal, reporter));
  } catch (err) {
    if (err instanceof RangegetError) {
      reporter.error(err);
      return err.exitCode;
    }
    reporter.error({ message: `internal error: ${(err as Error)?.stack ?? String(err)}` });
    return ExitCode.internal;
  }
}

/**
 * Runs up to `jobs` downloads at once. A failure is reported and the others still finish; the exit
 * code is then the first failure's. An interrupt stops all, each running one saying what it keeps,
 * and the queued ones do not start. Several downloads end with a results table.
 */
async function downloadAll(list: DownloadOptions[], { jobs, skipExisting }: { jobs: number; skipExisting: boolean }, signal: AbortSignal, reporter: Reporter): Promise<number> {
  const limit = pLimit(jobs);
  const running = new Set<ConnectionGrant>();
  const hints = new PreconnectHints();
  const outcomes = await Promise.all(list.map((options) => limit(async (): Promise<Outcome> => {
    if (signal.aborted) return { url: options.url, error: new AbortedError() };
    const grant = new ConnectionGrant();
    running.add(grant);
    try {
      // One download alone has every connection from the start.
      const more = list.length > 1 ? { moreConnections: grant } : {};
      const preconnect = hints.for(options.url);
      const result = await download({ ...options, preconnect, signal, onEvent: reporter.listener(options.url, options.output), ...more });
      hints.record(options.url, result.connections);
      return { url: options.url, result };
    } catch (err) {
      if (!(err instanceof RangegetError)) throw err;
      if (skipExisting && err instanceof OutputExistsError) {
        reporter.notice(`skipped ${err.path}: it exists (--overwrite downloads it again)`, options.url, options.output);
        return { url: options.url, skipped: err.path };
      }
      reporter.error(err, options.url, options.output);
      return { url: options.url, error: err };
    } finally {
      running.delete(grant);
      // The list's last downloads take over the connections of each one that ends.
      if (limit.pendingCount === 0 && !signal.aborted) handOut(held(options, grant), [...running]);
    }
  })));
  // An interrupt that came after every download had finished (during the last rename) stopped nothing.
  if (outcomes.some((o) => o.error instanceof AbortedError)) {
    // The same command would stop at the files finished now, which exist.
    if (outcomes.some((o) => o.result) && !skipExisting) reporter.notice('to resume the rest, run the same command with --skip-existing');
    return ExitCode.interrupted;
  }
  if (list.length > 1) reporter.summary(outcomes);
  return outcomes.find((o) => o.error)?.error?.exitCode ?? ExitCode.ok;
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
