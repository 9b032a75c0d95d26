import { describe, expect, it } from 'vitest';
import { ConnectionGrant, type Share } from '../src/connection-grant.js';

const share = (connections: number, bytesPerSecond = 0): Share => ({ connections, bytesPerSecond });

describe('ConnectionGrant', () => {
  it('keeps what is given before the download takes it, hands it over at once, then passes on', () => {
    const grant = new ConnectionGrant();
    const taken: Share[] = [];
    grant.give(share(2, 100));
    grant.give(share(1));
    grant.take((extra) => taken.push(extra));
    grant.give(share(4, 50));
    expect(taken).toEqual([share(3, 100), share(4, 50)]);
    expect(grant.given).toEqual(share(7, 150));
  });

  it('keeps what is given between two runs of a download for the next', () => {
    const grant = new ConnectionGrant();
    const first: Share[] = [];
    const second: Share[] = [];
    grant.take((extra) => first.push(extra));
    grant.take(undefined);
    grant.give(share(5));
    grant.take((extra) => second.push(extra));
    expect([first, second]).toEqual([[], [share(5)]]);
  });
});
