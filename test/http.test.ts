import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseHttpDate, parseRetryAfter } from '../src/http.js';

const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37);

describe('parseHttpDate', () => {
  it('reads the three forms of RFC 9110 as GMT, the zoneless asctime one too, wherever the machine is', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(NOV_6_1994);
      expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(NOV_6_1994);
      expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(NOV_6_1994);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('keeps an explicit offset, and refuses what is not a date', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 09:49:37 +0100')).toBe(NOV_6_1994);
    expect(parseHttpDate('yesterday')).toBeUndefined();
    expect(parseHttpDate('')).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  it('takes seconds or a date, never below 0 nor above the cap', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:47 GMT', NOV_6_1994)).toBe(10_000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:27 GMT', NOV_6_1994)).toBe(0);
    expect(parseRetryAfter('86400')).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
