import { describe, expect, it } from 'vitest';
import { REJOIN_FIRST_MS, REJOIN_MAX_MS, RejoinClock } from '../src/rejoin.js';

describe('RejoinClock', () => {
  it('is not due until connections retire, then after the first wait', () => {
    const clock = new RejoinClock();
    expect(clock.due(1e9)).toBe(false);
    clock.wait(1000);
    expect(clock.due(1000 + REJOIN_FIRST_MS - 1)).toBe(false);
    expect(clock.due(1000 + REJOIN_FIRST_MS)).toBe(true);
  });

  it('doubles the wait after each refused try, up to a minute, and starts over after one served', () => {
    const clock = new RejoinClock();
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      clock.refused(0);
      let wait = 0;
      while (!clock.due(wait)) wait += 1000;
      waits.push(wait);
    }
    expect(waits).toEqual([4000, 8000, 16000, 32000, REJOIN_MAX_MS, REJOIN_MAX_MS, REJOIN_MAX_MS]);
    clock.served(0);
    expect(clock.due(REJOIN_FIRST_MS - 1)).toBe(false);
    expect(clock.due(REJOIN_FIRST_MS)).toBe(true);
  });
});
