import { fdatasync } from 'node:fs';
import { promisify } from 'node:util';
import { toManifest, writeFileAtomically, type ManifestHeader } from './manifest.js';
import type { Segment } from './scheduler.js';

const datasync = promisify(fdatasync);

/** How soon after a write its progress reaches the manifest (what a `kill -9` can cost). */
export const PROGRESS_SAVE_MS = 20;
/** How often the part file is fdatasynced and the manifest fsynced (what a power cut can cost). */
export const CHECKPOINT_MS = 1000;
/**
 * Written bytes that trigger an early checkpoint. Bounds unsynced data on fast links, so a
 * power cut loses little and the final fdatasync does not stall the end of the download.
 */
export const CHECKPOINT_BYTES = 16 * 2 ** 20;

/**
 * Keeps the sidecar manifest in step with the part file. Progress is saved (atomically, not
 * fsynced) right after writes; once a second a checkpoint fdatasyncs the part file *first*
 * and only then records the bytes that sync covered as durable, with fsync. One save at a time.
 *
 * A fresh download has no manifest until its first save, which is durable (a new file a power cut
 * left empty would read as malformed, not as none). Until then a crash leaves a part file without
 * one, which the next run starts over, having lost only the data of the first tens of milliseconds; a
 * download that finishes sooner, as small files do, never writes one.
 */
export class Checkpointer {
  private queue: Promise<void> = Promise.resolve();
  private progressTimer: NodeJS.Timeout | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private progressQueued = false;
  private lastProgressSave = 0;
  private unsyncedBytes = 0;
  private checkpointQueued = false;
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

  /** Call after each completed write; saves are coalesced to one per PROGRESS_SAVE_MS. */
  noteProgress(bytes: number): void {
    this.unsyncedBytes += bytes;
    if (this.unsyncedBytes >= CHECKPOINT_BYTES && !this.checkpointQueued) {
      void this.checkpoint().catch(() => {});
      return;
    }
    if (this.progressTimer || this.progressQueued) return;
    const wait = Math.max(0, this.lastProgressSave + PROGRESS_SAVE_MS - Date.now());
    this.progressTimer = setTimeout(() => {
      this.progressTimer = undefined;
      this.progressQueued = true;
      void this.enqueue(() => {
        this.progressQueued = false;
        this.lastProgressSave = Date.now();
        return this.save(false);
      }).catch(() => {});
    }, wait);
  }

  /** fdatasync the part file, then durably record the bytes that sync covered. */
  checkpoint(): Promise<void> {
    this.checkpointQueued = true;
    return this.enqueue(async () => {
      this.checkpointQueued = false;
      // Everything is covered by the final checkpoint, already under way.
      if (this.stopping) return;
      this.unsyncedBytes = 0;
      const covered = this.coverage();
      await datasync(this.partFd);
      await this.recordDurable(covered);
    });
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
    return this.save(true);
  }

  private async save(durable: boolean): Promise<void> {
    const manifest = toManifest(this.header, this.bootId, this.segments());
    await writeFileAtomically(this.manifestPath, `${JSON.stringify(manifest, null, 1)}\n`, durable || !this.manifestWritten);
    this.manifestWritten = true;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch((err: unknown) => this.onError(err));
    return run;
  }
}
