import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setMaxListeners } from 'node:events';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import { CrawlingError, isSystemError, localIoError } from '../errors.js';
import { fetchSegment } from '../fetcher.js';
import { tempFileError } from '../files.js';
import { createDispatcher, retryDelayMs, type Headers } from '../http.js';
import { isRetryable } from '../network-errors.js';
import { ifRangeValue, type Plan } from '../planner.js';
import type { ByteRange } from '../range.js';
import { isSilent, newSegment, splitIntoRanges, type Segment } from '../scheduler.js';
import { median } from '../stats.js';
import { DiscardSink, SegmentWriter, FileWriter, type ChunkSink } from '../writer.js';

/** The server under test and how to talk to it. */
export interface BenchTarget {
  plan: Plan;
  headers: Headers;
  timeoutMs: number;
  retries: number;
  insecure: boolean;
  trust: SecureContext | undefined;
  proxy: string | undefined;
}

export interface RunOptions {
  connections: number;
  /** Bytes to read from the start of the object, split evenly over the connections. */
  bytes: number;
  /** Stop after this long, whatever was read. */
  durationMs: number | undefined;
  /** Write to a temporary file instead of discarding. */
  toDisk: boolean;
  signal: AbortSignal | undefined;
}

export interface ConnectionSample {
  bytes: number;
  /** When the response headers arrived, since the run started. */
  headersSeconds: number;
  /** From sending the request to the response headers, connection setup included. */
  ttfbMs: number;
  /** Bytes per second from the response headers to the last byte. */
  throughput: number;
  /** Since the run started. */
  doneSeconds: number;
  retries: number;
  errors: number;
}

export interface RunSample {
  connections: number;
  bytes: number;
  /** From the first response headers to the last byte: the transfer, without connection setup. */
  seconds: number;
  connectMs: number[];
  perConnection: ConnectionSample[];
}

/** How often a run looks for connections the server leaves unanswered. */
const SILENCE_CHECK_MS = 100;
/**
 * A request unanswered this long, at least, ends the sweep: past two lost handshake packets (TCP
 * sends the SYN again after 1 s, then after 2 s more), which a lossy path may cost one connection.
 */
const SILENCE_MIN_MS = 3500;

/** One request of a run: when it went out, whether on a connection, and how long its response took. */
interface Waiting {
  sentAt: number;
  sent: boolean;
  answeredAfterMs?: number;
  /** It failed (and is retried as another). */
  over: boolean;
}

/**
 * One measurement: `connections` fresh connections, each reading its own share of the object once.
 * Rejects with a silence CrawlingError when the server leaves one unanswered while it answers
 * others (a limit that drops the connections beyond it): waiting for it would measure the timeout.
 */
export async function measureRun(target: BenchTarget, options: RunOptions): Promise<RunSample> {
  const disk = options.toDisk ? await openScratch(options.bytes, options.connections) : undefined;
  const agent = createDispatcher({ ...target, connections: options.connections }).agent;
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.durationMs === undefined ? undefined : setTimeout(() => stop.abort(), options.durationMs);
  const started = performance.now();
  const connectMs: number[] = [];
  const onConnected = () => connectMs.push(performance.now() - started);
  subscribe('undici:client:connected', onConnected);
  const requests: Waiting[] = [];
  let silence: CrawlingError | undefined;
  const watch = setInterval(() => {
    silence ??= findSilence(requests);
    if (silence) stop.abort();
  }, SILENCE_CHECK_MS);
  try {
    const ranges = splitIntoRanges(options.bytes, options.connections, 1);
    const sinkFor = (segment: Segment): ChunkSink => (disk ? new SegmentWriter(disk.file, segment, () => {}) : new DiscardSink(segment));
    const perConnection = await Promise.all(ranges.map((range) => fetchShare(target, agent, range, sinkFor, stop.signal, started, requests)));
    if (options.signal?.aborted) throw options.signal.reason;
    if (silence) throw silence;
    return {
      connections: options.connections,
      bytes: perConnection.reduce((sum, c) => sum + c.bytes, 0),
      seconds: Math.max(...perConnection.map((c) => c.doneSeconds)) - Math.min(...perConnection.map((c) => c.headersSeconds)),
      connectMs,
      perConnection,
    };
  } catch (err) {
    throw disk && isSystemError(err) ? localIoError(err, disk.path) : err;
  } finally {
    clearInterval(watch);
    unsubscribe('undici:client:connected', onConnected);
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await agent.destroy();
    await disk?.close();
  }
}

/** One connection's share, retried from where it stopped; an abort (end of --duration) ends it early. */
async function fetchShare(
  target: BenchTarget, agent: Dispatcher, range: ByteRange, sinkFor: (segment: Segment) => ChunkSink,
  signal: AbortSignal, started: number, requests: Waiting[],
): Promise<ConnectionSample> {
  const { plan } = target;
  const segment = newSegment(range);
  const sample: ConnectionSample = { bytes: 0, headersSeconds: NaN, ttfbMs: NaN, throughput: 0, doneSeconds: 0, retries: 0, errors: 0 };
  let headersAt: number | undefined;
  while (!signal.aborted) {
    const sentAt = performance.now();
    const request: Waiting = { sentAt, sent: false, over: false };
    requests.push(request);
    try {
      await fetchSegment({
        dispatcher: agent, url: plan.finalUrl, headers: target.headers, segment, ranged: true, ifRange: ifRangeValue(plan),
        etag: plan.etag, lastModified: plan.lastModified, size: plan.size, writer: sinkFor(segment), signal,
        stallTimeoutMs: target.timeoutMs,
        onSent: () => {
          request.sent = true;
        },
        onHeaders: () => {
          request.answeredAfterMs = performance.now() - sentAt;
          if (headersAt !== undefined) return;
          headersAt = performance.now();
          sample.ttfbMs = headersAt - sentAt;
          sample.headersSeconds = (headersAt - started) / 1000;
        },
      });
      break;
    } catch (err) {
      request.over = true;
      if (signal.aborted) break;
      sample.errors++;
      if (!isRetryable(err) || sample.retries >= target.retries) throw err;
      sample.retries++;
      segment.received = segment.written;
      await sleep(retryDelayMs(err, sample.retries));
    }
  }
  const doneAt = performance.now();
  sample.bytes = segment.received;
  sample.doneSeconds = (doneAt - started) / 1000;
  const transferSeconds = (doneAt - (headersAt ?? doneAt)) / 1000;
  sample.throughput = transferSeconds > 0 ? sample.bytes / transferSeconds : 0;
  return sample;
}

/**
 * The silence of a request the server leaves unanswered, judged as the downloader does (isSilent)
 * against the time to first byte of the ones it answered, but only after SILENCE_MIN_MS; undefined
 * while it answers none.
 */
function findSilence(requests: readonly Waiting[]): CrawlingError | undefined {
  const now = performance.now();
  const answered = requests.flatMap((r) => (r.answeredAfterMs === undefined ? [] : [r.answeredAfterMs]));
  if (answered.length === 0) return undefined;
  const usualMs = median(answered);
  const silent = requests.find((r) => {
    const waitedMs = now - r.sentAt;
    return !r.over && r.answeredAfterMs === undefined && waitedMs >= SILENCE_MIN_MS && isSilent(waitedMs, usualMs);
  });
  return silent && CrawlingError.silence(now - silent.sentAt, usualMs, silent.sent);
}

/** A sparse temporary file for --to-disk, removed when closed. */
async function openScratch(bytes: number, connections: number): Promise<{ path: string; file: FileWriter; close(): Promise<void> }> {
  const path = join(tmpdir(), `rangeget-bench-${process.pid}-${Date.now()}.tmp`);
  const file = await open(path, 'w').catch((err: unknown) => {
    throw tempFileError(err);
  });
  const close = async () => {
    await file.close();
    await rm(path, { force: true });
  };
  await file.truncate(bytes).catch(async (err: unknown) => {
    await close();
    throw localIoError(err, path);
  });
  return { path, file: new FileWriter(file.fd, connections), close };
}
