import { describe, expect, it } from 'vitest';
import { median, percentile } from '../src/stats.js';

describe('statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const values = [5, 1, 4, 2, 3];
    expect([percentile(values, 0), median(values), percentile(values, 90), percentile(values, 100)]).toEqual([1, 3, 5, 5]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('takes the lower middle value as the median of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2);
  });
});
