import { describe, expect, it } from 'vitest';
import { KiB, MiB, useDownloads } from './support/harness.js';
import { sha256, testData } from './support/test-server.js';

const { serve, get, outputSha, notices } = useDownloads();
const data = testData(4 * MiB);

describe('--mirror', () => {
  it('spreads ranges across mirrors, the faster one doing more', async () => {
    const slow = await serve(data, { bytesPerSecond: 256 * KiB });
    const fast = await serve(data, { bytesPerSecond: 2 * MiB });
    await get(slow.url(), { connections: 4, mirrors: [fast.url('/copy.bin')] });
    expect(await outputSha()).toBe(sha256(data));
    expect(slow.rangedRequests.length).toBeGreaterThan(0);
    expect(fast.rangedRequests.length).toBeGreaterThan(0);
    expect(fast.bodyBytesSent).toBeGreaterThan(2 * slow.bodyBytesSent);
  });

  it('drops a failing mirror with a warning and finishes from the others', async () => {
    const main = await serve(data);
    const broken = await serve(data, { resetAfter: 1000, resets: 1000 });
    const seen: string[] = [];
    await get(main.url(), { connections: 4, retries: 1, mirrors: [broken.url()], onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen.join('\n')).toMatch(/dropped 127\.0\.0\.1:\d+ as a source/);
  });

  it.each([0, 2])('drops a mirror that refuses every connection (503) while the others serve, rather than retire its connections (--retries %i)', async (retries) => {
    const main = await serve(data, { bytesPerSecond: 2 * MiB });
    const busy = await serve(data, { busy: { status: 503, times: 1000 } });
    const seen: string[] = [];
    await get(main.url(), { connections: 4, retries, mirrors: [busy.url()], onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen).toEqual([expect.stringMatching(/^dropped 127\.0\.0\.1:\d+ as a source: .*HTTP 503/)]);
  });

  it("retires the connections beyond a mirror's limit, and keeps the mirror", async () => {
    const main = await serve(data, { bytesPerSecond: 1 * MiB });
    const limited = await serve(data, { maxActive: 1, bytesPerSecond: 1 * MiB });
    const seen: string[] = [];
    await get(main.url(), { connections: 6, retries: 0, mirrors: [limited.url()], onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen).toEqual([expect.stringMatching(new RegExp(`^${limited.url().split('/')[2]} refuses more connections \\(HTTP 503\\); going on with 4$`))]);
  });

  it('refuses a mirror that disagrees on the size', async () => {
    const main = await serve(data);
    const other = await serve(testData(3 * MiB));
    const seen: string[] = [];
    await get(main.url(), { connections: 4, mirrors: [other.url()], onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen.join('\n')).toMatch(/not using mirror .*: it says 3145728 bytes/);
    expect(other.rangedRequests.length).toBe(0);
  });
});
