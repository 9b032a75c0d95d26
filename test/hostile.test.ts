import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../src/errors.js';
import type { DownloadEvent } from '../src/events.js';
import { KiB, MiB, useDownloads } from './support/harness.js';
import { sha256, testData } from './support/test-server.js';

const { serve, get, outputSha, expectFiles, notices } = useDownloads();

describe('flaky networks: recover', () => {
  it.each([
    ['503 with Retry-After in seconds', { status: 503, times: 2, retryAfter: '1' }, 1000],
    ['429 with Retry-After as an HTTP date', { status: 429, times: 1, retryAfter: new Date(Date.now() + 60_000).toUTCString() }, 60_000],
    ['500 without Retry-After', { status: 500, times: 2 }, undefined],
  ])('waits and retries after %s', async (_, busy, expectedDelay) => {
    const data = testData(MiB);
    const s = await serve(data, { busy: { ...busy } });
    if (expectedDelay === 60_000) s.behaviour.busy!.retryAfter = new Date(Date.now() + 1500).toUTCString();
    const retries: Array<Extract<DownloadEvent, { type: 'retry' }>> = [];
    await get(s.url(), { connections: 1, onEvent: (e) => e.type === 'retry' && retries.push(e) });
    expect(await outputSha()).toBe(sha256(data));
    expect(retries).toHaveLength(busy.times);
    if (expectedDelay === 1000) expect(retries.every((r) => r.delayMs === 1000)).toBe(true);
    if (expectedDelay === 60_000) expect(retries[0]!.delayMs).toBeGreaterThan(300);
    if (expectedDelay === undefined) expect(retries[0]!.delayMs).toBeLessThan(1000);
  });

  it('rides out a server restart: connections cut, then refused, then back', async () => {
    const data = testData(2 * MiB);
    const s = await serve(data, { bytesPerSecond: 512 * KiB });
    let restarting: Promise<void> | undefined;
    const result = await get(s.url(), {
      connections: 4,
      retries: 5,
      onEvent: (e) => {
        if (e.type === 'progress' && e.bytes > MiB / 2) restarting ??= s.restart(700);
      },
    });
    await restarting;
    expect(await outputSha()).toBe(sha256(data));
    expect(result.retries).toBeGreaterThanOrEqual(4);
  });

  it('fails, rather than going on with one connection, when the server stays down for everyone', async () => {
    const data = testData(4 * MiB);
    const s = await serve(data, { bytesPerSecond: 512 * KiB });
    let restarting: Promise<void> | undefined;
    const seen: string[] = [];
    const run = get(s.url(), {
      connections: 4,
      retries: 2,
      onEvent: (e) => {
        if (e.type === 'notice') seen.push(e.message);
        if (e.type === 'progress' && e.bytes > MiB / 2) restarting ??= s.restart(4000);
      },
    });
    await expect(run).rejects.toThrow(/refused the connection|reset the connection|closed the connection/);
    await restarting;
    expect(seen.filter((m) => m.includes('refuses more connections'))).toEqual([]);
  });

  it('re-requests a range whose connection crawls far behind the others', async () => {
    const data = testData(24 * MiB);
    const s = await serve(data, { bytesPerSecond: 2 * MiB, slowNth: { nth: 2, bytesPerSecond: 100 * KiB } });
    const reasons: string[] = [];
    await get(s.url(), { connections: 4, onEvent: (e) => e.type === 'retry' && reasons.push(e.reason) });
    expect(await outputSha()).toBe(sha256(data));
    expect(reasons.some((r) => /crawling at \d+ KiB\/s/.test(r))).toBe(true);
  });

  it('re-requests a range whose request gets no response while the server answers the others at once', async () => {
    const data = testData(8 * MiB);
    const s = await serve(data, { bytesPerSecond: 4 * MiB, silentNth: 2 });
    const reasons: string[] = [];
    // The idle timeout alone would hold the range for 30 s, beyond the test's time limit.
    await get(s.url(), { connections: 4, timeoutMs: 30_000, onEvent: (e) => e.type === 'retry' && reasons.push(e.reason) });
    expect(await outputSha()).toBe(sha256(data));
    expect(reasons.some((r) => /^no response after \d\.\d s, where the server usually answers in [\d.]+ s; re-requesting$/.test(r))).toBe(true);
    // Asked for again from its start (its end may have moved: idle connections steal from it too).
    const silentFrom = s.rangedRequests[1]!.range!.split('-')[0]!;
    expect(s.rangedRequests.slice(4).some((r) => r.range!.startsWith(`${silentFrom}-`))).toBe(true);
  });

  it('retries the planning request when the server is busy', async () => {
    const data = testData(MiB);
    const s = await serve(data, { planBusy: 3 });
    const seen: string[] = [];
    await get(s.url(), { onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen.join('\n')).toMatch(/HTTP 503.*retrying/);
  });

  it('re-requests a range whose connection sends headers and then nothing', async () => {
    const data = testData(MiB);
    const s = await serve(data, { stall: { afterBytes: 0, times: 2 } });
    const result = await get(s.url(), { connections: 2, timeoutMs: 500 });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.retries).toBe(2);
  });

  it('splits ranges soundly while most connections send nothing (every pace 0)', async () => {
    const data = testData(4 * MiB);
    const s = await serve(data, { bytesPerSecond: MiB, stall: { afterBytes: 0, times: 3 } });
    await get(s.url(), { connections: 4, timeoutMs: 3000 });
    expect(await outputSha()).toBe(sha256(data));
    for (const { range } of s.rangedRequests) expect(range).toMatch(/^bytes=\d+-\d+$/);
  });

  it('re-requests a range whose connection trickles', async () => {
    const data = testData(MiB);
    const s = await serve(data, { stall: { afterBytes: 100 * KiB, times: 1, trickle: true } });
    const retries: string[] = [];
    const result = await get(s.url(), { connections: 2, timeoutMs: 1000, onEvent: (e) => e.type === 'retry' && retries.push(e.reason) });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.retries).toBe(1);
    expect(retries[0]).toMatch(/stalled/);
  });

  it('fails fast, without retries, on a 4xx', async () => {
    const s = await serve(testData(10), { status: 403 });
    const started = performance.now();
    await expect(get(s.url(), { retries: 5 })).rejects.toThrow(HttpError);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('fails fast when nothing listens, naming the cause', async () => {
    await expect(get('http://127.0.0.1:1/x', { retries: 5 })).rejects.toThrow(/127.0.0.1:1 refused the connection \(ECONNREFUSED\); check the port/);
  });

  it('fails fast when the port speaks another protocol, saying so', async () => {
    const ssh = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    await new Promise<void>((resolve) => ssh.listen(0, '127.0.0.1', resolve));
    const { port } = ssh.address() as AddressInfo;
    const started = performance.now();
    try {
      await expect(get(`http://127.0.0.1:${port}/x`, { retries: 5 })).rejects.toThrow(/did not answer in HTTP \(Expected HTTP\/.*\); check the URL's scheme and port/);
    } finally {
      ssh.close();
    }
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('lying or odd servers: never corrupt', () => {
  it.each([
    ['longer', 3 * MiB],
    ['shorter', MiB / 2],
  ])('trusts the ranged GET over a HEAD that says the file is %s', async (_, headLength) => {
    const data = testData(2 * MiB + 3);
    const s = await serve(data, { headLength });
    const seen: string[] = [];
    await get(s.url(), { connections: 4, onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen.join('\n')).toMatch(/ranged responses say 2097155.*trusting/);
  });

  it('asks with a ranged GET when HEAD says the file is empty, and trusts it', async () => {
    const data = testData(2 * MiB + 3);
    const s = await serve(data, { headLength: 0 });
    const seen: string[] = [];
    const result = await get(s.url(), { connections: 4, onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.connections).toBeGreaterThan(1);
    expect(seen.join('\n')).toMatch(/HEAD said 0 bytes but a ranged GET says 2097155; trusting the GET/);
  });

  it('decodes a compressed body instead of writing gzip as the file', async () => {
    const data = Buffer.concat([testData(256 * KiB), Buffer.alloc(MiB, 'a')]);
    const s = await serve(data, { gzip: true });
    const seen: string[] = [];
    const result = await get(s.url(), { connections: 4, onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.bytes).toBe(data.length);
    expect(seen.join('\n')).toMatch(/compresses ranged responses/);
    await expectFiles('out.bin');
  });

  it('resolves an expired signed redirect target again and carries on', async () => {
    const data = testData(2 * MiB);
    const s = await serve(data, { signed: { path: '/signed', uses: 3 } });
    const seen: string[] = [];
    await get(s.url('/signed'), { connections: 4, minSegmentSize: 64 * KiB, onEvent: notices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen.join('\n')).toMatch(/refused the redirect target; resolved .*\/signed again/);
  });

  it('gives up resolving again when the new targets refuse too', async () => {
    const s = await serve(testData(MiB), { signed: { path: '/signed', uses: 1 } });
    await expect(get(s.url('/signed'), { connections: 2 })).rejects.toMatchObject({ status: 403 });
  });

  it('never sends Authorization or Cookie to another origin', async () => {
    const data = testData(MiB);
    const target = await serve(data);
    const origin = await serve(data, { redirects: { '/go': target.url('/file.bin') } });
    await get(origin.url('/go'), { connections: 2, headers: { Authorization: 'Bearer secret', Cookie: 'session=1', 'X-Trace': 'ok' } });
    expect(await outputSha()).toBe(sha256(data));
    expect(origin.requests[0]).toMatchObject({ authorization: 'Bearer secret' });
    expect(target.requests.length).toBeGreaterThan(0);
    for (const request of target.requests) {
      expect(request).toMatchObject({ authorization: undefined, cookie: undefined, trace: 'ok' });
    }
  });

  it('refuses more than 10 redirects', async () => {
    const redirects = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`/r${i}`, `/r${i + 1}`]));
    const s = await serve(testData(10), { redirects });
    await expect(get(s.url('/r0'))).rejects.toThrow(/more than 10 redirects/);
  });
});

describe('rate limit', () => {
  it('keeps the overall speed within 10% of --limit-rate across connections', async () => {
    const data = testData(8 * MiB);
    const s = await serve(data);
    const limit = 2 * MiB;
    const result = await get(s.url(), { connections: 4, limitRate: limit });
    expect(await outputSha()).toBe(sha256(data));
    const speed = data.length / result.seconds;
    expect(Math.abs(speed - limit) / limit).toBeLessThan(0.1);
  });
});
