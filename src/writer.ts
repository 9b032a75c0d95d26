import { writev } from 'node:fs';
import type { Segment } from './scheduler.js';

/** Buffered bytes that trigger a write: few large writes instead of one per 64 KiB chunk. */
export const FLUSH_BYTES = 1 << 20;
/** Oldest age of buffered bytes, so a slow connection's data does not sit in memory. */
export const FLUSH_AGE_MS = 50;
/** Buffered plus in-flight bytes above which the connection should pause reading. */
export const HIGH_WATER_BYTES = 2 * FLUSH_BYTES;

/** Where a fetcher's bytes go, in order. */
export interface ChunkSink {
  /** Takes the next bytes; false asks the caller to pause until `onDrain` fires. */
  push(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  /** Resolves when everything pushed is done with. */
  flush(): Promise<void>;
}

/** Counts the bytes and drops them: for measuring a server without the disk. */
export class DiscardSink implements ChunkSink {
  constructor(private readonly segment: Segment) {}

  push(chunk: Buffer): boolean {
    this.segment.written += chunk.length;
    return true;
  }

  onDrain(): void {}

  flush(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Writes one segment's bytes, in order, at their own offsets in the part file. Coalesces
 * network chunks into positioned `writev` calls, one in flight at a time, and advances
 * `segment.written` only when a write has completed.
 */
export class SegmentWriter implements ChunkSink {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  /** A flush was asked for while a write was in flight: write again as soon as it completes. */
  private due = false;
  private idleWaiters: Array<(err?: Error) => void> = [];
  private drainWaiter: (() => void) | undefined;

  constructor(
    private readonly fd: number,
    private readonly segment: Segment,
    private readonly onWritten: (bytes: number) => void,
  ) {}

  /** Queues bytes that follow everything queued before. Returns false when the caller should pause. */
  push(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered >= FLUSH_BYTES) this.writeBuffered();
    else this.timer ??= setTimeout(() => this.writeBuffered(), FLUSH_AGE_MS);
    return this.buffered + this.inFlight < HIGH_WATER_BYTES;
  }

  /** Calls `resume` once buffered bytes fall below the high-water mark. */
  onDrain(resume: () => void): void {
    this.drainWaiter = resume;
  }

  /** Writes everything queued; resolves when it is all written (or rejects with the write error). */
  flush(): Promise<void> {
    this.writeBuffered();
    if (this.failure) return Promise.reject(this.failure);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push((err) => (err ? reject(err) : resolve())));
  }

  private writeBuffered(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight > 0) this.due = this.buffered > 0;
    if (this.inFlight > 0 || this.buffered === 0 || this.failure) return;
    this.due = false;
    const chunks = this.chunks;
    const bytes = this.buffered;
    this.chunks = [];
    this.buffered = 0;
    this.inFlight = bytes;
    const position = this.segment.start + this.segment.written;
    writev(this.fd, chunks, position, (err, written) => this.afterWrite(err, written, bytes));
  }

  private afterWrite(err: Error | null, written: number, expected: number): void {
    this.inFlight = 0;
    if (err || written !== expected) {
      this.failure = err ?? Object.assign(new Error('short write (disk full?)'), { code: 'ENOSPC' });
      this.settleIdle();
      return;
    }
    this.segment.written += written;
    this.onWritten(written);
    if (this.buffered >= FLUSH_BYTES || this.due || this.idleWaiters.length > 0) this.writeBuffered();
    else if (this.buffered > 0) this.timer ??= setTimeout(() => this.writeBuffered(), FLUSH_AGE_MS);
    if (this.inFlight === 0) this.settleIdle();
    this.wakeIfDrained();
  }

  private wakeIfDrained(): void {
    if (!this.drainWaiter || this.buffered + this.inFlight >= HIGH_WATER_BYTES) return;
    const resume = this.drainWaiter;
    this.drainWaiter = undefined;
    resume();
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const settle of waiters) settle(this.failure);
  }
}
