import type { ByteRange } from './range.js';
import { median } from './stats.js';

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
  const count = rangeCount(size, connections, minSegmentSize);
  const bounds = Array.from({ length: count + 1 }, (_, i) => Math.floor((i * size) / count));
  return bounds.slice(0, -1).map((start, i) => ({ start, end: bounds[i + 1]! }));
}

/** How many ranges `splitIntoRanges` makes of a non-empty file. */
export function rangeCount(size: number, connections: number, minSegmentSize: number): number {
  return Math.max(1, Math.min(connections, Math.floor(size / minSegmentSize), size));
}

/**
 * The first requests of a download start spread over this long, not at once. Servers that pace each
 * connection with timers (nginx's limit_rate) serve requests that arrive together in one batch per
 * cycle, and each cycle then waits for the whole batch: 16 connections to nginx at 20 MiB/s each
 * took 3.2-3.3 s per 64 MiB instead of 3.1, and a spread start saved 0.1 s of 3.65.
 */
export const START_SPREAD_MS = 100;
/**
 * The spread saves a batch's time in every cycle of a timer-paced server, but costs up to its 0.1 s
 * once, and against a smoothly paced server it only costs: it pays when each connection has many
 * cycles to go. Against nginx at 20 MiB/s, 16 MiB per connection (8 of its 2 MiB bursts) took 0.02 s
 * longer with it, 32 MiB 0.02 s less, 64 MiB 0.08-0.15 s less; against a smooth pace, 32 MiB each
 * took 0.06 s longer.
 */
export const SPREAD_MIN_BYTES = 64 * 2 ** 20;

/**
 * How long the `index`-th of `connections` initial connections waits before it claims its first
 * range, when each has about `bytesEach` to fetch.
 */
export function startDelayMs(index: number, connections: number, bytesEach: number): number {
  return bytesEach < SPREAD_MIN_BYTES ? 0 : (index * START_SPREAD_MS) / connections;
}

/**
 * A steal from a range that its own connection would finish sooner than this gains at most half of
 * it, and may fetch twice what the server has already sent that connection (on fast or bursty links
 * much of the rest is in flight): nginx capped at 20 MiB/s sends 2 MiB bursts, 0.1 s of such a range.
 */
export const MIN_STEAL_SECONDS = 0.2;

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
   * Work for a free connection: an idle unfinished segment, or else a piece stolen from the running
   * segment that would finish last (work stealing; see `stealShare`). The victim's `end` shrinks,
   * so its connection stops at the split point.
   */
  claim(paces: Paces = UNMEASURED): Segment | undefined {
    const idle = this.segments.find((s) => !s.active && unreceived(s) > 0);
    const claimed = idle ?? this.steal(paces);
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
    this.giveBack(segment);
  }

  /**
   * A segment that got nothing (its request refused, say) goes back to the running segment right
   * below it. When it was a piece stolen from that one, whose request still covers its bytes, that
   * connection reads on past the cut instead of stopping there and requesting them again; else it
   * asks for them next.
   */
  private giveBack(segment: Segment): void {
    const index = this.segments.indexOf(segment);
    const below = this.segments[index - 1];
    if (segment.written > 0 || !below?.active || below.end !== segment.start) return;
    below.end = segment.end;
    this.segments.splice(index, 1);
  }

  get complete(): boolean {
    return this.segments.every((s) => s.written === s.end - s.start);
  }

  private steal(paces: Paces): Segment | undefined {
    let victim: Segment | undefined;
    let longest = 0;
    for (const s of this.segments) {
      const seconds = unreceived(s) / (paces.rateOf(s) ?? paces.typical ?? 1);
      if (s.active && seconds > longest) [victim, longest] = [s, seconds];
    }
    if (!victim) return undefined;
    const left = unreceived(victim);
    const pace = paces.of(victim);
    const rate = paces.rateOf(victim);
    // A crawler's tail is worth a request of any size: it would hold up the whole download.
    const crawling = pace !== undefined && paces.typical !== undefined && crawls(pace, paces.typical, left);
    if (rate !== undefined && !crawling && left / rate < MIN_STEAL_SECONDS) return undefined;
    return this.split(victim, stealShare(rate, paces.typical), crawling ? 1 : this.minSegmentSize);
  }

  /**
   * Cuts off the upper `share` of `segment`'s unreceived bytes as a new segment, if that is at least
   * `smallest` bytes. The running request keeps at least one byte.
   */
  private split(segment: Segment, share = 0.5, smallest = this.minSegmentSize): Segment | undefined {
    const left = unreceived(segment);
    const taken = Math.min(Math.floor(left * share), left - 1);
    if (taken < smallest) return undefined;
    const at = segment.end - taken;
    const upper = newSegment({ start: at, end: segment.end });
    segment.end = at;
    this.segments.splice(this.segments.indexOf(segment) + 1, 0, upper);
    return upper;
  }
}

/** What the connections have measured, in bytes per second. */
export interface Paces {
  /** A running request's pace once past TCP slow start: whether it crawls. */
  of(segment: Segment): number | undefined;
  /** Its latest pace, slow start or not (then a floor): how long it has left, and what a steal would gain. */
  rateOf(segment: Segment): number | undefined;
  /** The pace a fresh request can expect. */
  typical: number | undefined;
}

const UNMEASURED: Paces = { of: () => undefined, rateOf: () => undefined, typical: undefined };

/**
 * The part of a running segment's unreceived bytes a fresh request takes, so that both finish at
 * the same time: half between equals, nine tenths from a connection crawling at a tenth of the pace.
 */
export function stealShare(victimPace: number | undefined, freshPace: number | undefined): number {
  // Both at 0 (every request stalled) say nothing, and 0 / 0 would cut the range at NaN.
  if (victimPace === undefined || freshPace === undefined || victimPace + freshPace <= 0) return 0.5;
  return freshPace / (victimPace + freshPace);
}

/** How one active connection is doing: its recent bytes per second, how long its body has flowed, and its time to first byte. */
export interface PaceSample {
  segment: Segment;
  bytesPerSecond: number;
  ageMs: number;
  firstByteMs: number;
}

/** A connection this many times slower than the others' median counts as crawling. */
export const CRAWL_FACTOR = 4;
/**
 * A request is judged a crawler once its body has flowed this long (and it is past slow start): at
 * the second pace check. The bench's stragglers (256 MiB, 8 connections, every fourth request 10x
 * slower) took 4.68 s against 4.81 with 300 ms (6 interleaved pairs, twice); 100 ms gained no more.
 */
const CRAWL_MIN_AGE_MS = 150;
/** Round trips (times to first byte) a fresh TCP connection on a distant link needs to leave slow start. */
const SLOW_START_ROUND_TRIPS = 8;

/** Whether a request's pace says something about its connection yet, rather than about TCP slow start. */
export function pastSlowStart(sample: Pick<PaceSample, 'ageMs' | 'firstByteMs'>): boolean {
  return sample.ageMs >= SLOW_START_ROUND_TRIPS * sample.firstByteMs;
}
/** Restarting pays when a fresh request at the typical pace would finish this much sooner. */
const CRAWL_MIN_GAIN_SECONDS = 0.5;

/**
 * A request with no response after this many times the server's usual time to first byte is
 * silent. Most requests go out on kept-alive connections (one round trip); one on a fresh TLS
 * connection needs up to four, and twice that leaves room for the server's own time.
 */
const SILENT_FACTOR = 8;

/**
 * Whether a request that has had no response for `waitedMs` counts as crawling (at 0 B/s): it has
 * waited SILENT_FACTOR times the server's usual time to first byte, and half a second longer than
 * that. A stuck server worker or a lost request would otherwise hold its range until --timeout
 * while every other connection idles.
 */
export function isSilent(waitedMs: number, usualFirstByteMs: number): boolean {
  return waitedMs > SILENT_FACTOR * usualFirstByteMs && waitedMs - usualFirstByteMs > CRAWL_MIN_GAIN_SECONDS * 1000;
}

/**
 * The pace a fresh connection can expect: the median of the running requests when at least half
 * of the `connections` (and three) run, else the last such median. Near the end only a few
 * requests may still run, stragglers among them, and they are no measure of a fresh one.
 */
export function typicalSpeed(samples: readonly PaceSample[], connections: number, previous: number | undefined): number | undefined {
  return samples.length >= Math.max(3, connections / 2) ? median(samples.map((s) => s.bytesPerSecond)) : previous;
}

/**
 * The segments whose connections crawl far behind the others, or behind `typical` (stragglers: a
 * slow server thread, a bad route). Re-requested on a fresh connection, they usually come back at
 * the others' pace.
 */
export function findCrawlers(samples: readonly PaceSample[], typical?: number): Segment[] {
  return samples
    .filter((sample, i) => {
      if (sample.ageMs < CRAWL_MIN_AGE_MS || !pastSlowStart(sample)) return false;
      const others = samples.filter((_, j) => j !== i).map((o) => o.bytesPerSecond);
      const expected = Math.max(others.length > 0 ? median(others) : 0, typical ?? 0);
      if (expected === 0) return false;
      return crawls(sample.bytesPerSecond, expected, unreceived(sample.segment));
    })
    .map((sample) => sample.segment);
}

/** Far slower than `expected`, with enough `left` that a fresh request at that pace finishes it clearly sooner. */
function crawls(pace: number, expected: number, left: number): boolean {
  const gainSeconds = left / Math.max(pace, 1) - left / expected;
  return pace * CRAWL_FACTOR < expected && gainSeconds > CRAWL_MIN_GAIN_SECONDS;
}
