import { describe, expect, it } from 'vitest';
import { Pacer } from '../src/pacer.js';

describe('Pacer', () => {
  it('makes bytes sent ahead wait at the new rate after setRate', () => {
    const pacer = new Pacer(1000);
    pacer.count(1000);
    expect(pacer.waitMs()).toBeGreaterThan(950);
    pacer.setRate(4000);
    expect(pacer.bytesPerSecond).toBe(4000);
    const wait = pacer.waitMs();
    expect(wait).toBeGreaterThan(200);
    expect(wait).toBeLessThan(260);
  });
});
