import type { ByteRange } from './range.js';

/**
 * One contiguous piece of the file that one connection fetches front to back.
 * All counters are byte offsets relative to `start`, so each is a prefix of the segment:
 *   durable ≤ written ≤ received ≤ end - start.
 */
export interface Segment {
  readonly start: number;
  /** One past the last byte. Shrinks when another connection steals the upper half. */
  end: number;
  /** Received from the network, including bytes still buffered in memory. */
  received: number;
  /** Handed to write() and completed: in the page cache, safe from a killed process. */
  written: number;
  /** Covered by a completed fdatasync: safe from a power cut. */
  durable: number;
  /** A connection is fetching this segment now. */
  active: boolean;
  /** Failed attempts so far, for display. */
  retries: number;
}

export function newSegment(range: ByteRange, done = 0, durable = 0): Segment {
  return { start: range.start, end: range.end, received: done, written: done, durable, active: false, retries: 0 };
}

/** Bytes this segment still has to receive. */
export function unreceived(segment: Segment): number {
  return segment.end - segment.start - segment.received;
}

/**
 * Splits `size` bytes into at most `connections` near-equal ranges of at least
 * `minSegmentSize` bytes each (one range when the file is smaller), never more ranges than bytes.
 */
export function splitIntoRanges(size: number, connections: number, minSegmentSize: number): ByteRange[] {
  if (size === 0) return [];
  const count = Math.max(1, Math.min(connections, Math.floor(size / minSegmentSize), size));
  const bounds = Array.from({ length: count + 1 }, (_, i) => Math.floor((i * size) / count));
  return bounds.slice(0, -1).map((start, i) => ({ start, end: bounds[i + 1]! }));
}

/**
 * Decides which bytes each free connection fetches next. Pure bookkeeping over plain
 * segments: no sockets, no files.
 */
export class Scheduler {
  readonly segments: Segment[];

  constructor(segments: Segment[], private readonly minSegmentSize: number) {
    this.segments = [...segments].sort((a, b) => a.start - b.start);
  }

  /**
   * Work for a free connection: an idle unfinished segment, or else the upper half of the
   * largest range still being fetched (work stealing) when that half is at least the minimum
   * segment size. The victim's `end` shrinks, so its connection stops at the split point.
   */
  claim(): Segment | undefined {
    const idle = this.segments.find((s) => !s.active && unreceived(s) > 0);
    const claimed = idle ?? this.steal();
    if (claimed) claimed.active = true;
    return claimed;
  }

  /**
   * Splits idle work until each of `connections` has a piece (as far as the minimum segment
   * size allows), so that resuming with more connections than ranges does not start with steals.
   */
  spread(connections: number): void {
    for (;;) {
      const idle = this.segments.filter((s) => !s.active && unreceived(s) > 0);
      if (idle.length >= connections) return;
      const largest = idle.reduce<Segment | undefined>((a, s) => (!a || unreceived(s) > unreceived(a) ? s : a), undefined);
      if (!largest || !this.split(largest)) return;
    }
  }

  /** The connection working on `segment` stopped; whatever it did not write is to be fetched again. */
  release(segment: Segment): void {
    segment.active = false;
    segment.received = segment.written;
  }

  get complete(): boolean {
    return this.segments.every((s) => s.written === s.end - s.start);
  }

  private steal(): Segment | undefined {
    let victim: Segment | undefined;
    for (const s of this.segments) {
      if (s.active && (!victim || unreceived(s) > unreceived(victim))) victim = s;
    }
    return victim && this.split(victim);
  }

  /** Cuts off the upper half of `segment`'s unreceived bytes as a new segment, if both halves are big enough. */
  private split(segment: Segment): Segment | undefined {
    if (unreceived(segment) < 2 * this.minSegmentSize) return undefined;
    const at = segment.start + segment.received + Math.ceil(unreceived(segment) / 2);
    const upper = newSegment({ start: at, end: segment.end });
    segment.end = at;
    this.segments.splice(this.segments.indexOf(segment) + 1, 0, upper);
    return upper;
  }
}

/** How one active connection is doing: bytes per second over the last check, and how long its request has run. */
export interface PaceSample {
  segment: Segment;
  bytesPerSecond: number;
  ageMs: number;
}

/** A connection this many times slower than the others' median counts as crawling. */
export const CRAWL_FACTOR = 4;
const CRAWL_MIN_AGE_MS = 1000;
/** Restarting pays when a fresh request at the typical pace would finish this much sooner. */
const CRAWL_MIN_GAIN_SECONDS = 0.5;

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * The pace a fresh connection can expect: the median of the active connections when there are
 * enough to tell, else the last such median. Near the end only a straggler or two may still be
 * running, with nothing left to compare them with.
 */
export function typicalSpeed(samples: readonly PaceSample[], previous: number | undefined): number | undefined {
  return samples.length >= 3 ? median(samples.map((s) => s.bytesPerSecond)) : previous;
}

/**
 * The segments whose connections crawl far behind the others, or behind `typical` (stragglers: a
 * slow server thread, a bad route). Re-requested on a fresh connection, they usually come back at
 * the others' pace.
 */
export function findCrawlers(samples: readonly PaceSample[], typical?: number): Segment[] {
  return samples
    .filter((sample, i) => {
      if (sample.ageMs < CRAWL_MIN_AGE_MS) return false;
      const others = median(samples.filter((_, j) => j !== i).map((o) => o.bytesPerSecond));
      const expected = Math.max(others ?? 0, typical ?? 0);
      if (expected === 0) return false;
      const left = unreceived(sample.segment);
      const gainSeconds = left / Math.max(sample.bytesPerSecond, 1) - left / expected;
      return sample.bytesPerSecond * CRAWL_FACTOR < expected && gainSeconds > CRAWL_MIN_GAIN_SECONDS;
    })
    .map((sample) => sample.segment);
}
