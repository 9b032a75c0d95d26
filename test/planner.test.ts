import { describe, expect, it } from 'vitest';
import { etagFlaps, ifRangeValue, type Plan } from '../src/planner.js';

const LM = 'Sat, 22 Nov 2025 10:24:34 GMT';
const plan = (etag: string | null, lastModified: string | null = LM, size = 100): Plan => ({
  url: 'http://x/f', finalUrl: 'http://x/f', size, ranges: true, etag, lastModified, fileName: 'f', notes: [],
});
const seen = (etag: string | null, lastModified: string | null = LM) => ({ etag, lastModified });

describe('etagFlaps', () => {
  it('is true when a new ETag comes with the same Last-Modified and the new plan does not confirm it', () => {
    expect(etagFlaps(plan('"a"'), seen('"b"'), plan('"a"'), new Set())).toBe(true);
  });

  it('is true when the new ETag is one planned with before', () => {
    expect(etagFlaps(plan('"b"'), seen('"a"'), plan('"a"'), new Set(['"a"', '"b"']))).toBe(true);
  });

  it('is false for a new version: the new plan confirms the new ETag, never seen before', () => {
    expect(etagFlaps(plan('"a"'), seen('"b"'), plan('"b"'), new Set(['"a"']))).toBe(false);
  });

  it('is false when Last-Modified or the size moved, or there is no Last-Modified to check by', () => {
    expect(etagFlaps(plan('"a"'), seen('"b"', 'Sun, 23 Nov 2025 00:00:00 GMT'), plan('"a"'), new Set())).toBe(false);
    expect(etagFlaps(plan('"a"'), seen('"b"'), plan('"a"', LM, 101), new Set())).toBe(false);
    expect(etagFlaps(plan('"a"', null), seen('"b"', null), plan('"a"', null), new Set())).toBe(false);
  });
});

describe('ifRangeValue', () => {
  it('takes a strong ETag, else Last-Modified', () => {
    expect(ifRangeValue(plan('"a"'))).toBe('"a"');
    expect(ifRangeValue(plan('W/"a"'))).toBe(LM);
    expect(ifRangeValue(plan(null, null))).toBeUndefined();
  });
});
