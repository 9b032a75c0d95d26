import { describe, expect, it } from 'vitest';
import { ConnectionGrant } from '../src/connection-grant.js';

describe('ConnectionGrant', () => {
  it('keeps what is given before the download takes it, hands it over at once, then passes on', () => {
    const grant = new ConnectionGrant();
    const taken: number[] = [];
    grant.give(2);
    grant.give(1);
    grant.take((extra) => taken.push(extra));
    grant.give(4);
    expect(taken).toEqual([3, 4]);
    expect(grant.given).toBe(7);
  });

  it('keeps what is given between two runs of a download for the next', () => {
    const grant = new ConnectionGrant();
    const first: number[] = [];
    const second: number[] = [];
    grant.take((extra) => first.push(extra));
    grant.take(undefined);
    grant.give(5);
    grant.take((extra) => second.push(extra));
    expect([first, second]).toEqual([[], [5]]);
  });
});
