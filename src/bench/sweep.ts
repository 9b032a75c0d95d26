import { CrawlingError, ProtocolError } from '../errors.js';
import { createDispatcher } from '../http.js';
import { busyStatus, refusedConnectionCode } from '../network-errors.js';
import { makePlan } from '../planner.js';
import { requestHeaders } from '../options.js';
import { measureRun, type BenchTarget, type RunSample } from './measure.js';
import { loadTrust } from '../trust.js';
import { median, percentile } from '../stats.js';
import { findKnee, kneeSentence } from './stats.js';

export const DEFAULT_SWEEP = [1, 2, 4, 8, 16];
export const DEFAULT_MAX_BYTES = 2 ** 30;

export interface BenchOptions {
  url: string;
  /** Connection counts to measure, in order. */
  connections?: number[];
  /** Bytes per run; default: the whole object or 1 GiB, whichever is smaller. */
  bytes?: number;
  /** Stop each run after this many seconds. */
  durationSeconds?: number;
  /** Runs per connection count (interleaved across counts); the median one is reported. */
  repeat?: number;
  /** Include the disk: write to a temporary file instead of discarding. */
  toDisk?: boolean;
  headers?: Record<string, string>;
  userAgent?: string;
  timeoutMs?: number;
  retries?: number;
  insecure?: boolean;
  caCert?: string;
  proxy?: string;
  signal?: AbortSignal;
  /** Called as each run starts, e.g. to show progress. */
  onRun?: (run: { connections: number; repeat: number; of: number }) => void;
}

/** Three percentiles of a distribution. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
}

export interface BenchResult {
  connections: number;
  bytes: number;
  seconds: number;
  /** Aggregate bytes per second. */
  throughput: number;
  /** Each connection's own bytes per second. */
  perConnection: { min: number; median: number; max: number };
  ttfbMs: Percentiles;
  connectMs: Percentiles;
  /** When the first and the last connection finished: the gap is what the slowest one cost. */
  firstDoneSeconds: number;
  lastDoneSeconds: number;
  retries: number;
  errors: number;
  /** With --repeat: aggregate throughput of every run, and the spread. */
  runs: { throughput: number[]; min: number; max: number };
}

export interface BenchReport {
  url: string;
  /** Size of the object, or null when the server does not say. */
  size: number | null;
  bytesPerRun: number;
  /** When --duration cut each run short: that many seconds; else null. */
  durationSeconds: number | null;
  /** The smallest connection count within 90% of the best aggregate throughput. */
  knee: number;
  summary: string;
  results: BenchResult[];
  /** The connection count at which the server refused connections (and the sweep stopped), or null. */
  refused: { connections: number; reason: string } | null;
}

/** Measures the server behind `url` at each connection count and names the knee. */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const target = await prepare(options);
  const counts = options.connections ?? DEFAULT_SWEEP;
  const repeat = options.repeat ?? 1;
  const bytes = Math.min(options.bytes ?? DEFAULT_MAX_BYTES, target.plan.size!);
  const samples = new Map<number, RunSample[]>(counts.map((n) => [n, []]));
  let refused: BenchReport['refused'] = null;
  sweep: for (let r = 1; r <= repeat; r++) {
    for (const connections of counts) {
      options.onRun?.({ connections, repeat: r, of: repeat });
      const durationMs = options.durationSeconds === undefined ? undefined : options.durationSeconds * 1000;
      try {
        samples.get(connections)!.push(await measureRun(target, { connections, bytes, durationMs, toDisk: options.toDisk ?? false, signal: options.signal }));
      } catch (err) {
        // A server that allows fewer connections refuses the rest, or leaves them unanswered: what
        // was measured below still counts.
        const reason = busyStatus(err) ?? refusedConnectionCode(err) ?? (err instanceof CrawlingError ? err.silence : undefined);
        if (reason === undefined || connections === counts[0]) throw err;
        refused = { connections, reason };
        break sweep;
      }
    }
  }
  const measured = refused ? counts.slice(0, counts.indexOf(refused.connections)) : counts;
  const results = measured.map((n) => summarize(samples.get(n)!));
  const refusal = refused ? ` At ${refused.connections} connections some were refused (${refused.reason}), and the sweep stopped: the server may allow fewer.` : '';
  return {
    url: options.url,
    size: target.plan.size ?? null,
    bytesPerRun: bytes,
    durationSeconds: options.durationSeconds ?? null,
    knee: findKnee(results),
    summary: kneeSentence(results, refused !== null) + refusal,
    results,
    refused,
  };
}

async function prepare(options: BenchOptions): Promise<BenchTarget> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const trust = await loadTrust(options.caCert);
  const headers = requestHeaders(options.headers ?? {}, options.userAgent);
  const connection = { timeoutMs, insecure: options.insecure ?? false, trust, proxy: options.proxy };
  const agent = createDispatcher(connection).agent;
  try {
    const plan = await makePlan(agent, options.url, headers, options.signal);
    if (!plan.ranges) throw new ProtocolError(`${options.url} does not support byte ranges of a known size, so connections cannot share it`);
    return { plan, headers, retries: options.retries ?? 3, ...connection };
  } finally {
    await agent.destroy();
  }
}

/** The run with the median throughput stands for its connection count; the others give the spread. */
function summarize(runs: RunSample[]): BenchResult {
  const throughputs = runs.map((r) => r.bytes / r.seconds);
  const chosen = runs[throughputs.indexOf(median(throughputs))]!;
  const perConnection = chosen.perConnection.map((c) => c.throughput);
  const ttfb = chosen.perConnection.map((c) => c.ttfbMs).filter(Number.isFinite);
  const done = chosen.perConnection.map((c) => c.doneSeconds);
  const spread = (values: number[]): Percentiles => ({ p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99) });
  return {
    connections: chosen.connections,
    bytes: chosen.bytes,
    seconds: chosen.seconds,
    throughput: chosen.bytes / chosen.seconds,
    perConnection: { min: Math.min(...perConnection), median: median(perConnection), max: Math.max(...perConnection) },
    ttfbMs: spread(ttfb),
    connectMs: spread(chosen.connectMs),
    firstDoneSeconds: Math.min(...done),
    lastDoneSeconds: Math.max(...done),
    retries: chosen.perConnection.reduce((sum, c) => sum + c.retries, 0),
    errors: chosen.perConnection.reduce((sum, c) => sum + c.errors, 0),
    runs: { throughput: throughputs, min: Math.min(...throughputs), max: Math.max(...throughputs) },
  };
}
