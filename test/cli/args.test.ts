import { describe, expect, it } from 'vitest';
import { handOut, shareBudget } from '../../src/cli/args.js';
import { ConnectionGrant } from '../../src/connection-grant.js';

describe('shareBudget', () => {
  const list = ['a', 'b', 'c'].map((name) => ({ url: `http://x/${name}`, connections: 12, limitRate: 9_000_000 }));

  it('gives each running download an equal part of -n and --limit-rate', () => {
    expect(shareBudget(list, 3).map((o) => [o.connections, o.limitRate])).toEqual([[4, 3_000_000], [4, 3_000_000], [4, 3_000_000]]);
    expect(shareBudget(list, 2).map((o) => [o.connections, o.limitRate])).toEqual([[6, 4_500_000], [6, 4_500_000], [6, 4_500_000]]);
  });

  it('leaves at least one connection and no rate limit where none was asked for', () => {
    const shared = shareBudget([{ url: 'http://x/a', connections: 1 }, { url: 'http://x/b', connections: 1 }], 2);
    expect(shared.map((o) => o.connections)).toEqual([1, 1]);
    expect(shared.every((o) => !('limitRate' in o))).toBe(true);
  });
});

describe('handOut', () => {
  it('shares freed connections as evenly as whole ones go, and the rate evenly', () => {
    const grants = [new ConnectionGrant(), new ConnectionGrant()];
    handOut({ connections: 5, bytesPerSecond: 1000 }, grants);
    expect(grants.map((g) => g.given)).toEqual([{ connections: 3, bytesPerSecond: 500 }, { connections: 2, bytesPerSecond: 500 }]);
  });
});
