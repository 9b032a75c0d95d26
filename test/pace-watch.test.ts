import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CrawlingError } from '../src/errors.js';
import { PaceWatch } from '../src/pace-watch.js';
import { newSegment, type Segment } from '../src/scheduler.js';

const MiB = 2 ** 20;

/**
 * Four requests flow for 0.2 s, three of them at 100 MiB/s and the last at 5 KB/s; `before` runs
 * first. Whether the watch cuts the last one.
 */
async function cutsTheSlowOne(watch: PaceWatch, before: (slow: Segment) => void = () => {}): Promise<boolean> {
  const segments = [0, 1, 2, 3].map((i) => newSegment({ start: i * 100 * MiB, end: (i + 1) * 100 * MiB }));
  const attempts = segments.map((segment) => {
    const attempt = watch.start(segment);
    watch.flowing(segment, attempt);
    return attempt;
  });
  before(segments[3]!);
  await sleep(200);
  for (const segment of segments.slice(0, 3)) segment.received = 20 * MiB;
  segments[3]!.received = 1000;
  watch.check();
  return attempts[3]!.controller.signal.aborted;
}

describe('PaceWatch', () => {
  it('allows a range three crawl restarts, then leaves it to its pace', () => {
    const watch = new PaceWatch(4);
    const segment = newSegment({ start: 0, end: 1000 });
    expect([1, 2, 3, 4].map(() => watch.countRestart(segment))).toEqual([1, 2, 3, undefined]);
    expect(watch.countRestart(newSegment({ start: 1000, end: 2000 }))).toBe(1);
  });

  it('cuts a request that crawls far behind the others, unless its range is out of restarts', async () => {
    expect(await cutsTheSlowOne(new PaceWatch(4))).toBe(true);
    const watch = new PaceWatch(4);
    expect(await cutsTheSlowOne(watch, (slow) => [1, 2, 3].forEach(() => watch.countRestart(slow)))).toBe(false);
  });

  it('stops cutting once a second re-requested range crawls again: the slowness is not the connections\'', async () => {
    const watch = new PaceWatch(4);
    // A restart that did not help: cut once more, as a slow server connection may come again.
    expect(await cutsTheSlowOne(watch, (slow) => watch.countRestart(slow))).toBe(true);
    expect(await cutsTheSlowOne(watch, (slow) => watch.countRestart(slow))).toBe(false);
    expect(await cutsTheSlowOne(watch)).toBe(false);
    const fresh = new PaceWatch(4);
    expect(await cutsTheSlowOne(fresh)).toBe(true);
    expect(await cutsTheSlowOne(fresh)).toBe(true);
  });

  it('cuts none under a rate limit, which sets the paces itself', async () => {
    expect(await cutsTheSlowOne(new PaceWatch(4, false))).toBe(false);
  });

  it('cuts a request still waiting for its response long after the server answered another, also under a rate limit', async () => {
    for (const judgesPaces of [true, false]) {
      const watch = new PaceWatch(2, judgesPaces);
      const [silent, answered] = [0, 1].map((i) => newSegment({ start: i * MiB, end: (i + 1) * MiB }));
      const waiting = watch.start(silent!);
      waiting.sent = true;
      await sleep(550);
      watch.check();
      // The server has answered nothing yet: nothing to compare with.
      expect(waiting.controller.signal.aborted).toBe(false);
      watch.flowing(answered!, watch.start(answered!));
      watch.check();
      const reason = waiting.controller.signal.reason as unknown;
      expect(reason).toBeInstanceOf(CrawlingError);
      expect((reason as Error).message).toMatch(/^no response after \d\.\d s, where the server usually answers in 0\.0\d\d s; re-requesting$/);
    }
  });

  it('judges no silence while the server answers no one: none flows, and none answered since the request went out', async () => {
    const watch = new PaceWatch(2);
    const [answered, waiting] = [0, 1].map((i) => newSegment({ start: i * MiB, end: (i + 1) * MiB }));
    watch.flowing(answered!, watch.start(answered!));
    watch.end(answered!);
    const attempt = watch.start(waiting!);
    attempt.sent = true;
    await sleep(550);
    watch.check();
    expect(attempt.controller.signal.aborted).toBe(false);
  });

  it('cuts a request that never had a connection once another request ended after it went out, and no other', async () => {
    for (const sent of [false, true]) {
      const watch = new PaceWatch(2);
      const [answered, waiting] = [0, 1].map((i) => newSegment({ start: i * MiB, end: (i + 1) * MiB }));
      watch.flowing(answered!, watch.start(answered!));
      const attempt = watch.start(waiting!);
      attempt.sent = sent;
      watch.end(answered!);
      await sleep(550);
      watch.check();
      expect(attempt.controller.signal.aborted).toBe(!sent);
    }
  });

  it('cuts a request that never had a connection even when its range is out of restarts, and says so', async () => {
    for (const sent of [false, true]) {
      const watch = new PaceWatch(2);
      const [waiting, answered] = [0, 1].map((i) => newSegment({ start: i * MiB, end: (i + 1) * MiB }));
      [1, 2, 3].forEach(() => watch.countRestart(waiting!));
      const attempt = watch.start(waiting!);
      attempt.sent = sent;
      await sleep(550);
      watch.flowing(answered!, watch.start(answered!));
      watch.check();
      // A request on a connection, silent, is the range's: out of restarts, it is left to its timeout.
      expect(attempt.controller.signal.aborted).toBe(!sent);
      if (!sent) expect(attempt.controller.signal.reason).toMatchObject({ silence: 'no connection', message: expect.stringMatching(/^no connection after/) });
    }
  });

  it('counts the most requests that had their response at once', () => {
    const watch = new PaceWatch(4);
    const segments = [0, 1, 2].map((i) => newSegment({ start: i * MiB, end: (i + 1) * MiB }));
    for (const segment of segments.slice(0, 2)) watch.flowing(segment, watch.start(segment));
    watch.end(segments[0]!);
    watch.flowing(segments[2]!, watch.start(segments[2]!));
    expect(watch.peakFlowing).toBe(2);
  });

  it('knows no pace for a request before its body has flowed a while, and none once it ended', () => {
    const watch = new PaceWatch(4);
    const segment = newSegment({ start: 0, end: 1000 });
    const attempt = watch.start(segment);
    watch.flowing(segment, attempt);
    watch.check();
    expect(watch.paces.of(segment)).toBeUndefined();
    expect(watch.paces.typical).toBeUndefined();
    expect(attempt.controller.signal.aborted).toBe(false);
    watch.end(segment);
    expect(watch.paces.of(segment)).toBeUndefined();
  });

  it('knows a request\'s rate before slow start ends, and its pace after', async () => {
    const watch = new PaceWatch(4);
    const segment = newSegment({ start: 0, end: 100 * MiB });
    const attempt = watch.start(segment);
    await sleep(30);
    watch.flowing(segment, attempt);
    // A first byte after 30 ms: slow start lasts eight times as long, so 0.15 s of body gives a rate, not a pace.
    await sleep(150);
    segment.received = 10 * MiB;
    watch.check();
    expect(watch.paces.rateOf(segment)).toBeGreaterThan(0);
    expect(watch.paces.of(segment)).toBeUndefined();
  });
});
