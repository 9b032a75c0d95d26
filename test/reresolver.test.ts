import { describe, expect, it } from 'vitest';
import { HttpError, NetworkError } from '../src/errors.js';
import type { Plan } from '../src/planner.js';
import { isExpiredTarget } from '../src/reresolver.js';

const plan = (finalUrl: string): Plan => ({
  url: 'https://cdn.example/f.iso', finalUrl, size: 10, ranges: true, etag: null, lastModified: null, fileName: 'f.iso', notes: [],
});

describe('isExpiredTarget', () => {
  it('is a 403, 404 or 410 from where a redirect led', () => {
    const signed = plan('https://edge.example/f.iso?sig=1');
    for (const status of [403, 404, 410]) expect(isExpiredTarget(new HttpError(status, signed.finalUrl), signed)).toBe(true);
  });

  it('is not another failure, nor a refusal from the URL as given', () => {
    const signed = plan('https://edge.example/f.iso?sig=1');
    expect(isExpiredTarget(new HttpError(500, signed.finalUrl), signed)).toBe(false);
    expect(isExpiredTarget(new NetworkError('reset'), signed)).toBe(false);
    expect(isExpiredTarget(new HttpError(403, 'https://cdn.example/f.iso'), plan('https://cdn.example/f.iso'))).toBe(false);
  });
});
