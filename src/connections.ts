import type { Dispatcher } from 'undici';
import { setMaxListeners } from 'node:events';
import type { ConnectionGrant } from './connection-grant.js';
import {
  AbortedError, CrawlingError, LocalIoError, ManifestError, RangegetError, isSystemError, localIoError,
} from './errors.js';
import { SpeedMeter, type DownloadEvent } from './events.js';
import { fetchSegment, type FetchJob } from './fetcher.js';
import { abortableWait, headersFor, headerValue, retryDelayMs } from './http.js';
import { busyStatus, isRetryable, refusedConnectionCode } from './network-errors.js';
import { MAX_CONNECTIONS, type Settings } from './options.js';
import { PACE_CHECK_MS, PaceWatch, type Attempt } from './pace-watch.js';
import { Pacer } from './pacer.js';
import { ifRangeValue, type Plan } from './planner.js';
import { Rejoins } from './rejoin.js';
import { isExpiredTarget, Reresolver } from './reresolver.js';
import { startDelayMs, unreceived, type Scheduler, type Segment } from './scheduler.js';
import { SourceAnswers } from './source-answers.js';
import { TurnBatch } from './turn-batch.js';
import { SegmentWriter, FileWriter } from './writer.js';

const PROGRESS_INTERVAL_MS = 200;
/** How far ahead of the --limit-rate pace a download may get after a pause. */
const LIMIT_BURST_SECONDS = 0.05;
/** Connections refused within this long of the first say so in one notice: their refusals come with their handshakes and retries. */
const RETIREMENT_NOTICE_WINDOW_MS = 1000;
/** Requests in a row with no response at all before a connection retires (see `retireSilent`). */
const SILENCES_TO_RETIRE = 2;
/** See `resetsRetries`. */
const PROGRESS_RESETS_RETRIES_BYTES = 64 * 1024;

/**
 * Whether an attempt that failed having written `delivered` bytes and leaving `left` made progress
 * enough to reset its range's retry count: 64 KiB, or at least as much as it left (half the rest).
 * A proxy that cuts every response after a few hundred KiB, or after half its length, still lets
 * the download end; one that sends a few bytes per connection does not.
 */
export function resetsRetries(delivered: number, left: number): boolean {
  return delivered >= PROGRESS_RESETS_RETRIES_BYTES || (delivered > 0 && delivered >= left);
}

/** What the connections share with the download that runs them. */
export interface ConnectionContext {
  agent: Dispatcher;
  settings: Settings;
  signal: AbortSignal | undefined;
  /** Other servers of the same file that agreed with the plan. */
  mirrors: Plan[];
  emit(event: DownloadEvent): void;
  /** Connections given while the download runs: more workers, which steal work like any other. */
  moreConnections?: ConnectionGrant;
}

/**
 * The download's connections: each worker claims a segment and fetches it, retrying with backoff,
 * re-requesting when it crawls, moving to another source when its server fails, and resolving an
 * expired redirect target again. Connections the server refuses retire, and try again later
 * (Rejoins). Reports progress five times a second.
 */
export class Connections {
  /** Failed attempts, all connections together. */
  retries = 0;
  /** Most connections fetching at once in the last run: the one that delivered the file, not a fresh start's failed try. */
  peakActive = 0;
  /**
   * The Last-Modified of the latest response that passed the checks: the file's time when the plan
   * has none (taken in one response after it kept changing, or a HEAD without one).
   */
  servedLastModified: string | null = null;
  private active = 0;
  /** Workers not retired: the connections the download goes on with. */
  private workers = 0;
  /** Retired connections trying again, one at a time. */
  private readonly rejoins = new Rejoins();
  /** Connections that retire together say so in one notice, with the count left (12 of 16 behind a limit of 4, in 1 s). */
  private readonly retirements = new TurnBatch<{ host: string; reason: string }>((retired) => {
    const reasons = [...new Set(retired.map((r) => r.reason))].join(', ');
    this.context.emit({ type: 'notice', message: `${retired[0]!.host} refuses more connections (${reasons}); going on with ${this.workers}` });
  }, RETIREMENT_NOTICE_WINDOW_MS);
  private bytesWritten = 0;
  /** The servers in use: the URL's and the mirrors', less the ones dropped for failing. */
  private sources: Plan[] = [];
  private readonly reresolver: Reresolver;
  private readonly watch: PaceWatch;
  /** Whether each server answers: a refusal is judged by the server that refused. */
  private readonly answers = new SourceAnswers<Plan>();
  /** Idle workers waiting for something to change: a segment released, paces measured, a stop. */
  private waiting: (() => void)[] = [];
  /** One pace for all connections when --limit-rate is set. */
  private readonly limiter: Pacer | undefined;

  constructor(private readonly context: ConnectionContext) {
    const { agent, settings, signal, emit } = context;
    this.limiter = settings.limitRate === undefined ? undefined : new Pacer(settings.limitRate, LIMIT_BURST_SECONDS);
    this.watch = new PaceWatch(settings.connections, settings.limitRate === undefined);
    this.reresolver = new Reresolver(agent, settings.headers, signal, settings.retries, (message) => emit({ type: 'notice', message }));
  }

  /** Runs the connections until `work` has nothing left or `stopper` stops them. */
  async run(
    work: Pick<Scheduler, 'claim' | 'release' | 'segments'>,
    plan: Plan, partPath: string, fd: number, stopper: Stopper, onWritten: (bytes: number) => void,
  ): Promise<void> {
    this.peakActive = 0;
    const onAbort = () => stopper.fail(new AbortedError());
    this.context.signal?.addEventListener('abort', onAbort, { once: true });
    const progress = this.reportProgress(work.segments, plan.size);
    const workers = plan.ranges ? this.context.settings.connections : 1;
    const file = new FileWriter(fd, workers);
    this.sources = plan.ranges ? [plan, ...this.context.mirrors] : [plan];
    const worker = async (index: number, firstWaitMs: number, rejoining = false) => {
      // Each initial connection of a large download waits its turn (START_SPREAD_MS); one that
      // finds nothing left to claim (the others were quicker) is no loss.
      if (firstWaitMs > 0) await abortableWait(firstWaitMs, stopper.signal).catch(() => {});
      while (!stopper.signal.aborted) {
        const source = this.sources[index % this.sources.length]!;
        const segment = work.claim(this.watch.paces);
        if (rejoining) this.rejoins.start(segment && { segment, host: new URL(source.finalUrl).host }, performance.now());
        if (!segment && rejoining) return void this.workers--;
        rejoining = false;
        if (!segment) {
          // Nothing to take now; a running request may turn out to crawl and be worth splitting.
          if (!work.segments.some((s) => s.active)) return;
          await this.nextChange(stopper.signal);
          continue;
        }
        this.peakActive = Math.max(this.peakActive, ++this.active);
        // A retiring connection stops counting as active when it decides to, for the next to decide.
        let retired = false;
        try {
          retired = (await this.fetchWithRetries(segment, source, partPath, file, stopper.signal, onWritten)) === 'retired';
        } catch (err) {
          if (!this.dropSource(source, err)) stopper.fail(err);
        } finally {
          if (!retired) this.active--;
          // A try not confirmed by the end of its request (another waited meanwhile, behind a limit of
          // connections), or ended by a failure: refused all the same.
          if (this.rejoins.isTry(segment)) retired = this.tryRefused();
          work.release(segment);
          this.wakeIdle();
        }
        if (retired) return;
      }
    };
    const running: Promise<void>[] = [];
    const addWorkers = (count: number, bytesEach: number) => {
      for (let i = 0; i < count && this.workers < MAX_CONNECTIONS; i++) {
        this.workers++;
        running.push(worker(running.length, startDelayMs(i, count, bytesEach)));
      }
    };
    addWorkers(workers, work.segments.reduce((sum, s) => sum + unreceived(s), 0) / workers);
    // Crawlers cut, and paces measured: idle workers may now steal by them. A retired connection may try again.
    const pace = setInterval(() => {
      this.watch.check();
      this.wakeIdle();
      this.confirmTry();
      if (this.workers < MAX_CONNECTIONS && this.rejoins.due(performance.now(), this.watch.flowingRequests, this.workers)) {
        this.workers++;
        running.push(worker(running.length, 0, true));
      }
    }, PACE_CHECK_MS);
    if (plan.ranges) {
      this.context.moreConnections?.take((extra) => {
        // They join a download under way: nothing to spread.
        addWorkers(extra.connections, 0);
        this.limiter?.setRate(this.limiter.bytesPerSecond + extra.bytesPerSecond);
      });
    }
    try {
      // Workers added while the others run are waited for too.
      for (let waited = 0; waited < running.length;) {
        waited = running.length;
        await Promise.all(running);
      }
    } finally {
      this.context.moreConnections?.take(undefined);
      clearInterval(progress);
      clearInterval(pace);
      this.retirements.flush();
      this.context.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * A server that allows fewer connections than -n refuses the others while its own flow: with 503
   * or 429, or, behind a firewall's per-client limit, by refusing or resetting the connection. Once
   * such a connection's retries run out while its server serves others (a request has its response
   * now, or one got it since this connection began failing), it retires and leaves its range to
   * them, rather than failing the download. The last connection never retires, nor any while its
   * server answers no one: a server down for everyone fails the download (or, with mirrors, is
   * dropped), rather than leaving one connection to go on alone once it is back.
   */
  private retire(source: Plan, err: unknown, failingSince: number): boolean {
    const refusal = this.refusal(err);
    if (refusal === undefined || this.active <= 1 || !this.answers.serves(source, failingSince)) return false;
    this.noteRetirement(source, refusal);
    return true;
  }

  /**
   * `retire`, for a refusal that comes before the server has answered its other requests (a
   * firewall resets the connections beyond its limit while the others' handshakes are under way;
   * with --retries 0 there is no backoff to wait through): it waits for their answers, and does
   * not retire once none is left to come.
   */
  private async retireOnceOthersAnswer(source: Plan, err: unknown, failingSince: number, signal: AbortSignal): Promise<boolean> {
    while (!this.retire(source, err, failingSince)) {
      if (this.refusal(err) === undefined || signal.aborted || !this.answers.awaits(source)) return false;
      await this.nextChange(signal);
    }
    return true;
  }

  /**
   * A server that takes no more connections than it serves leaves the others unanswered: their
   * handshakes dropped by a firewall, or waiting in a full accept queue. A connection whose requests
   * were silent twice in a row (cut by the pace watch, which judges silence only while the server
   * answers others) retires and leaves its range to the others, rather than each of its requests
   * holding a range until --timeout. Never below the most requests the server has answered at once:
   * a server slow to answer some ranges (a cache filling them) says nothing about the connections.
   */
  private retireSilent(source: Plan, err: CrawlingError): boolean {
    if (this.workers - 1 < this.watch.peakFlowing) return false;
    this.noteRetirement(source, err.silence === 'no connection' ? 'connections not accepted' : 'no response');
    return true;
  }

  /** What a refusal of this connection says (503, 429, or a refused or reset connection); undefined when `err` is none. */
  private refusal(err: unknown): string | undefined {
    // With mirrors, a server that refuses or resets connections is dropped instead (dropSource).
    return busyStatus(err) ?? (this.sources.length === 1 ? refusedConnectionCode(err) : undefined);
  }

  private noteRetirement(source: Plan, reason: string): void {
    this.active--;
    this.workers--;
    this.rejoins.retire(performance.now());
    const { host } = new URL(source.finalUrl);
    this.retirements.add(host, { host, reason });
  }

  /** A retired connection's try is served together with every other connection: it is back, and says so. */
  private confirmTry(): void {
    const host = this.rejoins.confirm(performance.now(), this.watch.flowingRequests, this.workers);
    if (!host) return;
    this.retirements.flush();
    this.context.emit({ type: 'notice', message: `${host} takes another connection; going on with ${this.workers}` });
  }

  /** A retired connection's try was refused, left unanswered or not confirmed: it retires again, without a notice. */
  private tryRefused(): true {
    this.workers--;
    this.rejoins.refused(performance.now());
    return true;
  }

  /**
   * With several sources, a server that fails is dropped (with a warning) and its connections move
   * to the others. False when the failure is the download's own, or the last source's.
   */
  private dropSource(source: Plan, err: unknown): boolean {
    if (!isSourceFailure(err)) return false;
    if (!this.sources.includes(source)) return true;
    if (this.sources.length === 1) return false;
    this.sources.splice(this.sources.indexOf(source), 1);
    this.context.emit({ type: 'notice', message: `dropped ${new URL(source.url).host} as a source: ${(err as Error).message}` });
    return true;
  }

  private nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = () => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  private wakeIdle(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const wake of waiting) wake();
  }

  /**
   * Fetches `segment`, retrying; 'retired' when the server refuses or leaves unanswered this
   * connection but serves others (see `retire`, `retireSilent`), or refuses a retired connection's try.
   */
  private async fetchWithRetries(segment: Segment, plan: Plan, partPath: string, file: FileWriter, signal: AbortSignal, onWritten: (bytes: number) => void): Promise<'done' | 'retired'> {
    for (let failures = 0, failingSince = 0, silences = 0; ;) {
      const writtenBefore = segment.written;
      try {
        await this.attempt(segment, plan, file, signal, onWritten);
        return 'done';
      } catch (err) {
        if (isSystemError(err)) throw localIoError(err, partPath);
        if (!plan.ranges) segment.written = 0;
        segment.received = segment.written;
        silences = err instanceof CrawlingError && err.silence ? silences + 1 : 0;
        if (this.rejoins.isTry(segment) && !signal.aborted && (silences > 0 || this.refusal(err) !== undefined)) {
          this.active--;
          this.tryRefused();
          return 'retired';
        }
        if (err instanceof CrawlingError && !signal.aborted) {
          if (silences >= SILENCES_TO_RETIRE && this.retireSilent(plan, err)) return 'retired';
          if (this.restartCrawler(segment, err)) continue;
        }
        if (!signal.aborted && isExpiredTarget(err, plan)) {
          await this.reresolver.reresolve(plan, err, this.bytesWritten);
          continue;
        }
        failures = resetsRetries(segment.written - writtenBefore, unreceived(segment)) ? 1 : failures + 1;
        if (failures === 1) failingSince = performance.now();
        if (signal.aborted || !isRetryable(err)) throw err;
        if (failures > this.context.settings.retries) {
          if (await this.retireOnceOthersAnswer(plan, err, failingSince, signal)) return 'retired';
          throw err;
        }
        const delayMs = retryDelayMs(err, failures);
        this.noteRetry(segment, failures, delayMs, (err as Error).message);
        await abortableWait(delayMs, signal);
      }
    }
  }

  /** One request for `segment`, watched while it runs (not through the wait for a retry). */
  private async attempt(segment: Segment, plan: Plan, file: FileWriter, signal: AbortSignal, onWritten: (bytes: number) => void): Promise<void> {
    const attempt = this.watch.start(segment);
    this.answers.started(plan);
    try {
      await fetchSegment(this.job(segment, plan, attempt, file, signal, onWritten));
    } finally {
      this.answers.ended(plan, attempt.flowing !== undefined);
      this.watch.end(segment);
    }
  }

  /** One request for the missing bytes of `segment` from `plan`'s server, written through `file`. */
  private job(segment: Segment, plan: Plan, attempt: Attempt, file: FileWriter, signal: AbortSignal, onWritten: (bytes: number) => void): FetchJob {
    const { settings } = this.context;
    const writer = new SegmentWriter(file, segment, (bytes) => {
      this.bytesWritten += bytes;
      onWritten(bytes);
    });
    return {
      dispatcher: this.context.agent,
      url: plan.finalUrl,
      headers: headersFor(plan.finalUrl, plan.url, settings.headers),
      segment,
      ranged: plan.ranges,
      ifRange: ifRangeValue(plan),
      etag: plan.etag,
      lastModified: plan.lastModified,
      size: plan.size,
      writer,
      signal: AbortSignal.any([signal, attempt.controller.signal]),
      onSent: () => {
        attempt.sent = true;
      },
      onHeaders: (headers) => {
        this.watch.flowing(segment, attempt);
        this.answers.answered(plan, performance.now());
        if (this.rejoins.isTry(segment)) this.confirmTry();
        this.servedLastModified = headerValue(headers, 'last-modified') ?? null;
      },
      stallTimeoutMs: settings.timeoutMs,
      limiter: this.limiter,
    };
  }

  /**
   * Counts a crawl restart (no backoff, not a failure); false once a range has had too many. A
   * request that never had a connection counts against no range: its silence is the connection's.
   */
  private restartCrawler(segment: Segment, err: CrawlingError): boolean {
    const restarts = err.silence === 'no connection' ? segment.retries + 1 : this.watch.countRestart(segment);
    if (restarts === undefined) return false;
    this.noteRetry(segment, restarts, 0, err.message);
    return true;
  }

  private noteRetry(segment: Segment, attempt: number, delayMs: number, reason: string): void {
    this.retries++;
    segment.retries++;
    this.context.emit({ type: 'retry', range: { start: segment.start + segment.written, end: segment.end }, attempt, delayMs, reason });
  }

  private reportProgress(segments: readonly Segment[], total: number | undefined): NodeJS.Timeout {
    const received = () => segments.reduce((sum, s) => sum + s.received, 0);
    const meter = new SpeedMeter();
    // From the start: the first report (a short download may have no other) has a speed too.
    meter.sample(performance.now(), received());
    return setInterval(() => {
      const bytes = received();
      const speed = meter.sample(performance.now(), bytes);
      const views = segments.map(({ start, end, received, written, active, retries }) => ({ start, end, received, written, active, retries }));
      this.context.emit({ type: 'progress', bytes, total: total ?? null, speed, connections: this.active, segments: views });
    }, PROGRESS_INTERVAL_MS);
  }
}

/** A failure of one server rather than of the download: with mirrors, that server is dropped. */
function isSourceFailure(err: unknown): boolean {
  return err instanceof RangegetError && !(err instanceof AbortedError || err instanceof LocalIoError || err instanceof ManifestError);
}

/** Holds the first fatal error of a transfer; failing stops every connection. */
export class Stopper {
  private readonly controller = new AbortController();
  private error: unknown;

  constructor() {
    // Every connection listens for the stop; more than Node's default warning threshold of 10.
    setMaxListeners(0, this.controller.signal);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  fail(err: unknown): void {
    this.error ??= err;
    this.controller.abort();
  }

  throwIfFailed(): void {
    if (this.error !== undefined) throw this.error;
  }
}
