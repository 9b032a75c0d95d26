import { describe, expect, it } from 'vitest';
import { fileMap } from '../../src/cli/file-map.js';

const short = (cells: string[]) => cells.map((c) => ({ done: '#', active: '>', missing: '.' })[c]).join('');

describe('fileMap', () => {
  it('shows done, in-flight and missing regions', () => {
    const segments = [
      { start: 0, end: 40, written: 40, active: false },
      { start: 40, end: 80, written: 10, active: true },
      { start: 80, end: 100, written: 0, active: false },
    ];
    expect(short(fileMap(100, segments, 10))).toBe('#####>>>..');
  });

  it('fits any width, wider than the file too', () => {
    const segments = [{ start: 0, end: 3, written: 1, active: true }];
    expect(short(fileMap(3, segments, 6))).toBe('##>>>>');
    expect(fileMap(3, segments, 0)).toEqual([]);
    expect(fileMap(0, [], 10)).toEqual([]);
  });
});
