import { write } from 'node:fs';
import type { Segment } from './scheduler.js';

/** Buffered bytes that trigger a write: few large writes instead of one per 64 KiB chunk. */
export const FLUSH_BYTES = 512 * 1024;
/** Oldest age of buffered bytes, so a slow connection's data does not sit in memory. */
export const FLUSH_AGE_MS = 50;
/** Buffered plus in-flight bytes above which the connection should pause reading. */
export const HIGH_WATER_BYTES = 2 * FLUSH_BYTES;
/**
 * Writes in flight per file. Buffered writes to one file take its inode lock in turn, so more
 * only spin on it (a tenth of the CPU at 16 connections); two keep the next one ready.
 */
const WRITES_IN_FLIGHT = 2;

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
 * Positioned writes into one file from a pool of reusable buffers. Network chunks are copied
 * into these at once and die young, instead of living until written and being promoted, which
 * made major GCs run every 100 ms at 16 connections.
 */
export class FileWriter {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<() => void> = [];
  private inFlight = 0;

  constructor(private readonly fd: number) {}

  takeBuffer(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(FLUSH_BYTES);
  }

  /** Writes `length` bytes of `buffer` at `position` (queued behind WRITES_IN_FLIGHT others), then takes the buffer back. */
  write(buffer: Buffer, length: number, position: number, done: (err: Error | null, written: number) => void): void {
    const run = () => write(this.fd, buffer, 0, length, position, (err, written) => {
      this.free.push(buffer);
      done(err, written);
      this.next();
    });
    if (this.inFlight >= WRITES_IN_FLIGHT) this.waiting.push(run);
    else {
      this.inFlight++;
      run();
    }
  }

  private next(): void {
    const run = this.waiting.shift();
    if (run) run();
    else this.inFlight--;
  }
}

/**
 * Writes one segment's bytes, in order, at their own offsets in the part file. Copies network
 * chunks into the file writer's buffers, writes each buffer when full (or after FLUSH_AGE_MS),
 * one write in flight at a time, and advances `segment.written` only when a write has completed.
 */
export class SegmentWriter implements ChunkSink {
  /** The buffer being filled, and how far. */
  private filling: Buffer | undefined;
  private filled = 0;
  /** Full buffers waiting for their write. */
  private readonly full: Buffer[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  /** The partial buffer is to be written as soon as the writes before it complete. */
  private due = false;
  private idleWaiters: Array<(err?: Error) => void> = [];
  private drainWaiter: (() => void) | undefined;

  constructor(
    private readonly file: FileWriter,
    private readonly segment: Segment,
    private readonly onWritten: (bytes: number) => void,
  ) {}

  /** Queues bytes that follow everything queued before. Returns false when the caller should pause. */
  push(chunk: Buffer): boolean {
    for (let copied = 0; copied < chunk.length;) {
      this.filling ??= this.file.takeBuffer();
      const n = chunk.copy(this.filling, this.filled, copied);
      copied += n;
      this.filled += n;
      if (this.filled === this.filling.length) {
        this.full.push(this.filling);
        this.filling = undefined;
        this.filled = 0;
      }
    }
    this.writeNext(false);
    if (this.filled > 0) this.timer ??= setTimeout(() => this.writeNext(true), FLUSH_AGE_MS);
    return this.pending() < HIGH_WATER_BYTES;
  }

  /** Calls `resume` once buffered bytes fall below the high-water mark. */
  onDrain(resume: () => void): void {
    this.drainWaiter = resume;
  }

  /** Writes everything queued; resolves when it is all written (or rejects with the write error). */
  flush(): Promise<void> {
    this.writeNext(true);
    if (this.failure) return Promise.reject(this.failure);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push((err) => (err ? reject(err) : resolve())));
  }

  private pending(): number {
    return this.filled + this.full.length * FLUSH_BYTES + this.inFlight;
  }

  /** Starts the next write: a full buffer, or once `due` (age or flush) the one being filled. */
  private writeNext(partial: boolean): void {
    if (partial) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.due ||= this.filled > 0;
    }
    if (this.inFlight > 0 || this.failure) return;
    let buffer = this.full.shift();
    let length = FLUSH_BYTES;
    if (!buffer && this.due) {
      this.due = false;
      if (this.filling && this.filled > 0) [buffer, length, this.filling, this.filled] = [this.filling, this.filled, undefined, 0];
    }
    if (!buffer) return;
    this.inFlight = length;
    this.file.write(buffer, length, this.segment.start + this.segment.written, (err, written) => this.afterWrite(err, written, length));
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
    this.writeNext(this.idleWaiters.length > 0);
    if (this.inFlight === 0) this.settleIdle();
    this.wakeIfDrained();
  }

  private wakeIfDrained(): void {
    if (!this.drainWaiter || this.pending() >= HIGH_WATER_BYTES) return;
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
