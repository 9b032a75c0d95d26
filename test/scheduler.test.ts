import { describe, expect, it } from 'vitest';
import { findCrawlers, isSilent, MIN_STEAL_SECONDS, newSegment, pastSlowStart, Scheduler, splitIntoRanges, SPREAD_MIN_BYTES, START_SPREAD_MS, startDelayMs, stealShare, typicalSpeed, unreceived, type Paces, type Segment } from '../src/scheduler.js';

const MiB = 2 ** 20;

describe('splitIntoRanges', () => {
  it('splits evenly and tiles the file exactly', () => {
    expect(splitIntoRanges(8 * MiB, 4, MiB)).toEqual([
      { start: 0, end: 2 * MiB }, { start: 2 * MiB, end: 4 * MiB },
      { start: 4 * MiB, end: 6 * MiB }, { start: 6 * MiB, end: 8 * MiB },
    ]);
  });

  it('handles a size not divisible by N', () => {
    const ranges = splitIntoRanges(10, 3, 1);
    expect(ranges).toEqual([{ start: 0, end: 3 }, { start: 3, end: 6 }, { start: 6, end: 10 }]);
  });

  it('never makes ranges smaller than the minimum segment size, but at least one', () => {
    expect(splitIntoRanges(3 * MiB, 8, MiB)).toHaveLength(3);
    expect(splitIntoRanges(100, 8, MiB)).toEqual([{ start: 0, end: 100 }]);
  });

  it('never makes more ranges than bytes', () => {
    expect(splitIntoRanges(3, 64, 1)).toEqual([{ start: 0, end: 1 }, { start: 1, end: 2 }, { start: 2, end: 3 }]);
    expect(splitIntoRanges(1, 8, 1)).toEqual([{ start: 0, end: 1 }]);
    expect(splitIntoRanges(0, 8, 1)).toEqual([]);
  });
});

describe('startDelayMs', () => {
  it('spreads the initial connections evenly over START_SPREAD_MS, the first at once', () => {
    expect([0, 1, 2, 3].map((i) => startDelayMs(i, 4, SPREAD_MIN_BYTES))).toEqual([0, 1, 2, 3].map((i) => (i * START_SPREAD_MS) / 4));
    expect(startDelayMs(0, 1, 2 ** 40)).toBe(0);
    expect(startDelayMs(63, 64, 2 ** 40)).toBeLessThan(START_SPREAD_MS);
  });

  it('starts every connection at once when each has less than SPREAD_MIN_BYTES to fetch', () => {
    expect([0, 1, 2, 3].map((i) => startDelayMs(i, 4, SPREAD_MIN_BYTES - 1))).toEqual([0, 0, 0, 0]);
  });
});

describe('Scheduler', () => {
  const segmentsOf = (size: number, n: number, min: number) => splitIntoRanges(size, n, min).map((r) => newSegment(r));

  it('hands out idle segments first, in file order', () => {
    const scheduler = new Scheduler(segmentsOf(4 * MiB, 2, MiB), MiB);
    expect(scheduler.claim()?.start).toBe(0);
    expect(scheduler.claim()?.start).toBe(2 * MiB);
  });

  it('steals the upper half of the largest remaining range', () => {
    const scheduler = new Scheduler(segmentsOf(16 * MiB, 2, MiB), MiB);
    const a = scheduler.claim()!;
    const b = scheduler.claim()!;
    a.received = 2 * MiB;
    b.received = 6 * MiB;
    const stolen = scheduler.claim()!;
    expect(stolen).toMatchObject({ start: 5 * MiB, end: 8 * MiB, received: 0, active: true });
    expect(a.end).toBe(5 * MiB);
    expect(scheduler.segments.map((s) => s.start)).toEqual([0, 5 * MiB, 8 * MiB]);
  });

  it('does not steal below twice the minimum segment size', () => {
    const scheduler = new Scheduler(segmentsOf(4 * MiB, 1, MiB), MiB);
    const only = scheduler.claim()!;
    only.received = 2 * MiB + 1;
    expect(scheduler.claim()).toBeUndefined();
    only.received = 2 * MiB;
    expect(scheduler.claim()).toMatchObject({ start: 3 * MiB, end: 4 * MiB });
  });

  it('splits at the received point, so bytes held in memory are never handed out twice', () => {
    const scheduler = new Scheduler(segmentsOf(10 * MiB, 1, MiB), MiB);
    const only = scheduler.claim()!;
    only.received = 4 * MiB;
    only.written = 1 * MiB;
    const stolen = scheduler.claim()!;
    expect(stolen.start).toBe(7 * MiB);
    expect(unreceived(only)).toBe(3 * MiB);
  });

  it('puts unwritten bytes back on release and is complete only when all is written', () => {
    const scheduler = new Scheduler(segmentsOf(2 * MiB, 1, MiB), MiB);
    const only = scheduler.claim()!;
    only.received = 2 * MiB;
    only.written = MiB;
    scheduler.release(only);
    expect(only).toMatchObject({ received: MiB, active: false });
    expect(scheduler.complete).toBe(false);
    expect(scheduler.claim()).toBe(only);
    only.received = only.written = 2 * MiB;
    expect(scheduler.complete).toBe(true);
  });

  it('gives a segment that got nothing back to the running segment right below it', () => {
    const scheduler = new Scheduler(segmentsOf(10 * MiB, 1, MiB), MiB);
    const victim = scheduler.claim()!;
    victim.received = victim.written = 2 * MiB;
    const stolen = scheduler.claim()!;
    expect(victim.end).toBe(6 * MiB);
    scheduler.release(stolen);
    expect(scheduler.segments).toEqual([victim]);
    expect(victim).toMatchObject({ start: 0, end: 10 * MiB, active: true });
  });

  it('keeps a released segment apart when it wrote something, or nothing runs right below it', () => {
    const scheduler = new Scheduler(segmentsOf(10 * MiB, 1, MiB), MiB);
    const victim = scheduler.claim()!;
    const stolen = scheduler.claim()!;
    stolen.received = stolen.written = 1;
    scheduler.release(stolen);
    expect(scheduler.segments).toHaveLength(2);
    const second = new Scheduler(segmentsOf(4 * MiB, 2, MiB), MiB);
    const [first, upper] = [second.claim()!, second.claim()!];
    second.release(first);
    second.release(upper);
    expect(second.segments).toHaveLength(2);
    expect(victim.end).toBe(stolen.start);
  });

  it('spreads idle work over more connections before any request is sent', () => {
    const segments = [newSegment({ start: 0, end: 8 * MiB }, 4 * MiB), newSegment({ start: 8 * MiB, end: 10 * MiB })];
    const scheduler = new Scheduler(segments, MiB);
    scheduler.spread(4);
    expect(scheduler.segments.map((s) => [s.start, s.end, s.received])).toEqual([
      [0, 5 * MiB, 4 * MiB], [5 * MiB, 6 * MiB, 0], [6 * MiB, 8 * MiB, 0], [8 * MiB, 10 * MiB, 0],
    ]);
    scheduler.spread(64);
    expect(scheduler.segments).toHaveLength(6);
  });

  it('steals from the range that would finish last at its measured pace, so that both finish together', () => {
    const scheduler = new Scheduler(segmentsOf(40 * MiB, 2, MiB), MiB);
    const [fast, crawler] = [scheduler.claim()!, scheduler.claim()!];
    fast.received = 0;
    crawler.received = 10 * MiB;
    const paces = pacesOf(new Map([[fast, 8 * MiB], [crawler, 0.8 * MiB]]), 8 * MiB);
    const stolen = scheduler.claim(paces)!;
    expect(stolen.end).toBe(40 * MiB);
    expect(unreceived(stolen) / (8 * MiB)).toBeCloseTo(unreceived(crawler) / (0.8 * MiB), 3);
  });

  it('does not steal from a range its own connection finishes within MIN_STEAL_SECONDS', () => {
    const scheduler = new Scheduler(segmentsOf(8 * MiB, 2, MiB), MiB);
    const [done, running] = [scheduler.claim()!, scheduler.claim()!];
    done.received = 4 * MiB;
    // `running` has 4 MiB left: half the floor's time at the first pace, twice it at the second.
    const [nearEnd, farFromEnd] = [4 * MiB / (MIN_STEAL_SECONDS / 2), 4 * MiB / (MIN_STEAL_SECONDS * 2)];
    expect(scheduler.claim(pacesOf(new Map([[running, nearEnd]]), nearEnd))).toBeUndefined();
    expect(scheduler.claim(pacesOf(new Map([[running, farFromEnd]]), farFromEnd))).toMatchObject({ start: 6 * MiB, end: 8 * MiB });
  });

  it('judges the time left by the latest rate while the pace is not yet trusted (slow start, short requests)', () => {
    const scheduler = new Scheduler(segmentsOf(8 * MiB, 2, MiB), MiB);
    const [done, running] = [scheduler.claim()!, scheduler.claim()!];
    done.received = 4 * MiB;
    running.received = 2 * MiB;
    const rates = (rate: number): Paces => ({ of: () => undefined, rateOf: () => rate, typical: undefined });
    // 2 MiB left: 0.1 s at 20 MiB/s, so no steal; with nothing measured at all it is split in half.
    expect(scheduler.claim(rates(20 * MiB))).toBeUndefined();
    expect(scheduler.claim()).toMatchObject({ start: 7 * MiB, end: 8 * MiB });
  });

  it('splits in half when the victim and the typical pace are both 0 (every other request stalled)', () => {
    const scheduler = new Scheduler(segmentsOf(40 * MiB, 2, MiB), MiB);
    const [flowing, stalled] = [scheduler.claim()!, scheduler.claim()!];
    flowing.received = 20 * MiB;
    const stolen = scheduler.claim(pacesOf(new Map([[stalled, 0]]), 0))!;
    expect([stalled.end, stolen.start, stolen.end]).toEqual([30 * MiB, 30 * MiB, 40 * MiB]);
  });

  it('takes a crawler\'s tail even below the minimum segment size, but not an ordinary one', () => {
    const scheduler = new Scheduler(segmentsOf(3 * MiB, 1, 2 * MiB), 2 * MiB);
    const only = scheduler.claim()!;
    only.received = MiB;
    expect(scheduler.claim(pacesOf(new Map([[only, 8 * MiB]]), 8 * MiB))).toBeUndefined();
    const stolen = scheduler.claim(pacesOf(new Map([[only, 0.1 * MiB]]), 8 * MiB))!;
    expect(unreceived(stolen)).toBeGreaterThan(1.9 * MiB);
    expect(only.end).toBe(stolen.start);
  });

  it('resumed segments continue from their offsets, with any connection count', () => {
    const segments = [newSegment({ start: 0, end: 10 }, 10), newSegment({ start: 10, end: 20 }, 4)];
    const scheduler = new Scheduler(segments, 1);
    expect(scheduler.claim()).toMatchObject({ start: 10, received: 4 });
    expect(scheduler.claim()).toMatchObject({ start: 17, end: 20 });
  });
});

function pacesOf(measured: Map<Segment, number>, typical: number): Paces {
  return { of: (segment) => measured.get(segment), rateOf: (segment) => measured.get(segment), typical };
}

describe('stealShare', () => {
  it('halves between equals or when a pace is unknown, and leaves a crawler a tenth at a tenth of the pace', () => {
    expect(stealShare(5, 5)).toBe(0.5);
    expect(stealShare(undefined, 5)).toBe(0.5);
    expect(stealShare(5, undefined)).toBe(0.5);
    expect(stealShare(1, 9)).toBeCloseTo(0.9);
    expect(stealShare(0, 0)).toBe(0.5);
  });
});

describe('findCrawlers', () => {
  const segment = (left: number) => ({ ...newSegment({ start: 0, end: left }), active: true });
  const sample = (bytesPerSecond: number, left = 10 * MiB, ageMs = 5000, firstByteMs = 1) => ({ segment: segment(left), bytesPerSecond, ageMs, firstByteMs });

  it('finds a connection far slower than the others', () => {
    const slow = sample(100_000);
    expect(findCrawlers([sample(2 * MiB), slow, sample(2 * MiB), sample(1.8 * MiB)])).toEqual([slow.segment]);
  });

  it('leaves alone a server that is slow for everyone, young requests, and nearly finished ones', () => {
    expect(findCrawlers([sample(100_000), sample(120_000), sample(90_000)])).toEqual([]);
    expect(findCrawlers([sample(2 * MiB), sample(100_000, 10 * MiB, 100)])).toEqual([]);
    expect(findCrawlers([sample(2 * MiB), sample(100_000, 50_000)])).toEqual([]);
    expect(findCrawlers([sample(100_000)])).toEqual([]);
  });

  it('gives a request on a distant link eight round trips to leave slow start before judging it', () => {
    expect(findCrawlers([sample(2 * MiB), sample(2 * MiB), sample(100_000, 10 * MiB, 700, 100)])).toEqual([]);
    const slow = sample(100_000, 10 * MiB, 900, 100);
    expect(findCrawlers([sample(2 * MiB), sample(2 * MiB), slow])).toEqual([slow.segment]);
  });

  it('trusts a pace only after eight round trips of body', () => {
    expect(pastSlowStart({ ageMs: 799, firstByteMs: 100 })).toBe(false);
    expect(pastSlowStart({ ageMs: 800, firstByteMs: 100 })).toBe(true);
    expect(pastSlowStart({ ageMs: 100, firstByteMs: 1 })).toBe(true);
  });

  it('judges the last stragglers against the pace seen while more connections ran', () => {
    const [a, b] = [sample(100_000), sample(120_000)];
    expect(findCrawlers([a, b])).toEqual([]);
    expect(findCrawlers([a, b], 2 * MiB)).toEqual([a.segment, b.segment]);
    expect(findCrawlers([a], 2 * MiB)).toEqual([a.segment]);
    expect(findCrawlers([sample(100_000, 40_000)], 2 * MiB)).toEqual([]);
  });
});

describe('isSilent', () => {
  it('judges a request with no response after eight times the usual time to first byte, and half a second more', () => {
    expect([isSilent(509, 10), isSilent(511, 10)]).toEqual([false, true]);
    expect([isSilent(2399, 300), isSilent(2401, 300)]).toEqual([false, true]);
  });
});

describe('typicalSpeed', () => {
  const sample = (bytesPerSecond: number) => ({ segment: newSegment({ start: 0, end: 1 }), bytesPerSecond, ageMs: 5000, firstByteMs: 1 });

  it('is the median when three and at least half of the connections run, else the last one known', () => {
    expect(typicalSpeed([sample(1), sample(9), sample(5)], 4, undefined)).toBe(5);
    expect(typicalSpeed([sample(1), sample(2)], 4, 7)).toBe(7);
    expect(typicalSpeed([sample(1), sample(2), sample(3)], 8, 7)).toBe(7);
    expect(typicalSpeed([], 4, undefined)).toBeUndefined();
  });
});
