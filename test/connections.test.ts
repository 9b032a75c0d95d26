import { describe, expect, it } from 'vitest';
import { resetsRetries } from '../src/connections.js';

const KiB = 1024;

describe('a failed attempt resets its range retry count', () => {
  it('when it delivered 64 KiB, or as much as it left', () => {
    expect(resetsRetries(64 * KiB, 10 * 1024 * KiB)).toBe(true);
    expect(resetsRetries(10 * KiB, 10 * KiB)).toBe(true);
    expect(resetsRetries(1, 0)).toBe(true);
  });

  it('not when it delivered less than both, or nothing', () => {
    expect(resetsRetries(63 * KiB, 10 * 1024 * KiB)).toBe(false);
    expect(resetsRetries(10 * KiB - 1, 10 * KiB)).toBe(false);
    expect(resetsRetries(0, 0)).toBe(false);
  });
});
