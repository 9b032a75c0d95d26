import { describe, expect, it } from 'vitest';
import { PaceWatch } from '../src/pace-watch.js';
import { newSegment } from '../src/scheduler.js';

describe('PaceWatch', () => {
  it('allows a range three crawl restarts, then leaves it to its pace', () => {
    const watch = new PaceWatch(4);
    const segment = newSegment({ start: 0, end: 1000 });
    expect([1, 2, 3, 4].map(() => watch.countRestart(segment))).toEqual([1, 2, 3, undefined]);
    expect(watch.countRestart(newSegment({ start: 1000, end: 2000 }))).toBe(1);
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
});
