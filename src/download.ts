import type { Dispatcher } from 'undici';
import type { FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setMaxListeners } from 'node:events';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { Checkpointer } from './checkpoint.js';
import {
  AbortedError, CrawlingError, HttpError, LocalIoError, ManifestError, OutputExistsError, RangegetError, RangeIgnoredError, RemoteChangedError,
  SizeMismatchError, isSystemError, localIoError,
} from './errors.js';
import { SpeedMeter, type DownloadEvent, type EventListener } from './events.js';
import { fetchSegment } from './fetcher.js';
import { checkDirectory, checkFreeSpace, fileSize, openPart, readCaCert } from './files.js';
import { acquireLock, lockPathFor } from './lock.js';
import { createDispatcher, headersFor, isRetryable, retryDelayMs } from './http.js';
import {
  currentBootId, isComplete, manifestPathFor, readManifest, removeManifest, resumeSegments, whyNotResumable,
  type Manifest,
} from './manifest.js';
import { merge } from './merger.js';
import { resolveSettings, type DownloadOptions, type Settings } from './options.js';
import { Pacer } from './pacer.js';
import { ifRangeValue, makePlan, type Plan } from './planner.js';
import { findCrawlers, newSegment, Scheduler, splitIntoRanges, type PaceSample, type Segment } from './scheduler.js';
import { SegmentWriter } from './writer.js';

export interface DownloadResult {
  path: string;
  bytes: number;
  seconds: number;
  /** Most connections that were fetching at once. */
  connections: number;
  /** Bytes that were already on disk from an earlier run. */
  resumedBytes: number;
  retries: number;
}

interface Paths {
  output: string;
  part: string;
  manifest: string;
}

const PROGRESS_INTERVAL_MS = 200;
/** How often connections' speeds are compared to find crawlers. */
const PACE_CHECK_MS = 500;
/** Crawl restarts one range may have before it is left to its pace (or its retries). */
const MAX_CRAWL_RESTARTS = 3;
/** How far ahead of the --limit-rate pace a download may get after a pause. */
const LIMIT_BURST_SECONDS = 0.05;
/** An attempt that delivered this much before failing resets the range's retry count. */
const PROGRESS_RESETS_RETRIES_BYTES = 1 << 20;
/** A server that answers 200 to ranges, or a file that keeps changing, gets this many fresh starts. */
const MAX_FRESH_STARTS = 2;

/**
 * Downloads `options.url` to a file: plan, fetch ranges in parallel with a crash-safe
 * manifest beside the part file, then merge. Resumes an earlier partial download of the same URL.
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const settings = resolveSettings(options);
  const ca = settings.caCert === undefined ? undefined : [...rootCertificates, await readCaCert(settings.caCert)];
  const agent = createDispatcher({ ...settings, ca });
  try {
    return await new DownloadRun(settings, agent, options.signal, options.onEvent).run();
  } finally {
    await agent.destroy();
  }
}

class DownloadRun {
  private readonly started = performance.now();
  private retries = 0;
  private active = 0;
  private peakActive = 0;
  /** A re-resolution of the original URL in progress, shared by every connection that needs it. */
  private reresolving: Promise<void> | undefined;
  /** Re-resolutions in a row after which not a byte was written: the new targets do not help. */
  private fruitlessReresolves = 0;
  private bytesAtReresolve = -1;
  private bytesWritten = 0;
  /** Each running request, so a crawling one can be cut and re-requested. */
  private readonly attempts = new Map<Segment, { controller: AbortController; startedAt: number }>();
  private readonly crawlRestarts = new Map<Segment, number>();
  private readonly paceReadings = new Map<Segment, { received: number; at: number }>();
  /** Other servers of the same file (--mirror) that agreed with the plan. */
  private mirrors: Plan[] = [];
  /** One pace for all connections when --limit-rate is set; created when data starts to flow. */
  private limiter: Pacer | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly agent: Dispatcher,
    private readonly signal: AbortSignal | undefined,
    private readonly listener: EventListener | undefined,
  ) {}

  async run(): Promise<DownloadResult> {
    if (this.signal?.aborted) throw new AbortedError();
    const { dir, output } = this.settings;
    await checkDirectory(output === undefined ? dir : dirname(resolve(dir, output)));
    const plan = await this.planWithRetries();
    for (const note of plan.notes) this.emit({ type: 'notice', message: note });
    this.mirrors = await this.planMirrors(plan);
    const paths = this.paths(plan.fileName);
    await checkDirectory(dirname(paths.output));
    const release = await acquireLock(lockPathFor(paths.part), paths.output);
    try {
      return await this.runLocked(plan, paths);
    } finally {
      await release();
    }
  }

  private async runLocked(initialPlan: Plan, paths: Paths): Promise<DownloadResult> {
    let plan = initialPlan;
    let manifest = await this.previousManifest(paths);
    if (manifest && isComplete(manifest) && (await fileSize(paths.output)) === manifest.size && (await fileSize(paths.part)) === undefined) {
      await removeManifest(paths.manifest);
      this.emit({ type: 'notice', message: 'an earlier run had finished; removed its manifest' });
      return this.finish(paths.output, manifest.size, manifest.size);
    }
    if (!this.settings.overwrite && (await fileSize(paths.output)) !== undefined) throw new OutputExistsError(paths.output);
    for (let freshStarts = 0; ; freshStarts++) {
      try {
        return await this.transfer(plan, paths, manifest);
      } catch (err) {
        if (!isFreshStartSignal(err) || freshStarts >= MAX_FRESH_STARTS) throw err;
        plan = await this.replan(plan, err);
        manifest = undefined;
      }
    }
  }

  /** The planner's request, retried like a range on 5xx, 408, 429 and resets; a refused connection fails at once. */
  private async planWithRetries(): Promise<Plan> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await makePlan(this.agent, this.settings.url, this.settings.headers);
      } catch (err) {
        const refused = (err as Error).cause !== undefined && (err as { cause: { code?: string } }).cause.code === 'ECONNREFUSED';
        if (!isRetryable(err) || refused || attempt > this.settings.retries) throw err;
        const delayMs = retryDelayMs(err, attempt);
        this.emit({ type: 'notice', message: `${(err as Error).message}; retrying in ${(delayMs / 1000).toFixed(1)} s` });
        await sleep(delayMs, undefined, { signal: this.signal }).catch(() => { throw new AbortedError(); });
      }
    }
  }

  /** Plans each --mirror; one that cannot serve the same bytes as `main` is refused with a warning. */
  private async planMirrors(main: Plan): Promise<Plan[]> {
    const accepted: Plan[] = [];
    for (const url of this.settings.mirrors) {
      const mirror = await makePlan(this.agent, url, this.settings.headers).catch((err: unknown) => err as Error);
      const problem = mirror instanceof Error ? mirror.message
        : !mirror.ranges ? 'it does not serve byte ranges'
          : mirror.size !== main.size ? `it says ${mirror.size} bytes, ${main.url} says ${main.size}` : undefined;
      if (problem || mirror instanceof Error) this.emit({ type: 'notice', message: `not using mirror ${url}: ${problem}` });
      else accepted.push(mirror);
    }
    return accepted;
  }

  /**
   * A redirect target that starts refusing (an expired signed CDN URL): resolve the original URL
   * again and carry on there, unless the file behind it changed.
   */
  private reresolve(plan: Plan, refusal: HttpError): Promise<void> {
    if (this.reresolving) return this.reresolving;
    this.fruitlessReresolves = this.bytesWritten === this.bytesAtReresolve ? this.fruitlessReresolves + 1 : 0;
    if (this.fruitlessReresolves >= this.settings.retries) return Promise.reject(refusal);
    this.bytesAtReresolve = this.bytesWritten;
    this.reresolving = makePlan(this.agent, plan.url, this.settings.headers)
      .then((fresh) => {
        if (fresh.size !== plan.size || fresh.etag !== plan.etag || fresh.lastModified !== plan.lastModified) throw new RemoteChangedError();
        this.emit({ type: 'notice', message: `${new URL(plan.finalUrl).host} refused the redirect target; resolved ${plan.url} again` });
        plan.finalUrl = fresh.finalUrl;
      })
      .finally(() => (this.reresolving = undefined));
    return this.reresolving;
  }

  private paths(suggestedName: string): Paths {
    const output = resolve(this.settings.dir, this.settings.output ?? suggestedName);
    const part = `${output}.part`;
    return { output, part, manifest: manifestPathFor(part) };
  }

  /** The manifest of an earlier run for this output, unless `--restart` discards it. */
  private async previousManifest(paths: Paths): Promise<Manifest | undefined> {
    if (this.settings.restart) {
      await removeManifest(paths.manifest);
      return undefined;
    }
    const manifest = await readManifest(paths.manifest);
    if (manifest && manifest.url !== this.settings.url) {
      throw new ManifestError(paths.manifest, `it belongs to a download of ${manifest.url}`);
    }
    return manifest;
  }

  /** What to do instead of the plan that failed; every case discards the partial data. */
  private async replan(plan: Plan, err: FreshStartSignal): Promise<Plan> {
    if (err instanceof RangeIgnoredError) {
      this.emit({ type: 'notice', message: `${err.message}; downloading on one connection from the start` });
      return { ...plan, ranges: false };
    }
    if (err instanceof SizeMismatchError) {
      this.emit({ type: 'notice', message: `${err.message}; trusting the ranged responses and starting over` });
      return { ...plan, size: err.actual, ranges: err.actual > 0 };
    }
    this.emit({ type: 'notice', message: 'the remote file changed during the download; discarding partial data and starting over' });
    return makePlan(this.agent, this.settings.url, this.settings.headers);
  }

  private async transfer(plan: Plan, paths: Paths, manifest: Manifest | undefined): Promise<DownloadResult> {
    const partSize = await fileSize(paths.part);
    const reason = manifest && whyNotResumable(manifest, plan, partSize);
    if (reason) this.emit({ type: 'notice', message: `${reason}; discarding partial data and starting over` });
    const resumed = manifest && !reason ? resumeSegments(manifest, await currentBootId()) : undefined;
    const segments = resumed ?? this.freshSegments(plan);
    const resumedBytes = segments.reduce((sum, s) => sum + s.written, 0);
    await checkFreeSpace(paths.part, (plan.size ?? 0) - resumedBytes);
    const part = await openPart(paths.part, plan.size, resumed !== undefined);
    try {
      this.emit({
        type: 'start', url: this.settings.url, path: paths.output, total: plan.size ?? null, segmented: plan.ranges,
        connections: plan.ranges ? this.settings.connections : 1, resumedBytes,
      });
      if (plan.ranges) await this.fetchRanges(plan, paths, segments, part.fd);
      else await this.fetchStream(plan, paths, segments[0]!, part);
    } finally {
      await part.close();
    }
    const bytes = plan.ranges ? plan.size! : segments[0]!.written;
    await merge({ partPath: paths.part, outputPath: paths.output, manifestPath: paths.manifest, checksum: this.settings.checksum })
      .catch((err: unknown) => { throw isSystemError(err) ? localIoError(err, paths.output) : err; });
    return this.finish(paths.output, bytes, resumedBytes);
  }

  private freshSegments(plan: Plan): Segment[] {
    if (!plan.ranges) return [newSegment({ start: 0, end: plan.size ?? Infinity })];
    return splitIntoRanges(plan.size!, this.settings.connections, this.settings.minSegmentSize).map((r) => newSegment(r));
  }

  private async fetchRanges(plan: Plan, paths: Paths, segments: Segment[], fd: number): Promise<void> {
    const scheduler = new Scheduler(segments, this.settings.minSegmentSize);
    scheduler.spread(this.settings.connections);
    const header = { url: plan.url, finalUrl: plan.finalUrl, size: plan.size!, etag: plan.etag, lastModified: plan.lastModified };
    const stopper = new Stopper();
    const manifestFailed = (err: unknown) => stopper.fail(localIoError(err, paths.manifest));
    const checkpointer = new Checkpointer(paths.manifest, header, await currentBootId(), () => scheduler.segments, fd, manifestFailed);
    await checkpointer.checkpoint().catch((err: unknown) => { throw localIoError(err, paths.manifest); });
    checkpointer.start();
    try {
      await this.runWorkers(scheduler, plan, paths, fd, stopper, (bytes) => checkpointer.noteProgress(bytes));
    } finally {
      await checkpointer.stop().catch(manifestFailed);
    }
    stopper.throwIfFailed();
  }

  /** One connection, no Range: for servers without ranges or without a known size. Not resumable. */
  private async fetchStream(plan: Plan, paths: Paths, segment: Segment, part: FileHandle): Promise<void> {
    await removeManifest(paths.manifest);
    const stopper = new Stopper();
    await this.runWorkers({ claim: oneShot(segment), release: () => {}, segments: [segment] }, plan, paths, part.fd, stopper, () => {});
    stopper.throwIfFailed();
    // A decoded or unknown-length body may be shorter than the space reserved for it.
    await part.truncate(segment.written).then(() => part.datasync()).catch((err: unknown) => { throw localIoError(err, paths.part); });
  }

  private async runWorkers(
    work: Pick<Scheduler, 'claim' | 'release' | 'segments'>,
    plan: Plan, paths: Paths, fd: number, stopper: Stopper, onWritten: (bytes: number) => void,
  ): Promise<void> {
    const onAbort = () => stopper.fail(new AbortedError());
    this.signal?.addEventListener('abort', onAbort, { once: true });
    const progress = this.reportProgress(work.segments, plan.size);
    const pace = setInterval(() => this.restartCrawlers(), PACE_CHECK_MS);
    const alive = plan.ranges ? [plan, ...this.mirrors] : [plan];
    const worker = async (index: number) => {
      while (!stopper.signal.aborted) {
        const source = alive[index % alive.length]!;
        const segment = work.claim();
        if (!segment) return;
        this.peakActive = Math.max(this.peakActive, ++this.active);
        try {
          await this.fetchWithRetries(segment, source, paths, fd, stopper.signal, onWritten);
        } catch (err) {
          if (!this.dropSource(alive, source, err)) stopper.fail(err);
        } finally {
          this.active--;
          work.release(segment);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: plan.ranges ? this.settings.connections : 1 }, (_, i) => worker(i)));
    } finally {
      clearInterval(progress);
      clearInterval(pace);
      this.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * With several sources, a server that fails is dropped (with a warning) and its connections move
   * to the others. False when the failure is the download's own, or the last source's.
   */
  private dropSource(alive: Plan[], source: Plan, err: unknown): boolean {
    if (!isSourceFailure(err)) return false;
    if (!alive.includes(source)) return true;
    if (alive.length === 1) return false;
    alive.splice(alive.indexOf(source), 1);
    this.emit({ type: 'notice', message: `dropped ${new URL(source.url).host} as a source: ${(err as Error).message}` });
    return true;
  }

  /** Cuts the requests that crawl far behind the others; their workers re-request at once. */
  private restartCrawlers(): void {
    const now = performance.now();
    const samples: PaceSample[] = [];
    for (const [segment, attempt] of this.attempts) {
      const before = this.paceReadings.get(segment);
      this.paceReadings.set(segment, { received: segment.received, at: now });
      if (before) samples.push({ segment, bytesPerSecond: ((segment.received - before.received) * 1000) / (now - before.at), ageMs: now - attempt.startedAt });
    }
    for (const crawler of findCrawlers(samples)) {
      const speed = samples.find((s) => s.segment === crawler)!.bytesPerSecond;
      this.attempts.get(crawler)?.controller.abort(new CrawlingError(speed));
    }
  }

  private async fetchWithRetries(segment: Segment, plan: Plan, paths: Paths, fd: number, signal: AbortSignal, onWritten: (bytes: number) => void): Promise<void> {
    for (let failures = 0; ;) {
      const writtenBefore = segment.written;
      const attempt = { controller: new AbortController(), startedAt: performance.now() };
      this.attempts.set(segment, attempt);
      this.paceReadings.delete(segment);
      try {
        if (this.settings.limitRate !== undefined) this.limiter ??= new Pacer(this.settings.limitRate, LIMIT_BURST_SECONDS);
        await fetchSegment({
          dispatcher: this.agent, url: plan.finalUrl, headers: headersFor(plan.finalUrl, plan.url, this.settings.headers), segment, ranged: plan.ranges,
          ifRange: ifRangeValue(plan), etag: plan.etag, lastModified: plan.lastModified, size: plan.size, writer: new SegmentWriter(fd, segment, (bytes) => {
            this.bytesWritten += bytes;
            onWritten(bytes);
          }), signal: AbortSignal.any([signal, attempt.controller.signal]), stallTimeoutMs: this.settings.timeoutMs, limiter: this.limiter,
        });
        return;
      } catch (err) {
        if (isSystemError(err)) throw localIoError(err, paths.part);
        if (!plan.ranges) segment.written = 0;
        segment.received = segment.written;
        if (err instanceof CrawlingError && !signal.aborted && this.restartCrawler(segment, err)) continue;
        if (!signal.aborted && isExpiredTarget(err, plan)) {
          await this.reresolve(plan, err);
          continue;
        }
        failures = segment.written - writtenBefore >= PROGRESS_RESETS_RETRIES_BYTES ? 1 : failures + 1;
        if (signal.aborted || !isRetryable(err) || failures > this.settings.retries) throw err;
        const delayMs = retryDelayMs(err, failures);
        this.retries++;
        segment.retries++;
        this.emit({ type: 'retry', range: { start: segment.start + segment.written, end: segment.end }, attempt: failures, delayMs, reason: (err as Error).message });
        await sleep(delayMs, undefined, { signal }).catch(() => { throw new AbortedError(); });
      } finally {
        this.attempts.delete(segment);
      }
    }
  }

  /** Counts a crawl restart (no backoff, not a failure); false once a range has had too many. */
  private restartCrawler(segment: Segment, err: CrawlingError): boolean {
    const restarts = (this.crawlRestarts.get(segment) ?? 0) + 1;
    if (restarts > MAX_CRAWL_RESTARTS) return false;
    this.crawlRestarts.set(segment, restarts);
    this.retries++;
    segment.retries++;
    this.emit({ type: 'retry', range: { start: segment.start + segment.written, end: segment.end }, attempt: restarts, delayMs: 0, reason: err.message });
    return true;
  }

  private reportProgress(segments: readonly Segment[], total: number | undefined): NodeJS.Timeout {
    const meter = new SpeedMeter();
    return setInterval(() => {
      const bytes = segments.reduce((sum, s) => sum + s.received, 0);
      const speed = meter.sample(performance.now(), bytes);
      const views = segments.map(({ start, end, received, written, active, retries }) => ({ start, end, received, written, active, retries }));
      this.emit({ type: 'progress', bytes, total: total ?? null, speed, connections: this.active, segments: views });
    }, PROGRESS_INTERVAL_MS);
  }

  private finish(path: string, bytes: number, resumedBytes: number): DownloadResult {
    const seconds = (performance.now() - this.started) / 1000;
    const connections = Math.max(1, this.peakActive);
    this.emit({ type: 'done', path, bytes, seconds, connections, retries: this.retries });
    return { path, bytes, seconds, connections, resumedBytes, retries: this.retries };
  }

  private emit(event: DownloadEvent): void {
    this.listener?.({ ...event, time: new Date().toISOString() });
  }
}

/** A failure of one server rather than of the download: with mirrors, that server is dropped. */
function isSourceFailure(err: unknown): boolean {
  return err instanceof RangegetError && !(err instanceof AbortedError || err instanceof LocalIoError || err instanceof ManifestError);
}

/** 403/404/410 from where a redirect led: signed CDN URLs expire, the original URL may lead elsewhere now. */
function isExpiredTarget(err: unknown, plan: Plan): err is HttpError {
  return err instanceof HttpError && [403, 404, 410].includes(err.status) && plan.finalUrl !== plan.url;
}

type FreshStartSignal = RangeIgnoredError | RemoteChangedError | SizeMismatchError;

function isFreshStartSignal(err: unknown): err is FreshStartSignal {
  return err instanceof RangeIgnoredError || err instanceof RemoteChangedError || err instanceof SizeMismatchError;
}

/** Holds the first fatal error of a transfer; failing stops every connection. */
class Stopper {
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

function oneShot(segment: Segment): () => Segment | undefined {
  let taken = false;
  return () => (taken ? undefined : ((taken = true), segment));
}
