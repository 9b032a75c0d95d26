import { fdatasync } from 'node:fs';
import { promisify } from 'node:util';
import { toManifest, writeFileAtomicallySync, writeFileDurably, type ManifestHeader } from './manifest.js';
import type { Segment } from './scheduler.js';

const datasync = promisify(fdatasync);

/** How soon after a write its progress reaches the manifest (what a `kill -9` can cost). */
export const PROGRESS_SAVE_MS = 20;
/**
 * Progress saves are synchronous, and under heavy writes the kernel holds each one up (journal
 * commits, dirty page throttling; 1-4 ms, at times 40): the next waits this many times as long, so
 * they take about a fortieth of the event loop, which reads the sockets, ...
 */
const PROGRESS_SAVE_SPACING = 40;
/** ... but never longer than this: one slow save must not leave seconds of progress unrecorded, ... */
const PROGRESS_SAVE_MAX_GAP_MS = 250;
/**
 * ... unless saves are so slow (a distant network mount, a stalled USB disk: over 25 ms each) that
 * 250 ms apart they would take much of the loop: each is then ten times its duration from the
 * next, so saves never take more than a tenth of the loop.
 */
const SLOW_PROGRESS_SAVE_SPACING = 10;
/** How often the part file is fdatasynced and the manifest fsynced (what a power cut can cost). */
export const CHECKPOINT_MS = 1000;
/**
 * Written bytes that trigger an early checkpoint. Bounds unsynced data on fast links, so a
 * power cut loses little and the final fdatasync does not stall the end of the download.
 */
export const CHECKPOINT_BYTES = 16 * 2 ** 20;

/** How long after the start of a progress save that took `tookMs` the next one may start. */
export function progressSaveGapMs(tookMs: number): number {
  const spaced = Math.min(PROGRESS_SAVE_MAX_GAP_MS, Math.max(PROGRESS_SAVE_MS, PROGRESS_SAVE_SPACING * tookMs));
  return Math.max(spaced, SLOW_PROGRESS_SAVE_SPACING * tookMs);
}

/**
 * Keeps the sidecar manifest in step with the part file. Progress is saved (atomically, not
 * fsynced, synchronously) right after writes; once a second a checkpoint fdatasyncs the part file
 * *first* and only then records the bytes that sync covered as durable, with fsync, one at a time.
 * Progress saves never wait for a checkpoint: under heavy writes its syncs take a fraction of a
 * second, and what they record is what a `kill -9` does not cost. Any manifest they leave is true:
 * `written` counts completed writes, `durable` only synced ones.
 *
 * A fresh download has no manifest until its first save. A crash before it leaves a part file
 * without one, which the next run starts over, having lost the first milliseconds; a download that
 * finishes sooner, as small files do, never writes one.
 */
export class Checkpointer {
  private queue: Promise<void> = Promise.resolve();
  private progressTimer: NodeJS.Timeout | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private nextProgressSave = 0;
  private unsyncedBytes = 0;
  /** The checkpoint under way: one fdatasync at a time, and requests meanwhile join it. */
  private syncing: Promise<void> | undefined;
  private stopping = false;
  private manifestWritten: boolean;

  constructor(
    private readonly manifestPath: string,
    private readonly header: ManifestHeader,
    private readonly bootId: string | null,
    private readonly segments: () => readonly Segment[],
    private readonly partFd: number,
    private readonly onError: (err: unknown) => void,
    /** A resumed download's manifest is on disk already and must be kept in step. */
    manifestExists: boolean,
  ) {
    this.manifestWritten = manifestExists;
  }

  start(): void {
    this.checkpointTimer = setInterval(() => void this.checkpoint().catch(() => {}), CHECKPOINT_MS);
  }

  /** Call after each completed write; saves are coalesced to one per PROGRESS_SAVE_MS (longer while saves are slow). */
  noteProgress(bytes: number): void {
    this.unsyncedBytes += bytes;
    if (this.unsyncedBytes >= CHECKPOINT_BYTES && !this.syncing) void this.checkpoint().catch(() => {});
    if (this.progressTimer) return;
    // The first save waits too: a download that ends sooner needs none.
    this.nextProgressSave ||= performance.now() + PROGRESS_SAVE_MS;
    this.progressTimer = setTimeout(() => this.saveProgress(), Math.max(0, this.nextProgressSave - performance.now()));
  }

  private saveProgress(): void {
    this.progressTimer = undefined;
    const started = performance.now();
    try {
      writeFileAtomicallySync(this.manifestPath, this.manifestText());
      this.manifestWritten = true;
    } catch (err) {
      this.onError(err);
    }
    this.nextProgressSave = started + progressSaveGapMs(performance.now() - started);
  }

  /**
   * fdatasync the part file, then durably record the bytes that sync covered. Progress saves go on
   * meanwhile: under heavy writes the sync takes a fraction of a second, and what they record is
   * what a `kill -9` does not cost.
   */
  checkpoint(): Promise<void> {
    this.syncing ??= this.sync().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async sync(): Promise<void> {
    this.unsyncedBytes = 0;
    const covered = this.coverage();
    await datasync(this.partFd).catch((err: unknown) => {
      this.onError(err);
      throw err;
    });
    // Everything is covered by the final checkpoint, already under way.
    if (!this.stopping) await this.enqueue(() => this.recordDurable(covered));
  }

  /**
   * Stops the timers and leaves a final durable checkpoint. Its fdatasync runs at once, beside
   * any checkpoint in progress, not after it: the end of every download waits for this one.
   */
  async stop(): Promise<void> {
    clearInterval(this.checkpointTimer);
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    this.stopping = true;
    const covered = this.coverage();
    await datasync(this.partFd);
    await this.enqueue(async () => {
      // Nothing to resume from: the merge follows at once.
      if (!this.manifestWritten && covered.every(([s, written]) => s.start + written === s.end)) return;
      await this.recordDurable(covered);
    });
  }

  /** What each segment has written so far, taken before the fdatasync that will cover it. */
  private coverage(): Array<readonly [Segment, number]> {
    return this.segments().map((s) => [s, s.written] as const);
  }

  private recordDurable(covered: Array<readonly [Segment, number]>): Promise<void> {
    for (const [segment, written] of covered) segment.durable = Math.max(segment.durable, written);
    return writeFileDurably(this.manifestPath, this.manifestText()).then(() => void (this.manifestWritten = true));
  }

  private manifestText(): string {
    return `${JSON.stringify(toManifest(this.header, this.bootId, this.segments()), null, 1)}\n`;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch((err: unknown) => this.onError(err));
    return run;
  }
}
