import { describe, expect, it } from 'vitest';
import { parseContentRange, rangeHeader } from '../src/range.js';

describe('ByteRange', () => {
  it('is half-open; the Range header is inclusive', () => {
    expect(rangeHeader({ start: 10, end: 20 })).toBe('bytes=10-19');
    expect(rangeHeader({ start: 0, end: 1 })).toBe('bytes=0-0');
  });

  it('parses Content-Range', () => {
    expect(parseContentRange('bytes 0-0/100')).toEqual({ range: { start: 0, end: 1 }, total: 100 });
    expect(parseContentRange('bytes 10-19/*')).toEqual({ range: { start: 10, end: 20 }, total: undefined });
  });

  it.each(['', 'bytes 5-4/10', 'bytes 0-10/10', 'bytes */10', 'items 0-1/2', 'bytes 0-1', undefined])('rejects %s', (value) => {
    expect(parseContentRange(value)).toBeUndefined();
  });
});
