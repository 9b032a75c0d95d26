import { describe, expect, it } from 'vitest';
import { PIECE_BYTES, splitIntoPieces } from '../src/write-pieces.js';

/** Each piece as [file offset, bytes]. */
function windows(pieces: Buffer[][], position: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const piece of pieces) {
    const bytes = piece.reduce((sum, part) => sum + part.length, 0);
    out.push([position, bytes]);
    position += bytes;
  }
  return out;
}

describe('splitIntoPieces', () => {
  it('is 32 KiB: larger writes get page-cache folios from cold memory here', () => {
    expect(PIECE_BYTES).toBe(32 * 1024);
  });

  it('ends every piece but the last on a window boundary, and fills no piece past its window', () => {
    const chunks = [Buffer.alloc(5), Buffer.alloc(3), Buffer.alloc(20), Buffer.alloc(1)];
    expect(windows(splitIntoPieces(chunks, 6, 8), 6)).toEqual([[6, 2], [8, 8], [16, 8], [24, 8], [32, 3]]);
  });

  it('keeps the bytes and their order, gathering a window that spans chunks into one piece', () => {
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const chunks = [data.subarray(0, 3), data.subarray(3, 4), data.subarray(4, 19), data.subarray(19)];
    const pieces = splitIntoPieces(chunks, 13, 10);
    expect(pieces.map((piece) => Buffer.concat(piece).toString())).toEqual(['abcdefg', 'hijklmnopq', 'rstuvwxyz']);
    expect(pieces[0]!.map(String)).toEqual(['abc', 'd', 'efg']);
  });

  it('passes a chunk that fills a window as it is, and nothing for no bytes', () => {
    const whole = Buffer.alloc(PIECE_BYTES);
    expect(splitIntoPieces([whole], 3 * PIECE_BYTES)[0]![0]).toBe(whole);
    expect(splitIntoPieces([], 7)).toEqual([]);
    expect(splitIntoPieces([Buffer.alloc(0)], 7)).toEqual([]);
  });
});
