import { describe, expect, it } from 'vitest';
import { LoopLoad, eventLoopWindows, stillSaturated } from '../src/loop-load.js';

describe('stillSaturated', () => {
  it('enters after three busy windows in a row, and leaves once a window has time to spare', () => {
    expect(stillSaturated(false, 0, 1)).toBe(false);
    expect(stillSaturated(false, 1, 1)).toBe(false);
    expect(stillSaturated(false, 2, 0.9)).toBe(false);
    expect(stillSaturated(false, 2, 0.96)).toBe(true);
    expect(stillSaturated(true, 5, 0.85)).toBe(true);
    expect(stillSaturated(true, 5, 0.5)).toBe(false);
  });
});

describe('LoopLoad', () => {
  it('keeps its verdict while a window runs and updates it when one ends', () => {
    const windows = [undefined, 1, undefined, 1, 0.5, 1, 1, 1, undefined, 0.9, 0.3, undefined];
    const load = new LoopLoad(() => windows.shift());
    const verdicts = Array.from({ length: 12 }, () => load.isSaturated);
    expect(verdicts).toEqual([false, false, false, false, false, false, false, true, true, true, false, false]);
  });
});

describe('eventLoopWindows', () => {
  it("reports nothing until a window ends, then the loop's utilisation over it", async () => {
    const windows = eventLoopWindows(100);
    expect(windows()).toBeUndefined();
    // A loop held by synchronous work is fully used; one waiting on a timer hardly at all.
    const until = performance.now() + 150;
    while (performance.now() < until);
    expect(windows()).toBeGreaterThan(0.9);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(windows()).toBeLessThan(0.5);
  });
});
