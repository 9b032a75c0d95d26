import { lookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sharedLookup } from '../src/lookup.js';

/** The system resolver, counting the questions it is asked ('localhost' is answered from /etc/hosts). */
function countingResolver(): { resolve: LookupFunction; calls: () => number } {
  let calls = 0;
  const resolve: LookupFunction = (hostname, options, callback) => {
    calls++;
    (lookup as LookupFunction)(hostname, options, callback);
  };
  return { resolve, calls: () => calls };
}

/** One lookup through `lookupFn`, as net.connect makes it with autoSelectFamily. */
function addresses(lookupFn: LookupFunction, hostname = 'localhost', options = { all: true }): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookupFn(hostname, options, (err, found) => (err ? reject(err) : resolve(found as LookupAddress[])));
  });
}

describe('sharedLookup', () => {
  it('asks the resolver once for concurrent and later lookups of one host, and again for other options', async () => {
    const { resolve, calls } = countingResolver();
    const shared = sharedLookup(resolve);
    const answers = await Promise.all(Array.from({ length: 16 }, () => addresses(shared)));
    expect(answers[0]!.map((a) => a.address)).toContain('127.0.0.1');
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    await addresses(shared);
    expect(calls()).toBe(1);
    await addresses(shared, 'localhost', { all: true, family: 4 } as { all: true });
    expect(calls()).toBe(2);
  });

  it('asks again once the answer is REUSE_MS old, and after a failure', async () => {
    let now = 0;
    const { resolve, calls } = countingResolver();
    let failNext = true;
    const flaky: LookupFunction = (hostname, options, callback) => {
      if (!failNext) return resolve(hostname, options, callback);
      failNext = false;
      setImmediate(() => callback(Object.assign(new Error('getaddrinfo EAI_AGAIN localhost'), { code: 'EAI_AGAIN' }), ''));
    };
    const shared = sharedLookup(flaky, 1000, () => now);
    await expect(addresses(shared)).rejects.toThrow('EAI_AGAIN');
    await addresses(shared);
    now = 999;
    await addresses(shared);
    expect(calls()).toBe(1);
    now = 1000;
    await addresses(shared);
    expect(calls()).toBe(2);
  });
});
