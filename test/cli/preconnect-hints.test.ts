import { describe, expect, it } from 'vitest';
import { PreconnectHints, SMALL_FILES_IN_A_ROW } from '../../src/cli/preconnect-hints.js';

describe('PreconnectHints', () => {
  it('opens one connection ahead once a server has served a few files in a row on one connection each', () => {
    const hints = new PreconnectHints();
    for (let i = 0; i < SMALL_FILES_IN_A_ROW; i++) {
      expect(hints.for('https://a.example/f')).toBeUndefined();
      hints.record(`https://a.example/f${i}`, 1);
    }
    expect(hints.for('https://a.example/g')).toBe(1);
    expect(hints.for('https://user:secret@a.example:443/g')).toBe(1);
  });

  it('counts each server apart, and starts over after a file that used more connections', () => {
    const hints = new PreconnectHints();
    for (let i = 0; i < SMALL_FILES_IN_A_ROW; i++) hints.record('https://a.example/f', 1);
    expect(hints.for('https://b.example/f')).toBeUndefined();
    expect(hints.for('http://a.example/f')).toBeUndefined();
    hints.record('https://a.example/big.iso', 8);
    expect(hints.for('https://a.example/f')).toBeUndefined();
  });

  it('leaves an invalid URL to the download to reject', () => {
    expect(new PreconnectHints().for('not a url')).toBeUndefined();
  });
});
