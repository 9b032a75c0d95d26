import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { formatBytes, parseSize, shareOf } from '../src/size.js';

describe('parseSize', () => {
  it.each([
    ['1048576', 1048576], ['512K', 512 * 1024], ['4M', 4 * 2 ** 20], ['1MiB', 2 ** 20],
    ['2GB', 2 * 2 ** 30], ['1.5k', 1536], [' 8 m ', 8 * 2 ** 20], ['1b', 1],
  ])('%s = %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['banana', '', '0', '-1M', '1X', 'M', '1e9'])('rejects %s with a usage error', (text) => {
    expect(() => parseSize(text)).toThrow(UsageError);
  });
});

describe('formatBytes', () => {
  it('uses binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(256 * 2 ** 20)).toBe('256.0 MiB');
  });

  it('rounds a fractional count of bytes (a slow rate)', () => {
    expect(formatBytes(81.037)).toBe('81 B');
  });
});

describe('shareOf', () => {
  it('shares a budget in steps of the minimum, within bounds', () => {
    expect([1, 3, 4, 5, 16, 1000].map((parts) => shareOf(1024, parts, 64, 512))).toEqual([512, 320, 256, 192, 64, 64]);
    expect(shareOf(1024, 0, 64, 512)).toBe(512);
    expect(shareOf(1024, Infinity, 64, 512)).toBe(64);
  });
});
