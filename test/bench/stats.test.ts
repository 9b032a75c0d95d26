import { describe, expect, it } from 'vitest';
import { findKnee, kneeSentence } from '../../src/bench/stats.js';

describe('bench statistics', () => {
  const curve = (throughputs: number[]) => throughputs.map((throughput, i) => ({ connections: 2 ** i, throughput }));

  it('finds the smallest count within 90% of the best', () => {
    expect(findKnee(curve([10, 20, 40, 76, 80]))).toBe(8);
    expect(findKnee(curve([10, 20, 40, 80, 78]))).toBe(8);
    expect(findKnee(curve([50, 50, 50]))).toBe(1);
  });

  it('says it in one sentence', () => {
    expect(kneeSentence(curve([10, 20, 40, 76, 80]))).toBe('8 connections reach 95% of the best; more add little.');
    expect(kneeSentence(curve([50, 49]))).toBe('1 connection reaches 100% of the best; more add little.');
    expect(kneeSentence(curve([10, 20, 40]))).toMatch(/^4 connections reach the best throughput .* try more/);
    expect(kneeSentence(curve([10, 20, 40]), true)).toBe('4 connections reach the best throughput.');
  });
});
