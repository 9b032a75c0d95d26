import { stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { formatCsv, formatTable } from '../bench/format.js';
import { renderSvg } from '../bench/svg.js';
import { DEFAULT_SWEEP, runBench, type BenchReport } from '../bench/sweep.js';
import { ExitCode, UsageError, localIoError } from '../errors.js';
import { checkDirectory } from '../files.js';
import { listenLocal, serveFile, type LocalServer } from '../local-server.js';
import { Pacer } from '../pacer.js';
import { MAX_CONNECTIONS } from '../options.js';
import { formatBytes, parseSize } from '../size.js';
import { integer, networkOptions, parseHeaders, type CheckOption } from './args.js';

export interface BenchArgs {
  url?: string;
  connections: string;
  bytes?: string;
  duration?: string | number;
  repeat: string | number;
  toDisk: boolean;
  json: boolean;
  csv: boolean;
  svg?: string;
  timeout: string | number;
  header?: string | string[];
  userAgent?: string;
  insecure: boolean;
  caCert?: string;
  proxy?: string;
  quiet: boolean;
}

/** The built-in server: what `rangeget demo` uses, plus an overall cap so the sweep has a knee. */
const BUILT_IN = { size: 64 * 2 ** 20, perConnection: 24 * 2 ** 20, total: 160 * 2 ** 20 };

export function benchOptions<T>(y: Argv<T>) {
  return networkOptions(y)
    .positional('url', { type: 'string', describe: 'object to measure (default: a built-in local server)' })
    .option('connections', { alias: 'n', type: 'string', requiresArg: true, default: DEFAULT_SWEEP.join(','), describe: 'connection counts to measure' })
    .option('bytes', { type: 'string', requiresArg: true, describe: 'bytes per run (default: the object, at most 1G)' })
    .option('duration', { requiresArg: true, describe: 'stop each run after this many seconds' })
    .option('repeat', { requiresArg: true, default: 1, describe: 'runs per connection count (the median is reported)' })
    .option('to-disk', { type: 'boolean', default: false, describe: 'write to a temporary file instead of discarding' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON document on stdout' })
    .option('csv', { type: 'boolean', default: false, describe: 'print CSV on stdout' })
    .option('svg', { type: 'string', requiresArg: true, describe: 'draw throughput against connections into this SVG file' })
    .example('$0 bench https://x.org/d.iso', 'sweep 1, 2, 4, 8 and 16 connections')
    .example('$0 bench URL -n 1,4,16 --repeat 3 --json', 'machine-readable, median of 3')
    .example('$0 bench --svg throughput.svg', 'the built-in server, with a chart');
}

function connectionList(text: string): number[] {
  const counts = text.split(',').map((part) => integer(part.trim(), 'connection count', 1, MAX_CONNECTIONS));
  return [...new Set(counts)].sort((a, b) => a - b);
}

/** `rangeget bench`: measures, then prints a table, JSON or CSV, and optionally writes an SVG. */
export async function runBenchCommand(args: BenchArgs, signal: AbortSignal, check: CheckOption): Promise<number> {
  if (args.json && args.csv) throw new UsageError('--json and --csv both write to stdout; choose one');
  const { bytes: byteText, duration } = args;
  const connections = check('connections', () => connectionList(args.connections));
  const bytes = byteText === undefined ? undefined : check('bytes', () => parseSize(byteText, 'byte count'));
  const durationSeconds = duration === undefined ? undefined : check('duration', () => integer(duration, 'duration', 1, 3600));
  const repeat = check('repeat', () => integer(args.repeat, 'repeat count', 1, 100));
  const headers = check('header', () => parseHeaders([args.header ?? []].flat()));
  const timeoutMs = check('timeout', () => integer(args.timeout, 'timeout', 1, 3600)) * 1000;
  if (args.svg) await checkSvgPath(args.svg);
  const live = process.stderr.isTTY && !args.quiet && !args.json && !args.csv;
  const server = args.url === undefined ? await startBuiltIn(args.quiet) : undefined;
  try {
    const report = await runBench({
      url: args.url ?? `${server!.url}/built-in.bin`, connections, bytes, durationSeconds, repeat, toDisk: args.toDisk,
      headers, userAgent: args.userAgent, insecure: args.insecure, caCert: args.caCert, proxy: args.proxy, timeoutMs, signal,
      onRun: live ? (run) => process.stderr.write(`\r\x1b[Kbench: ${run.connections} connection${run.connections === 1 ? '' : 's'}, run ${run.repeat}/${run.of}…`) : undefined,
    });
    if (live) process.stderr.write('\r\x1b[K');
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : args.csv ? formatCsv(report) : `${formatTable(report)}\n`);
    if (args.svg) await writeSvg(args.svg, report);
    return ExitCode.ok;
  } finally {
    await server?.close();
  }
}

async function startBuiltIn(quiet: boolean): Promise<LocalServer> {
  const data = process.getBuiltinModule('node:crypto').randomBytes(BUILT_IN.size);
  const total = new Pacer(BUILT_IN.total, 0.01);
  if (!quiet) {
    process.stderr.write(`bench: no URL given, measuring the built-in local server (${formatBytes(BUILT_IN.perConnection)}/s per connection, ${formatBytes(BUILT_IN.total)}/s in all)\n`);
  }
  return listenLocal((req, res) => serveFile(req, res, { data, etag: '"built-in"' }, { bytesPerSecond: BUILT_IN.perConnection, total }));
}

/** A --svg path that cannot be written fails now, not after the whole sweep. */
async function checkSvgPath(path: string): Promise<void> {
  await checkDirectory(dirname(resolve(path)));
  if ((await stat(path).catch(() => undefined))?.isDirectory()) throw new UsageError(`--svg ${path} is a directory; name a file`);
}

async function writeSvg(path: string, report: BenchReport): Promise<void> {
  await writeFile(path, renderSvg(report)).catch((err: unknown) => {
    throw localIoError(err, path);
  });
}
