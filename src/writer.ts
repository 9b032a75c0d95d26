import { writev, writevSync } from 'node:fs';
import { constants } from 'node:os';
import { releaseReadBuffer } from './read-buffers.js';
import type { Segment } from './scheduler.js';
import { shareOf } from './size.js';
import { splitIntoPieces } from './write-pieces.js';

/**
 * Bytes gathered per write, per connection: a budget shared by all of a download's connections,
 * within these bounds. Written chunks are socket read buffers, freed by the GC only, so fewer
 * gathered bytes mean fewer survive a collection. Measured on 2 cores against a 4 MiB budget:
 * 8 connections unthrottled 2.09 -> 1.98 s and peak RSS 114 -> 81 MiB; 16 connections capped
 * peak RSS 102 -> 84 MiB.
 */
const BUFFER_BUDGET_BYTES = 2 * 2 ** 20;
export const MAX_BUFFER_BYTES = 256 * 1024;
export const MIN_BUFFER_BYTES = 64 * 1024;
/** Oldest age of buffered bytes, so a slow connection's data does not sit in memory. */
export const FLUSH_AGE_MS = 50;
/**
 * Writes in flight per file. Buffered writes to one file take its inode lock in turn, so more
 * only spin on it (a tenth of the CPU at 16 connections); two keep the next one ready.
 */
const WRITES_IN_FLIGHT = 2;
/**
 * Writes go on the main thread: handing a page-cache write of at most 256 KiB to the thread pool
 * costs more than the write. Measured on 2 cores, 1 GiB from nginx unthrottled, interleaved runs:
 * 1 connection 1.94 -> 1.60 s and 2.28 -> 1.50 CPU s; 4 connections 1.94 -> 2.04 s (the same within
 * the noise) and 2.22 -> 1.85 CPU s (both with 256 KiB reads); at 16 and 64 connections (128 and
 * 64 KiB) a tenth to a third less time, and a sixth to a half less CPU.
 *
 * Main-thread writes this slow, this many times, say the disk throttles writers (a USB stick, a
 * network share, the kernel's dirty-page limit): the file's later writes go to the thread pool, so
 * the event loop and every connection's timeouts do not wait on the disk. A page-cache write of
 * 64 KiB takes ~50 µs; one in a download can take 10-90 ms here (a fresh extent, reclaim).
 */
const SLOW_INLINE_WRITE_MS = 20;
const SLOW_INLINE_WRITES = 3;
/** Chunks per writev, below any system's IOV_MAX (a trickle of tiny chunks must not exceed it). */
const MAX_CHUNKS_PER_WRITE = 1024;

/** Writes `chunks` from `position` one piece at a time (see PIECE_BYTES), up to a short write; returns the bytes written. */
function writeInPiecesSync(fd: number, chunks: readonly Buffer[], position: number): number {
  let written = 0;
  for (const piece of splitIntoPieces(chunks, position)) {
    const length = piece.reduce((sum, part) => sum + part.length, 0);
    const done = writevSync(fd, piece, position + written);
    written += done;
    if (done < length) break;
  }
  return written;
}

/** Bytes each of `connections` buffers before a write: the shared budget, in 64 KiB steps, within bounds. */
export function bufferBytesFor(connections: number): number {
  return shareOf(BUFFER_BUDGET_BYTES, connections, MIN_BUFFER_BYTES, MAX_BUFFER_BYTES);
}

/** Where a fetcher's bytes go, in order. */
export interface ChunkSink {
  /** Takes the next bytes, which may be kept until written: the caller must not change them. False asks it to pause until `onDrain` fires. */
  push(chunk: Buffer): boolean;
  /** Calls `resume` once the caller may push again, or with the error that ended writing: the caller must then stop. */
  onDrain(resume: (failure?: Error) => void): void;
  /** Resolves when everything pushed is done with. */
  flush(): Promise<void>;
}

/** Counts the bytes and drops them: for measuring a server without the disk. */
export class DiscardSink implements ChunkSink {
  constructor(private readonly segment: Segment) {}

  push(chunk: Buffer): boolean {
    this.segment.written += chunk.length;
    releaseReadBuffer(chunk);
    return true;
  }

  onDrain(): void {}

  flush(): Promise<void> {
    return Promise.resolve();
  }
}

/** Called once a write completes, with its error or the bytes it wrote. */
type WriteDone = (err: Error | null, written: number) => void;

/**
 * Positioned writes into one file: on the main thread while the disk keeps up (see
 * SLOW_INLINE_WRITE_MS), in pieces (see PIECE_BYTES); else at most WRITES_IN_FLIGHT at a time on
 * the thread pool, one writev each (a disk that slow costs more than cold pages do).
 */
export class FileWriter {
  private readonly waiting: Array<() => void> = [];
  private inFlight = 0;
  /** Bytes a segment gathers before it writes them. */
  readonly bufferBytes: number;
  /** Writes go on the main thread: the disk keeps up. */
  private inline = true;
  private slowWrites = 0;

  /** `slowWriteMs`: a main-thread write slower than this counts as slow (tests pass -1: every write). */
  constructor(private readonly fd: number, connections: number, private readonly slowWriteMs = SLOW_INLINE_WRITE_MS) {
    this.bufferBytes = bufferBytesFor(connections);
  }

  /** Whether the next write goes on the main thread. */
  get onMainThread(): boolean {
    return this.inline;
  }

  /** Writes `chunks`, one after another, from `position`; `done` is always called later, never from within. */
  write(chunks: Buffer[], position: number, done: WriteDone): void {
    if (this.inline) return this.writeInline(chunks, position, done);
    const run = () => writev(this.fd, chunks, position, (err, written) => {
      done(err, written);
      this.next();
    });
    if (this.inFlight >= WRITES_IN_FLIGHT) this.waiting.push(run);
    else {
      this.inFlight++;
      run();
    }
  }

  private writeInline(chunks: Buffer[], position: number, done: WriteDone): void {
    let written = 0;
    let error: Error | null = null;
    const startedAt = performance.now();
    try {
      written = writeInPiecesSync(this.fd, chunks, position);
    } catch (err) {
      error = err as Error;
    }
    if (performance.now() - startedAt > this.slowWriteMs && ++this.slowWrites >= SLOW_INLINE_WRITES) this.inline = false;
    queueMicrotask(() => done(error, written));
  }

  private next(): void {
    const run = this.waiting.shift();
    if (run) run();
    else this.inFlight--;
  }
}

/**
 * Writes one segment's bytes, in order, at their own offsets in the part file. Keeps the network
 * chunks themselves (no copy: that was a tenth of the CPU) and writes them with one writev once
 * they add up to a buffer's worth or are FLUSH_AGE_MS old, one write in flight at a time.
 * `segment.written` advances only when a write has completed.
 */
export class SegmentWriter implements ChunkSink {
  /** Chunks not yet handed to a write, and their bytes. */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  /** The queued bytes are to be written as soon as the write before them completes. */
  private due = false;
  private idleWaiters: Array<(err?: Error) => void> = [];
  private drainWaiter: ((failure?: Error) => void) | undefined;
  /** Queued plus in-flight bytes above which the connection should pause reading: two buffers. */
  readonly highWaterBytes: number;

  constructor(
    private readonly file: FileWriter,
    private readonly segment: Segment,
    private readonly onWritten: (bytes: number) => void,
  ) {
    this.highWaterBytes = 2 * file.bufferBytes;
  }

  /** Queues bytes that follow everything queued before; keeps `chunk` until written. Returns false when the caller should pause. */
  push(chunk: Buffer): boolean {
    if (this.failure) return false;
    if (chunk.length === 0) return this.pending() < this.highWaterBytes;
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    this.writeNext(false);
    if (this.queuedBytes > 0) this.timer ??= setTimeout(() => this.writeNext(true), FLUSH_AGE_MS);
    return this.pending() < this.highWaterBytes;
  }

  /** Calls `resume` once buffered bytes fall below the high-water mark, or with the write error (at once if there was one). */
  onDrain(resume: (failure?: Error) => void): void {
    if (this.failure) resume(this.failure);
    else this.drainWaiter = resume;
  }

  /** Writes everything queued; resolves when it is all written (or rejects with the write error). */
  flush(): Promise<void> {
    this.writeNext(true);
    if (this.failure) return Promise.reject(this.failure);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push((err) => (err ? reject(err) : resolve())));
  }

  private pending(): number {
    return this.queuedBytes + this.inFlight;
  }

  /** Starts the next write of everything queued, once it fills a buffer or is `due` (age or flush). */
  private writeNext(partial: boolean): void {
    if (partial) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.due ||= this.queuedBytes > 0;
    }
    if (this.inFlight > 0 || this.failure) return;
    if (this.queuedBytes === 0 || (this.queuedBytes < this.file.bufferBytes && !this.due)) return;
    const chunks = this.queued.splice(0, MAX_CHUNKS_PER_WRITE);
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    this.queuedBytes -= length;
    this.due &&= this.queuedBytes > 0;
    this.inFlight = length;
    this.file.write(chunks, this.segment.start + this.segment.written, (err, written) => {
      if (!err && written === length) chunks.forEach(releaseReadBuffer);
      this.afterWrite(err, written, length);
    });
  }

  private afterWrite(err: Error | null, written: number, expected: number): void {
    this.inFlight = 0;
    if (err || written !== expected) {
      this.failure = err ?? Object.assign(new Error('short write (disk full?)'), { code: 'ENOSPC', errno: -constants.errno.ENOSPC, syscall: 'writev' });
      this.settleIdle();
      // A connection paused for this write would otherwise wait forever: no write will drain it.
      this.wake(this.failure);
      return;
    }
    this.segment.written += written;
    this.onWritten(written);
    this.writeNext(this.idleWaiters.length > 0);
    if (this.inFlight === 0) this.settleIdle();
    if (this.pending() < this.highWaterBytes) this.wake();
  }

  private wake(failure?: Error): void {
    const resume = this.drainWaiter;
    this.drainWaiter = undefined;
    resume?.(failure);
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const settle of waiters) settle(this.failure);
  }
}
