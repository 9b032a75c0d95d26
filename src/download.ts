import type { Dispatcher } from 'undici';
import type { FileHandle } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Checkpointer } from './checkpoint.js';
import type { ConnectionGrant } from './connection-grant.js';
import { Connections, Stopper } from './connections.js';
import {
  AbortedError, ManifestError, OutputExistsError, RangeIgnoredError, RangegetError, RemoteChangedError, SizeMismatchError,
  isSystemError, localIoError,
} from './errors.js';
import { guardListener, type DownloadEvent, type EventListener } from './events.js';
import { checkDirectory, checkFreeSpace, checkOutputPath, fileSize, openPart, removeIfExists } from './files.js';
import { abortableWait, createDispatcher, parseHttpDate, retryDelayMs } from './http.js';
import { acquireLock, lockPathFor } from './lock.js';
import {
  currentBootId, isComplete, manifestPathFor, readManifest, removeManifest, resumeSegments, whyNotResumable,
  type Manifest,
} from './manifest.js';
import { merge } from './merger.js';
import { attemptsForWrongAddress, isRetryable } from './network-errors.js';
import { MAX_CONNECTIONS, resolveSettings, type DownloadOptions, type Settings } from './options.js';
import { etagFlaps, makePlan, type Plan } from './planner.js';
import type { WarmConnections } from './preconnect.js';
import { newSegment, rangeCount, Scheduler, splitIntoRanges, type Segment } from './scheduler.js';
import { loadTrust } from './trust.js';

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

/** A server that answers 200 to ranges, or a file that keeps changing, gets this many fresh starts. */
const MAX_FRESH_STARTS = 2;

/**
 * Downloads `options.url` to a file: plan, fetch ranges in parallel with a crash-safe
 * manifest beside the part file, then merge. Resumes an earlier partial download of the same URL.
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const settings = resolveSettings(options);
  const trust = await loadTrust(settings.caCert);
  // Granted connections need room in the pool; the workers, not the pool, bound the requests.
  const { agent, warm } = createDispatcher({
    ...settings, trust, connections: options.moreConnections ? MAX_CONNECTIONS : settings.connections, firstConnections: settings.connections,
  });
  const guarded = guardListener(options.onEvent, options.signal);
  try {
    const result = await new DownloadRun(settings, agent, warm, guarded.signal, guarded.listener, options.moreConnections).run();
    if (guarded.failure) throw guarded.failure.error;
    return result;
  } catch (err) {
    if (guarded.failure) throw guarded.failure.error;
    // Network errors are typed where they happen; a system error that gets here is about a local file.
    throw isSystemError(err) ? localIoError(err, settings.dir) : err;
  } finally {
    warm?.end();
    await agent.destroy();
  }
}

class DownloadRun {
  private readonly started = performance.now();
  /** Set once the mirrors are planned. */
  private connections: Connections | undefined;
  private mirrors: Plan[] = [];
  /** ETags this run has planned with: one that comes back is flipping, not new (etagFlaps). */
  private readonly plannedEtags = new Set<string>();

  constructor(
    private readonly settings: Settings,
    private readonly agent: Dispatcher,
    private readonly warm: WarmConnections | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly listener: EventListener | undefined,
    private readonly moreConnections: ConnectionGrant | undefined,
  ) {}

  async run(): Promise<DownloadResult> {
    if (this.signal?.aborted) throw new AbortedError();
    const { dir, output } = this.settings;
    if (output !== undefined) {
      // Named by -o: locked before any request, so a second run for the same file sends none.
      const paths = this.paths(output);
      await checkOutputPath(paths.output);
      return this.locked(paths, async () => this.runLocked(await this.planDownload(), paths));
    }
    await checkDirectory(dir);
    const plan = await this.planDownload();
    // A name from the server or the URL is known only now.
    const paths = this.paths(plan.fileName);
    await checkOutputPath(paths.output);
    return this.locked(paths, () => this.runLocked(plan, paths));
  }

  /** The plan of the URL and its mirrors, and the connections that will fetch it. */
  private async planDownload(): Promise<Plan> {
    // The range requests' connections open while the HEAD is under way.
    this.warm?.open(this.settings.preconnect);
    const plan = await this.planWithRetries();
    const { connections, minSegmentSize } = this.settings;
    this.warm?.serve(plan.finalUrl, plan.ranges ? rangeCount(plan.size!, connections, minSegmentSize) : 1);
    for (const note of plan.notes) this.emit({ type: 'notice', message: note });
    this.mirrors = await this.planMirrors(plan);
    this.connections = new Connections({
      agent: this.agent, settings: this.settings, signal: this.signal, mirrors: this.mirrors, emit: (e) => this.emit(e),
      moreConnections: this.moreConnections,
    });
    return plan;
  }

  /** Runs `run` holding the lock of the output (lock.ts). */
  private async locked(paths: Paths, run: () => Promise<DownloadResult>): Promise<DownloadResult> {
    const release = await acquireLock(lockPathFor(paths.part), paths.output);
    try {
      return await run();
    } finally {
      await release();
    }
  }

  private async runLocked(initialPlan: Plan, paths: Paths): Promise<DownloadResult> {
    let plan = initialPlan;
    const [previous, outputSize] = await Promise.all([this.previousManifest(paths), fileSize(paths.output)]);
    let manifest = previous;
    if (manifest && isComplete(manifest) && outputSize === manifest.size && (await fileSize(paths.part)) === undefined) {
      await removeManifest(paths.manifest);
      this.emit({ type: 'notice', message: 'an earlier run had finished; removed its manifest' });
      return this.finish(paths.output, manifest.size, manifest.size);
    }
    if (!this.settings.overwrite && outputSize !== undefined) throw new OutputExistsError(paths.output);
    for (let freshStarts = 0; ; freshStarts++) {
      try {
        return await this.transfer(plan, paths, manifest);
      } catch (err) {
        if (!isFreshStartSignal(err) || freshStarts > MAX_FRESH_STARTS) throw err;
        plan = freshStarts < MAX_FRESH_STARTS ? await this.replan(plan, err) : this.lastResort(plan, err);
        manifest = undefined;
      }
    }
  }

  /** The planner's request, retried like a range on 5xx, 408, 429 and resets; a wrong address (refused, not HTTP) fails soon. */
  private async planWithRetries(): Promise<Plan> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await makePlan(this.agent, this.settings.url, this.settings.headers, this.signal);
      } catch (err) {
        const attempts = Math.min(this.settings.retries + 1, attemptsForWrongAddress(err) ?? Infinity);
        if (!isRetryable(err) || attempt >= attempts) throw err;
        const delayMs = retryDelayMs(err, attempt);
        this.emit({ type: 'notice', message: `${(err as Error).message}; retrying in ${(delayMs / 1000).toFixed(1)} s` });
        await abortableWait(delayMs, this.signal);
      }
    }
  }

  /** Plans each --mirror; one that cannot serve the same bytes as `main` is refused with a warning. */
  private async planMirrors(main: Plan): Promise<Plan[]> {
    const accepted: Plan[] = [];
    for (const url of this.settings.mirrors) {
      const refuse = (why: string) => this.emit({ type: 'notice', message: `not using mirror ${url}: ${why}` });
      const mirror = await makePlan(this.agent, url, this.settings.headers, this.signal).catch((err: unknown) => void refuse((err as Error).message));
      if (!mirror) continue;
      if (!mirror.ranges) refuse('it does not serve byte ranges');
      else if (mirror.size !== main.size) refuse(`it says ${mirror.size} bytes, ${main.url} says ${main.size}`);
      else accepted.push(mirror);
    }
    return accepted;
  }

  private paths(name: string): Paths {
    const output = resolve(this.settings.dir, name);
    const part = `${output}.part`;
    return { output, part, manifest: manifestPathFor(part) };
  }

  /** The manifest of an earlier run for this output, unless `--restart` discards it (`transfer` removes it). */
  private async previousManifest(paths: Paths): Promise<Manifest | undefined> {
    if (this.settings.restart) return undefined;
    const manifest = await readManifest(paths.manifest);
    if (manifest && manifest.url !== this.settings.url) {
      throw new ManifestError(paths.manifest, `it belongs to a download of ${manifest.url}`);
    }
    return manifest;
  }

  /**
   * After the fresh starts, a file that still changes between requests (or a server whose
   * validators do) comes in one response, which holds one version: slower and not resumable, but
   * whole. Any other failure stands.
   */
  private lastResort(plan: Plan, err: FreshStartSignal): Plan {
    if (!(err instanceof RemoteChangedError) || !plan.ranges) throw err;
    this.emit({ type: 'notice', message: 'the file changed between requests again; downloading it in one response, which holds one version' });
    return { ...plan, ranges: false, etag: null, lastModified: null };
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
    const fresh = await makePlan(this.agent, this.settings.url, this.settings.headers, this.signal);
    if (plan.etag) this.plannedEtags.add(plan.etag);
    if (err.seen && etagFlaps(plan, err.seen, fresh, this.plannedEtags)) {
      this.emit({
        type: 'notice',
        message: `the server gives this file several ETags (${plan.etag}, ${err.seen.etag}) but one Last-Modified, as servers behind a load balancer can; checking it by Last-Modified from now on, and starting over`,
      });
      return { ...fresh, etag: null };
    }
    this.emit({ type: 'notice', message: 'the remote file changed during the download; discarding partial data and starting over' });
    return fresh;
  }

  private async transfer(remote: Plan, paths: Paths, manifest: Manifest | undefined): Promise<DownloadResult> {
    const partSize = await fileSize(paths.part);
    const reason = manifest && whyNotResumable(manifest, remote, partSize);
    if (reason) this.emit({ type: 'notice', message: `${reason}; discarding partial data and starting over` });
    const resumed = manifest && !reason ? resumeSegments(manifest, currentBootId()) : undefined;
    // A resume checks the file by what its manifest knew: without an ETag there, none now either.
    const plan = resumed ? { ...remote, etag: manifest!.etag } : remote;
    const segments = resumed ?? this.freshSegments(plan);
    const resumedBytes = segments.reduce((sum, s) => sum + s.written, 0);
    // A manifest not resumed from goes before the part file is made anew: left beside it, its
    // claims would describe bytes that are gone (the first save comes only after the first write).
    await Promise.all([checkFreeSpace(paths.part, (plan.size ?? 0) - resumedBytes), resumed ? undefined : removeManifest(paths.manifest)]);
    const part = await openPart(paths.part, plan.size, resumed !== undefined);
    try {
      this.emit({
        type: 'start', url: this.settings.url, path: paths.output, total: plan.size ?? null, segmented: plan.ranges,
        connections: plan.ranges ? this.settings.connections : 1, resumedBytes,
      });
      if (resumedBytes > 0 && !manifest!.etag && !manifest!.lastModified && !this.settings.checksum) {
        this.emit({ type: 'notice', message: 'the server names no ETag or Last-Modified for this file, so only its size says it has not changed since the earlier run; --checksum would make sure' });
      }
      if (plan.ranges) await this.fetchRanges(plan, paths, segments, part.fd, resumed !== undefined);
      else await this.fetchStream(plan, paths, segments[0]!, part);
    } finally {
      await part.close();
    }
    const bytes = plan.ranges ? plan.size! : segments[0]!.written;
    const modifiedAt = this.remoteTime(plan, paths.output);
    await merge({ partPath: paths.part, outputPath: paths.output, manifestPath: paths.manifest, checksum: this.settings.checksum, modifiedAt, signal: this.signal })
      .catch((err: unknown) => {
        if (err instanceof AbortedError) err.keptPart = paths.part;
        throw isSystemError(err) ? localIoError(err, paths.output) : err;
      });
    return this.finish(paths.output, bytes, resumedBytes);
  }

  /** With --remote-time, the server's Last-Modified as a date; a notice when it gave none to use. */
  private remoteTime(plan: Plan, output: string): Date | undefined {
    if (!this.settings.remoteTime) return undefined;
    const lastModified = plan.lastModified ?? this.connections?.servedLastModified ?? null;
    const time = lastModified === null ? undefined : parseHttpDate(lastModified);
    if (time !== undefined) return new Date(time);
    this.emit({ type: 'notice', message: `the server sent no usable Last-Modified; ${basename(output)} keeps the time it was saved` });
    return undefined;
  }

  private freshSegments(plan: Plan): Segment[] {
    if (!plan.ranges) return [newSegment({ start: 0, end: plan.size ?? Infinity })];
    return splitIntoRanges(plan.size!, this.settings.connections, this.settings.minSegmentSize).map((r) => newSegment(r));
  }

  private async fetchRanges(plan: Plan, paths: Paths, segments: Segment[], fd: number, resumed: boolean): Promise<void> {
    const scheduler = new Scheduler(segments, this.settings.minSegmentSize);
    scheduler.spread(this.settings.connections);
    const header = { url: plan.url, finalUrl: plan.finalUrl, size: plan.size!, etag: plan.etag, lastModified: plan.lastModified };
    const stopper = new Stopper();
    const manifestFailed = (err: unknown) => stopper.fail(localIoError(err, paths.manifest));
    const checkpointer = new Checkpointer(paths.manifest, header, currentBootId(), () => scheduler.segments, fd, manifestFailed, resumed);
    checkpointer.start();
    try {
      await this.connections!.run(scheduler, plan, paths.part, fd, stopper, (bytes) => checkpointer.noteProgress(bytes));
    } finally {
      await checkpointer.stop().catch(manifestFailed);
    }
    try {
      stopper.throwIfFailed();
    } catch (err) {
      noteKeptPart(err, paths.part, scheduler.segments);
      throw err;
    }
  }

  /** One connection, no Range: for servers without ranges or without a known size. Not resumable. */
  private async fetchStream(plan: Plan, paths: Paths, segment: Segment, part: FileHandle): Promise<void> {
    const stopper = new Stopper();
    await this.connections!.run({ claim: oneShot(segment), release: () => {}, segments: [segment] }, plan, paths.part, part.fd, stopper, () => {});
    try {
      stopper.throwIfFailed();
    } catch (err) {
      // A rerun starts from byte 0 and replaces it: leave no part file that looks resumable (best
      // effort; the failure to report is `err`).
      await part.close().then(() => removeIfExists(paths.part)).catch(() => {});
      throw err;
    }
    // A decoded or unknown-length body may be shorter than the space reserved for it.
    await part.truncate(segment.written).then(() => part.datasync()).catch((err: unknown) => { throw localIoError(err, paths.part); });
  }

  private finish(path: string, bytes: number, resumedBytes: number): DownloadResult {
    const seconds = (performance.now() - this.started) / 1000;
    const connections = Math.max(1, this.connections?.peakActive ?? 0);
    const retries = this.connections?.retries ?? 0;
    this.emit({ type: 'done', path, bytes, seconds, connections, retries, resumedBytes });
    return { path, bytes, seconds, connections, resumedBytes, retries };
  }

  private emit(event: DownloadEvent): void {
    this.listener?.({ ...event, time: new Date().toISOString() });
  }
}

type FreshStartSignal = RangeIgnoredError | RemoteChangedError | SizeMismatchError;

function isFreshStartSignal(err: unknown): err is FreshStartSignal {
  return err instanceof RangeIgnoredError || err instanceof RemoteChangedError || err instanceof SizeMismatchError;
}

/** Marks a failure that left downloaded bytes behind for a resume; not a fresh-start signal (the next run discards them). */
function noteKeptPart(err: unknown, partPath: string, segments: Segment[]): void {
  if (!(err instanceof RangegetError) || isFreshStartSignal(err)) return;
  if (segments.some((s) => s.written > 0)) err.keptPart = partPath;
}

function oneShot(segment: Segment): () => Segment | undefined {
  let taken = false;
  return () => (taken ? undefined : ((taken = true), segment));
}
