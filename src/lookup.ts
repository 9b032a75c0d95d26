import { lookup as systemLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';

/** How long a host's addresses serve new connections: DNS answers commonly live a minute or more. */
const REUSE_MS = 30_000;

type Answer = Parameters<Parameters<LookupFunction>[2]>;

/**
 * A `lookup` for net.connect that asks the resolver once per host for all of a download's
 * connections, instead of once per connection: 16 connections made 16 queries at once, and each
 * extra query is another chance to lose a UDP packet and wait out the resolver's 5 s timeout (here
 * 4 of 8 sets of 16 concurrent lookups waited 5 s, no single one did). Every connection then also
 * reaches the same address (one server of a round-robin name: one version of the file, one set of
 * validators). A failed lookup is not kept.
 */
export function sharedLookup(resolve: LookupFunction = systemLookup as LookupFunction, reuseMs = REUSE_MS, now = Date.now): LookupFunction {
  const answers = new Map<string, { at: number; answer: Promise<Answer> }>();
  return (hostname, options, callback) => {
    const key = `${hostname}\n${JSON.stringify(options)}`;
    let entry = answers.get(key);
    if (!entry || now() - entry.at >= reuseMs) {
      const answer = new Promise<Answer>((done, fail) => {
        resolve(hostname, options, (err, ...found) => (err ? fail(err) : done([null, ...found])));
      });
      const fresh = { at: now(), answer };
      answers.set(key, fresh);
      answer.catch(() => {
        if (answers.get(key) === fresh) answers.delete(key);
      });
      entry = fresh;
    }
    entry.answer.then(
      ([, address, family]) => callback(null, Array.isArray(address) ? [...address] : address, family),
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}
