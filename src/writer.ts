import { write } from 'node:fs';
import type { Segment } from './scheduler.js';

/**
 * Write buffer size, per connection: the budget shared by all of a download's connections,
 * within these bounds. Measured on 2 cores: with 16 connections, 256 KiB buffers cost a third
 * less CPU than 512 KiB ones (unthrottled 2.45 -> 1.72 s; capped 3.63 -> 3.49 s), while with
 * 4 to 8 connections fewer, larger writes are cheaper.
 */
const BUFFER_BUDGET_BYTES = 4 * 2 ** 20;
export const MAX_BUFFER_BYTES = 512 * 1024;
export const MIN_BUFFER_BYTES = 64 * 1024;
/** Oldest age of buffered bytes, so a slow connection's data does not sit in memory. */
export const FLUSH_AGE_MS = 50;
/**
 * Writes in flight per file. Buffered writes to one file take its inode lock in turn, so more
 * only spin on it (a tenth of the CPU at 16 connections); two keep the next one ready.
 */
const WRITES_IN_FLIGHT = 2;

/** Bytes each of `connections` buffers before a write: the shared budget, in 64 KiB steps, within bounds. */
export function bufferBytesFor(connections: number): number {
  const share = Math.floor(BUFFER_BUDGET_BYTES / Math.max(1, connections) / MIN_BUFFER_BYTES) * MIN_BUFFER_BYTES;
  return Math.min(MAX_BUFFER_BYTES, Math.max(MIN_BUFFER_BYTES, share));
}

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
  /** Size of every buffer handed out; a segment writes when one is full. */
  readonly bufferBytes: number;

  constructor(private readonly fd: number, connections: number) {
    this.bufferBytes = bufferBytesFor(connections);
  }

  takeBuffer(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
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
  /** Buffered plus in-flight bytes above which the connection should pause reading: two buffers. */
  readonly highWaterBytes: number;

  constructor(
    private readonly file: FileWriter,
    private readonly segment: Segment,
    private readonly onWritten: (bytes: number) => void,
  ) {
    this.highWaterBytes = 2 * file.bufferBytes;
  }

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
    return this.pending() < this.highWaterBytes;
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
    return this.filled + this.full.length * this.file.bufferBytes + this.inFlight;
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
    let length = this.file.bufferBytes;
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
    if (!this.drainWaiter || this.pending() >= this.highWaterBytes) return;
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
