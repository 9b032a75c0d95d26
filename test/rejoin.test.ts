import { describe, expect, it } from 'vitest';
import { REJOIN_FIRST_MS, REJOIN_MAX_MS, REJOIN_MIN_MS, Rejoins } from '../src/rejoin.js';
import { newSegment } from '../src/scheduler.js';

const segment = newSegment({ start: 0, end: 100 });
const trying = { segment, host: 'example.org' };

/** How long after `now` the next try is due, to `stepMs`, with `workers` of `workers` flowing. */
function waitAfter(rejoins: Rejoins, now: number, workers = 2, stepMs = 1000): number {
  let wait = 0;
  while (!rejoins.due(now + wait, workers, workers) && wait <= REJOIN_MAX_MS) wait += stepMs;
  return wait;
}

describe('Rejoins', () => {
  it('tries only after a connection retired, after the first wait, while every connection left has its response', () => {
    const rejoins = new Rejoins();
    expect(rejoins.due(1e9, 2, 2)).toBe(false);
    rejoins.retire(1000);
    expect(rejoins.due(1000 + REJOIN_FIRST_MS - 1, 2, 2)).toBe(false);
    expect(rejoins.due(1000 + REJOIN_FIRST_MS, 1, 2)).toBe(false);
    expect(rejoins.due(1000 + REJOIN_FIRST_MS, 2, 2)).toBe(true);
  });

  it('runs one try at a time; a try that finds nothing to take goes, and the next waits the same', () => {
    const rejoins = new Rejoins();
    rejoins.retire(0);
    rejoins.start(trying, REJOIN_FIRST_MS);
    expect(rejoins.isTry(segment)).toBe(true);
    expect(rejoins.due(1e9, 3, 3)).toBe(false);
    rejoins.refused(0);
    rejoins.start(undefined, 0);
    expect(waitAfter(rejoins, 0)).toBe(2 * REJOIN_FIRST_MS);
  });

  it('doubles the wait after each refused try, up to a minute', () => {
    const rejoins = new Rejoins();
    rejoins.retire(0);
    const waits = [1, 2, 3, 4, 5, 6, 7].map(() => {
      rejoins.start(trying, 0);
      rejoins.refused(0);
      return waitAfter(rejoins, 0);
    });
    expect(waits).toEqual([4000, 8000, 16000, 32000, REJOIN_MAX_MS, REJOIN_MAX_MS, REJOIN_MAX_MS]);
  });

  it('takes a try back once it flows with every other connection, then waits half the first wait for the next', () => {
    const rejoins = new Rejoins();
    rejoins.retire(0);
    rejoins.retire(0);
    rejoins.start(trying, 0);
    rejoins.refused(0);
    rejoins.start(trying, 0);
    expect(rejoins.confirm(0, 2, 3)).toBeUndefined();
    expect(rejoins.confirm(0, 3, 3)).toBe('example.org');
    expect(rejoins.isTry(segment)).toBe(false);
    expect(waitAfter(rejoins, 0, 3)).toBe(REJOIN_FIRST_MS / 2);
  });

  it('halves the wait with each try served, down to the shortest, and waits the first wait again after a retirement', () => {
    const rejoins = new Rejoins();
    for (let i = 0; i < 6; i++) rejoins.retire(0);
    const waits = [1, 2, 3, 4].map(() => {
      rejoins.start(trying, 0);
      rejoins.confirm(0, 2, 2);
      return waitAfter(rejoins, 0, 2, 50);
    });
    expect(waits).toEqual([1000, 500, REJOIN_MIN_MS, REJOIN_MIN_MS]);
    rejoins.retire(0);
    expect(waitAfter(rejoins, 0, 2, 50)).toBe(REJOIN_FIRST_MS);
  });

  it('tries no more once every retired connection is back', () => {
    const rejoins = new Rejoins();
    rejoins.retire(0);
    rejoins.start(trying, 0);
    rejoins.confirm(0, 2, 2);
    expect(rejoins.due(1e9, 2, 2)).toBe(false);
  });
});
