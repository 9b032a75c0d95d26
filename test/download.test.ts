import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { download } from '../src/download.js';
import { HttpError, IntegrityError, ManifestError, OutputExistsError, ProtocolError, RangegetError, UsageError } from '../src/errors.js';
import type { DownloadEvent } from '../src/events.js';
import type { DownloadOptions } from '../src/options.js';
import { SPREAD_MIN_BYTES, START_SPREAD_MS } from '../src/scheduler.js';
import { KiB, MiB, useDownloads } from './support/harness.js';
import { sha256, testData, versionTime } from './support/test-server.js';

const { serve, get, getChecked, outputSha, expectFiles, notices: collectNotices, dir: tempDir } = useDownloads();
let dir: string;
beforeEach(() => {
  dir = tempDir();
});

describe('download', () => {
  it('fetches a file over several connections, byte for byte', async () => {
    const data = testData(3 * MiB + 123);
    const s = await serve(data);
    const result = await get(s.url(), { connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
    expect(result).toMatchObject({ bytes: data.length, resumedBytes: 0 });
    expect(result.connections).toBeGreaterThan(1);
    await expectFiles('out.bin');
  });

  it('reaches a named host, resolved once for all connections (lookup.ts)', async () => {
    const data = testData(2 * MiB + 7);
    const s = await serve(data);
    await get(s.url().replace('127.0.0.1', 'localhost'), { connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
  });

  it('spreads the first requests of a large download over START_SPREAD_MS, and of a small one not', async () => {
    const data = testData(2 * SPREAD_MIN_BYTES);
    const s = await serve(data, { bytesPerSecond: 4 * SPREAD_MIN_BYTES });
    await get(s.url(), { connections: 2 });
    expect(await outputSha()).toBe(sha256(data));
    const first = s.rangedRequests.slice(0, 2);
    expect(new Set(first.map((r) => r.range)).size).toBe(2);
    // Timers never fire early: the second request waits at least half the spread.
    expect(first[1]!.at - first[0]!.at).toBeGreaterThanOrEqual(START_SPREAD_MS / 2 - 1);

    const small = await serve(testData(4 * MiB), { bytesPerSecond: 4 * MiB });
    await get(small.url(), { connections: 4, output: 'small.bin' });
    const starts = small.rangedRequests.slice(0, 4).map((r) => r.at);
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThan(START_SPREAD_MS / 2);
  });

  it("gives the file the server's Last-Modified with remoteTime, and says when there is none", async () => {
    const s = await serve(testData(MiB));
    await get(s.url(), { remoteTime: true });
    expect((await stat(join(dir, 'out.bin'))).mtimeMs).toBe(Date.parse(s.lastModified));
    const bare = await serve(testData(MiB), { hideLastModified: true });
    const notices: string[] = [];
    await get(bare.url(), { remoteTime: true, output: 'bare.bin', onEvent: collectNotices(notices) });
    expect(notices).toContain('the server sent no usable Last-Modified; bare.bin keeps the time it was saved');
    expect(Date.now() - (await stat(join(dir, 'bare.bin'))).mtimeMs).toBeLessThan(60_000);
  });

  it('reports a speed from the first progress event that has bytes (a short download may have no other)', async () => {
    const s = await serve(testData(2 * MiB), { bytesPerSecond: 4 * MiB });
    const events: Array<{ bytes: number; speed: number }> = [];
    await get(s.url(), { connections: 2, onEvent: (e) => void (e.type === 'progress' && events.push(e)) });
    const first = events.find((e) => e.bytes > 0);
    expect(first?.speed).toBeGreaterThan(0);
  });

  it('sends If-Range with the strong validator on every ranged request', async () => {
    const s = await serve(testData(3 * MiB), { bytesPerSecond: 8 * MiB });
    await get(s.url(), { connections: 4 });
    const ranged = s.requests.filter((r) => r.method === 'GET' && r.range);
    expect(ranged.length).toBeGreaterThanOrEqual(4);
    expect(ranged.every((r) => r.ifRange === s.etag)).toBe(true);
  });

  it('never writes past a range end, whatever the server sends', async () => {
    const data = testData(2 * MiB);
    const s = await serve(data, { overlong: 4096 });
    await get(s.url(), { connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
  });

  it('retries a ranged body shorter than its Content-Range, saying its Content-Length was short', async () => {
    const data = testData(2 * MiB);
    const s = await serve(data, { shortBodies: { by: 4096, times: 2 } });
    const reasons: string[] = [];
    // Ranges of the minimum size: a steal would cut a short range before its early end.
    await get(s.url(), { connections: 4, minSegmentSize: 512 * KiB, onEvent: (e) => void (e.type === 'retry' && reasons.push(e.reason)) });
    expect(await outputSha()).toBe(sha256(data));
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) expect(reason).toMatch(/^127\.0\.0\.1:\d+ ended its response 4096 bytes early: its Content-Length \(\d+\) is less than the \d+ bytes its Content-Range names$/);
  });

  it('names the file from Content-Disposition, sanitised, inside the directory', async () => {
    const s = await serve(testData(1000), { contentDisposition: 'attachment; filename="../../evil.sh"' });
    await download({ url: s.url('/x/y'), dir });
    await expectFiles('evil.sh');
  });

  it('names the file from the URL when the server does not', async () => {
    const s = await serve(testData(1000));
    await download({ url: s.url('/path/my%20data.bin'), dir });
    await expectFiles('my data.bin');
  });

  it.each([0, 1, 2, 1000])('handles a %d-byte file', async (size) => {
    const data = testData(size);
    const s = await serve(data);
    await get(s.url(), { connections: 8, minSegmentSize: 1 });
    expect(await outputSha()).toBe(sha256(data));
    await expectFiles('out.bin');
  });

  it('handles N larger than the size and sizes not divisible by N', async () => {
    const data = testData(7);
    const s = await serve(data);
    await get(s.url(), { connections: 64, minSegmentSize: 1 });
    expect(await outputSha()).toBe(sha256(data));
    const odd = testData(1_000_003);
    s.setFile(odd);
    await get(s.url(), { connections: 7, minSegmentSize: 1, output: 'odd.bin' });
    expect(await outputSha('odd.bin')).toBe(sha256(odd));
  });

  it('uses one connection when the server has no ranges', async () => {
    const data = testData(2 * MiB);
    const { server: s, notices, result } = await getChecked(data, { ranges: false }, { connections: 8 });
    expect(result.connections).toBe(1);
    expect(s.rangedRequests).toHaveLength(0);
    expect(notices).toEqual([`${new URL(s.url()).host} does not serve byte ranges: one connection, and an interrupted download starts over`]);
  });

  it('probes with a ranged GET when Accept-Ranges is missing, and still splits', async () => {
    const data = testData(2 * MiB);
    const s = await serve(data, { hideAcceptRanges: true });
    const result = await get(s.url(), { connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.connections).toBeGreaterThan(1);
  });

  it('probes with a ranged GET when HEAD is refused', async () => {
    const data = testData(MiB);
    const { notices } = await getChecked(data, { headStatus: 405 }, { connections: 4 });
    expect(notices.join('\n')).toMatch(/HEAD answered 405/);
  });

  it('streams to the end when there is no Content-Length', async () => {
    const data = testData(MiB + 5);
    const { server: s, notices, result } = await getChecked(data, { noLength: true });
    expect(result.bytes).toBe(data.length);
    expect(notices).toEqual([`${new URL(s.url()).host} does not say the file's size: one connection, and an interrupted download starts over`]);
    await expectFiles('out.bin');
  });

  it('follows redirects and sends data requests to the final URL', async () => {
    const data = testData(MiB);
    const s = await serve(data, { redirects: { '/a': '/b', '/b': '/file.bin' } });
    await get(s.url('/a'), { connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
    const ranged = s.rangedRequests;
    expect(ranged.every((r) => r.path === '/file.bin')).toBe(true);
  });

  it('opens the range requests\' connections while the HEAD is under way', async () => {
    const { server } = await getChecked(testData(MiB), { headDelayMs: 150 }, { connections: 4 });
    const head = server.requests.find((r) => r.method === 'HEAD')!;
    // The HEAD's own connection and four for the ranges (a steal's victim, cut, may need one more later).
    expect(server.connectionTimes.filter((at) => at < head.at)).toHaveLength(5);
  });

  it('opens the early connections to the server the HEAD is redirected to, and closes those to the first', async () => {
    const data = testData(MiB);
    const final = await serve(data, { headDelayMs: 150 });
    const first = await serve(data, { redirects: { '/a': final.url() } });
    await get(first.url('/a'), { connections: 4 });
    expect(await outputSha()).toBe(sha256(data));
    const head = final.requests.find((r) => r.method === 'HEAD')!;
    expect(final.connectionTimes.filter((at) => at < head.at)).toHaveLength(5);
    expect(first.connectionTimes).toHaveLength(5);
    await first.connectionsReach(5, true);
    expect(first.closeTimes).toHaveLength(5);
  });

  it('closes the connections it opened early that a small file leaves unused once the plan is known', async () => {
    // One range of 100 KiB at 200 KiB/s: half a second, and three of four early connections idle.
    const { server } = await getChecked(testData(100 * KiB), { bytesPerSecond: 200 * KiB }, { connections: 4 });
    const [ranged] = server.rangedRequests;
    expect(server.rangedRequests).toHaveLength(1);
    // The HEAD's own connection and the three idle ones, closed long before the range ends.
    expect(server.closeTimes.filter((at) => at < ranged!.at + 200)).toHaveLength(4);
  });

  it('refuses a redirect loop', async () => {
    const s = await serve(testData(10), { redirects: { '/a': '/b', '/b': '/a' } });
    await expect(get(s.url('/a'))).rejects.toThrow(/redirect loop/);
    await expectFiles();
  });

  it('falls back to one connection from byte 0 when the server ignores Range', async () => {
    const data = testData(2 * MiB);
    const { notices } = await getChecked(data, { ignoreRange: true }, { connections: 4 });
    expect(notices.join('\n')).toMatch(/ignores Range/);
  });

  it('falls back to one connection from byte 0 when ranged responses leave the size unknown (bytes a-b/*)', async () => {
    const data = testData(2 * MiB);
    const { server: s, notices, result } = await getChecked(data, { unknownTotal: true }, { connections: 4 });
    expect(notices).toContainEqual(expect.stringMatching(/^the server leaves the file's size out of its ranged responses \(Content-Range: bytes \d+-\d+\/\*\), so they cannot be checked; downloading on one connection from the start$/));
    expect(s.requests.at(-1)).toMatchObject({ method: 'GET', range: undefined });
    expect(result.connections).toBe(1);
    await expectFiles('out.bin');
  });

  it('rejects a wrong Content-Range before writing, and leaves no final file', async () => {
    const s = await serve(testData(MiB), { wrongContentRange: true });
    await expect(get(s.url(), { connections: 4 })).rejects.toThrow(ProtocolError);
    expect(await readdir(dir)).not.toContain('out.bin');
    const part = await readFile(join(dir, 'out.bin.part'));
    expect(part.length).toBe(MiB);
    expect(part.every((byte) => byte === 0)).toBe(true);
  });

  it('retries a connection reset mid-body from where it stopped', async () => {
    const data = testData(2 * MiB);
    const s = await serve(data, { resetAfter: 100 * KiB, resets: 2 });
    const retries: DownloadEvent[] = [];
    // Ranges of the minimum size cannot be split, so no steal (which may fetch bytes the server had
    // already sent to the victim) blurs what this test counts: the bytes the retries fetch again.
    const options = { connections: 2, minSegmentSize: MiB, onEvent: (e: DownloadEvent) => e.type === 'retry' && retries.push(e) };
    const result = await get(s.url(), options);
    expect(await outputSha()).toBe(sha256(data));
    expect(result.retries).toBe(2);
    expect(retries[0]).toMatchObject({ type: 'retry', attempt: 1 });
    expect(s.bodyBytesSent).toBeLessThan(data.length + 300 * KiB);
  });

  it('goes on while each attempt delivers some of its range, however many attempts that takes', async () => {
    const data = testData(512 * KiB);
    const s = await serve(data, { resetAfter: 100 * KiB, resets: 10 });
    const result = await get(s.url(), { connections: 1, retries: 1 });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.retries).toBe(5);
  });

  it('goes on while each attempt delivers half of what its range has left, down to the last byte', async () => {
    const data = testData(MiB);
    const s = await serve(data, { resetAfter: 'half', resets: 30 });
    const result = await get(s.url(), { connections: 1, retries: 1 });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.retries).toBeGreaterThan(15);
  });

  it('gives up after --retries and keeps the partial download, naming it for a resume', async () => {
    const s = await serve(testData(MiB), { resetAfter: 10, resets: 100 });
    const err = await get(s.url(), { connections: 1, retries: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENETWORK', keptPart: join(dir, 'out.bin.part') });
    await expectFiles('out.bin.part', 'out.bin.part.json');
  });

  it('names no part file when a failure left no bytes behind', async () => {
    const s = await serve(testData(MiB), { busy: { status: 503, times: 10 } });
    const err = await get(s.url(), { connections: 1, retries: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503 });
    expect((err as HttpError).keptPart).toBeUndefined();
  });

  it('stops at once when aborted while the server has not answered the HEAD', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const started = performance.now();
    try {
      await expect(get(`http://127.0.0.1:${port}/f`, { timeoutMs: 60_000, signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ code: 'EABORTED' });
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      silent.close();
    }
  });

  it('says how to give credentials when the server asks for them (401)', async () => {
    const s = await serve(testData(10), { status: 401 });
    await expect(get(s.url())).rejects.toThrow(/HTTP 401 for .*; it asks for credentials: --user USER:PASSWORD, or USER:PASSWORD@ in the URL$/);
  });

  it('goes on with fewer connections when the server refuses more than it allows (503)', async () => {
    const data = testData(4 * MiB);
    const { notices, result } = await getChecked(data, { maxActive: 2, bytesPerSecond: 2 * MiB }, { connections: 4, retries: 1 });
    expect(result.bytes).toBe(data.length);
    expect(notices.join('\n')).toMatch(/refuses more connections \(HTTP 503\); going on with [123]/);
  });

  it('takes retired connections back when the server serves more again, one at a time, the second sooner', async () => {
    const data = testData(24 * MiB);
    const server = await serve(data, { maxActive: 2, bytesPerSecond: 2 * MiB });
    // The limit lifts before the first try (REJOIN_FIRST_MS after the retirements).
    const lift = setTimeout(() => delete server.behaviour.maxActive, 1000);
    const notices: string[] = [];
    try {
      await get(server.url(), { connections: 4, retries: 1, onEvent: collectNotices(notices) });
    } finally {
      clearTimeout(lift);
    }
    expect(await outputSha()).toBe(sha256(data));
    // The two refused connections retire in one notice (their retries wait a random backoff, under a second).
    expect(notices).toEqual([
      expect.stringMatching(/refuses more connections \(HTTP 503\); going on with 2$/),
      expect.stringMatching(/takes another connection; going on with 3$/),
      expect.stringMatching(/takes another connection; going on with 4$/),
    ]);
  });

  it('says nothing of a retired connection whose try the server refuses again', async () => {
    const data = testData(16 * MiB);
    const { server, notices } = await getChecked(data, { maxActive: 2, bytesPerSecond: 2 * MiB }, { connections: 4, retries: 1 });
    expect(notices.at(-1)).toMatch(/refuses more connections \(HTTP 503\); going on with 2$/);
    expect(notices.every((n) => n.includes('refuses more connections'))).toBe(true);
    // Two connections refused twice each (--retries 1), then one try after REJOIN_FIRST_MS; the next would come 4 s later.
    expect(server.busyRefusals).toBe(5);
  });

  it('goes on with fewer connections when a firewall resets those beyond its limit', async () => {
    const data = testData(32 * MiB);
    const { server, notices, result } = await getChecked(data, { maxConnections: 4, bytesPerSecond: 8 * MiB }, { connections: 12, retries: 2 });
    expect(result.bytes).toBe(data.length);
    expect(notices.join('\n')).toMatch(/refuses more connections \((ECONNRESET|UND_ERR_SOCKET|EPIPE)\); going on with \d+/);
    expect(server.connectionTimes.length).toBeGreaterThan(12);
  });

  it('goes on with fewer connections behind a firewall limit with --retries 0, its resets coming before any response', async () => {
    const data = testData(32 * MiB);
    const { notices } = await getChecked(data, { maxConnections: 4, bytesPerSecond: 8 * MiB }, { connections: 12, retries: 0 });
    expect(notices.join('\n')).toMatch(/refuses more connections \((ECONNRESET|UND_ERR_SOCKET|EPIPE)\); going on with \d+/);
  });

  it('fails with --retries 0 when the server resets every connection', async () => {
    const s = await serve(testData(4 * MiB), { resetDataRequests: true });
    await expect(get(s.url(), { connections: 4, retries: 0 })).rejects.toThrow(/reset the connection/);
  });

  it('goes on with fewer connections when the server leaves those beyond its limit unanswered', async () => {
    const data = testData(32 * MiB);
    const { notices, result } = await getChecked(data, { servedConnections: 4, bytesPerSecond: 8 * MiB }, {
      connections: 12,
      // Waiting out the timeout would take longer than the test may.
      timeoutMs: 30_000,
      signal: AbortSignal.timeout(20_000),
    });
    expect(result.bytes).toBe(data.length);
    // The 8 connections beyond the limit retire together, and say so once.
    expect(notices.filter((n) => n.includes('refuses more connections'))).toEqual([expect.stringMatching(/refuses more connections \(no response\); going on with 4$/)]);
  });

  it('fails fast on a 404 with the status', async () => {
    const s = await serve(testData(10), { status: 404 });
    const err = await get(s.url()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err).toMatchObject({ status: 404, exitCode: 3 });
    await expectFiles();
  });

  it('verifies --checksum and keeps no final file on a mismatch', async () => {
    const data = testData(MiB);
    const s = await serve(data);
    await get(s.url(), { checksum: `sha256=${sha256(data)}` });
    await expect(get(s.url(), { output: 'bad.bin', checksum: `sha256=${'0'.repeat(64)}` })).rejects.toThrow(IntegrityError);
    // Downloaded before its first save: no manifest, so a rerun downloads it again.
    await expectFiles('out.bin', 'bad.bin.part');
  });

  it('lets only one of two downloads in one process write to the same output', async () => {
    const files = [testData(2 * MiB), testData(2 * MiB + 1)];
    const servers = await Promise.all(files.map((data) => serve(data, { bytesPerSecond: 4 * MiB })));
    const outcomes = await Promise.allSettled(servers.map((s) => get(s.url())));
    const winner = outcomes.findIndex((o) => o.status === 'fulfilled');
    expect(outcomes[1 - winner]).toMatchObject({
      status: 'rejected', reason: { code: 'ELOCKED', message: expect.stringMatching(/another download in this process is writing to/) },
    });
    expect(await outputSha()).toBe(sha256(files[winner]!));
    await expectFiles('out.bin');
  });

  it('never overwrites an existing file unless asked', async () => {
    const data = testData(1000);
    const s = await serve(data);
    await writeFile(join(dir, 'out.bin'), 'precious');
    await expect(get(s.url())).rejects.toThrow(OutputExistsError);
    expect(await readFile(join(dir, 'out.bin'), 'utf8')).toBe('precious');
    await get(s.url(), { overwrite: true });
    expect(await outputSha()).toBe(sha256(data));
  });
});

describe('an onEvent listener that throws', () => {
  it('stops the download, which rejects with its error and stays resumable', async () => {
    const data = testData(4 * MiB);
    const s = await serve(data, { bytesPerSecond: 2 * MiB });
    const bug = new Error('listener bug');
    const onEvent = (e: DownloadEvent) => {
      if (e.type === 'progress') throw bug;
    };
    await expect(get(s.url(), { connections: 2, onEvent })).rejects.toBe(bug);
    await expectFiles('out.bin.part', 'out.bin.part.json');
    s.behaviour = {};
    expect(await get(s.url(), { connections: 2 })).toMatchObject({ resumedBytes: expect.any(Number) });
    expect(await outputSha()).toBe(sha256(data));
  });

  it('stops the download the same way when it is async and rejects', async () => {
    const s = await serve(testData(4 * MiB), { bytesPerSecond: 2 * MiB });
    const bug = new Error('async listener bug');
    const onEvent = async (e: DownloadEvent) => {
      if (e.type === 'progress') throw bug;
    };
    await expect(get(s.url(), { connections: 2, onEvent })).rejects.toBe(bug);
    await expectFiles('out.bin.part', 'out.bin.part.json');
  });

  it('rejects with its error even when thrown at the end, after the file is complete', async () => {
    const s = await serve(testData(1000));
    const bug = new Error('done listener bug');
    await expect(get(s.url(), { onEvent: (e) => { if (e.type === 'done') throw bug; } })).rejects.toBe(bug);
    await expectFiles('out.bin');
  });
});

describe('an output path that cannot be written', () => {
  it('is refused before any request when its directory is a file', async () => {
    const s = await serve(testData(1000));
    await writeFile(join(dir, 'notes'), 'x');
    await expect(get(s.url(), { output: 'notes/out.bin' })).rejects.toThrow(new UsageError(`output directory ${join(dir, 'notes')} exists but is not a directory`));
    expect(s.requests).toHaveLength(0);
  });

  it('is refused before any request when -o names a directory', async () => {
    const s = await serve(testData(1000));
    await mkdir(join(dir, 'sub'));
    await expect(get(s.url(), { output: 'sub' })).rejects.toThrow(new UsageError(`${join(dir, 'sub')} is a directory; name a file in it with -o, or download into it with -d`));
    await expect(get(s.url(), { output: 'sub', overwrite: true })).rejects.toThrow(UsageError);
    expect(s.requests).toHaveLength(0);
  });

  it('is refused, and left as it is, when -o names a named pipe (or /dev/null), even with --overwrite', async () => {
    const s = await serve(testData(1000));
    const fifo = join(dir, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const refusal = new UsageError(`${fifo} is a named pipe, which the finished download would replace; name a regular file with -o (rangeget bench measures a server without saving)`);
    await expect(get(s.url(), { output: 'pipe' })).rejects.toThrow(refusal);
    await expect(get(s.url(), { output: 'pipe', overwrite: true })).rejects.toThrow(refusal);
    expect((await stat(fifo)).isFIFO()).toBe(true);
    expect(s.requests).toHaveLength(0);
  });

  it('is a local I/O error naming the path, not a crash, where the manifest would go is a directory', async () => {
    const s = await serve(testData(1000));
    await mkdir(join(dir, 'out.bin.part.json'));
    const err = await get(s.url(), { restart: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EIO', exitCode: 5, message: expect.stringContaining(join(dir, 'out.bin.part.json')) });
  });

  it('is refused before any byte is fetched when the name from the URL is a directory', async () => {
    const s = await serve(testData(1000));
    await mkdir(join(dir, 'data.bin'));
    await expect(download({ url: s.url('/data.bin'), dir, overwrite: true })).rejects.toThrow(UsageError);
    expect(s.requests.filter((r) => r.method === 'GET')).toHaveLength(0);
    expect(await readdir(dir)).toEqual(['data.bin']);
  });
});

describe('resume', () => {
  /** Starts a throttled download and aborts it once `fraction` of the file is written. */
  async function interrupted(url: string, size: number, fraction: number, options: Partial<DownloadOptions> = {}): Promise<void> {
    const controller = new AbortController();
    const run = get(url, {
      ...options,
      signal: controller.signal,
      onEvent: (e) => e.type === 'progress' && e.bytes >= fraction * size && controller.abort(),
    });
    await expect(run).rejects.toMatchObject({ code: 'EABORTED', keptPart: join(dir, 'out.bin.part') });
    await expectFiles('out.bin.part', 'out.bin.part.json');
  }

  const SLOW = 256 * KiB;

  it('leaves no part file when a download without ranges (not resumable) is interrupted', async () => {
    const s = await serve(testData(2 * MiB), { ranges: false, bytesPerSecond: SLOW });
    const controller = new AbortController();
    const run = get(s.url(), { signal: controller.signal, onEvent: (e) => e.type === 'progress' && e.bytes > 0 && controller.abort() });
    const err = await run.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EABORTED', message: 'interrupted' });
    expect((err as RangegetError).keptPart).toBeUndefined();
    await expectFiles();
  });

  it('continues from where it stopped, with a different connection count', async () => {
    const data = testData(4 * MiB);
    const s = await serve(data, { bytesPerSecond: SLOW });
    await interrupted(s.url(), data.length, 0.3, { connections: 4 });
    const sentBefore = s.bodyBytesSent;
    const result = await get(s.url(), { connections: 7 });
    expect(await outputSha()).toBe(sha256(data));
    expect(result.resumedBytes).toBeGreaterThan(0.25 * data.length);
    expect(s.bodyBytesSent - sentBefore).toBeLessThan(1.05 * (data.length - result.resumedBytes));
    await expectFiles('out.bin');
  });

  it('starts over, saying so, when the file changed between runs', async () => {
    const s = await serve(testData(4 * MiB), { bytesPerSecond: SLOW });
    await interrupted(s.url(), 4 * MiB, 0.3, { connections: 4 });
    const changed = testData(4 * MiB);
    s.setFile(changed);
    s.behaviour.bytesPerSecond = undefined;
    const notices: string[] = [];
    const result = await get(s.url(), { onEvent: collectNotices(notices) });
    expect(await outputSha()).toBe(sha256(changed));
    expect(result.resumedBytes).toBe(0);
    expect(notices.join('\n')).toMatch(/changed.*starting over/);
  });

  it.each([
    ['answers If-Range with 200', {}],
    ['ignores If-Range but sends the new ETag', { ignoreIfRange: true }],
  ])('starts over when the file changes during the download and the server %s', async (_, behaviour) => {
    const s = await serve(testData(4 * MiB), { bytesPerSecond: 2 * SLOW, ...behaviour });
    const changed = testData(4 * MiB);
    const notices: string[] = [];
    await get(s.url(), {
      connections: 4,
      onEvent: (e) => {
        if (e.type === 'notice') notices.push(e.message);
        if (e.type === 'progress' && e.bytes > MiB && !notices.length) {
          s.setFile(changed);
          s.dropConnections();
          notices.push('swapped');
        }
      },
    });
    expect(await outputSha()).toBe(sha256(changed));
    expect(notices.join('\n')).toMatch(/changed while it was being downloaded|changed during the download/);
  });

  it('checks by Last-Modified, and finishes, when load-balanced servers give the file different ETags', async () => {
    const data = testData(2 * MiB);
    const { server: s, notices } = await getChecked(data, { flappingEtag: true }, { connections: 4 });
    expect(notices.at(-1)).toMatch(/several ETags .* but one Last-Modified, as servers behind a load balancer can; checking it by Last-Modified/);
    expect(s.rangedRequests.at(-1)?.ifRange).toBe(s.lastModified);
  });

  it('says that only the size checks a resumed file when the server names no ETag or Last-Modified', async () => {
    const data = testData(4 * MiB);
    const s = await serve(data, { bytesPerSecond: SLOW, hideEtag: true, hideLastModified: true });
    await interrupted(s.url(), data.length, 0.3, { connections: 4 });
    const seen: string[] = [];
    await get(s.url(), { connections: 4, onEvent: collectNotices(seen) });
    expect(await outputSha()).toBe(sha256(data));
    expect(seen).toContain('the server names no ETag or Last-Modified for this file, so only its size says it has not changed since the earlier run; --checksum would make sure');
    expect(s.rangedRequests.every((r) => r.ifRange === undefined)).toBe(true);
  });

  it('resumes such a download by Last-Modified, whichever ETag the next HEAD brings', async () => {
    const data = testData(4 * MiB);
    const s = await serve(data, { flappingEtag: true, bytesPerSecond: SLOW });
    const controller = new AbortController();
    let fellBack = false;
    const first = get(s.url(), {
      connections: 4, signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'notice' && /several ETags/.test(e.message)) fellBack = true;
        if (e.type === 'progress' && fellBack && e.bytes > MiB) controller.abort();
      },
    });
    await expect(first).rejects.toMatchObject({ code: 'EABORTED' });
    s.behaviour = { flappingEtag: true };
    const result = await get(s.url(), { connections: 4 });
    expect(result.resumedBytes).toBeGreaterThan(MiB);
    expect(await outputSha()).toBe(sha256(data));
  });

  it('takes the file in one response when its validators keep changing and there is nothing else to check by', async () => {
    const data = testData(2 * MiB);
    const { server: s, notices } = await getChecked(data, { flappingEtag: true, hideLastModified: true }, { connections: 4 });
    expect(notices.at(-1)).toBe('the file changed between requests again; downloading it in one response, which holds one version');
    expect(s.requests.at(-1)).toMatchObject({ method: 'GET', range: undefined });
    await expectFiles('out.bin');
  });

  it("gives a file taken in one response, after it kept changing, that response's Last-Modified with remoteTime", async () => {
    const data = testData(2 * MiB);
    const { server: s, notices } = await getChecked(data, { changingValidators: true }, { connections: 4, remoteTime: true });
    expect(notices).toContain('the file changed between requests again; downloading it in one response, which holds one version');
    expect((await stat(join(dir, 'out.bin'))).mtimeMs).toBe(Date.parse(versionTime(s.requests.length)));
  });

  it('refuses a manifest left by a download of another URL', async () => {
    const s = await serve(testData(2 * MiB), { bytesPerSecond: SLOW });
    await interrupted(s.url('/one.bin'), 2 * MiB, 0.3);
    await expect(get(s.url('/two.bin'))).rejects.toThrow(ManifestError);
    s.behaviour.bytesPerSecond = undefined;
    await get(s.url('/two.bin'), { restart: true });
    await expectFiles('out.bin');
  });

  it('reports a corrupt manifest with its path and --restart', async () => {
    const s = await serve(testData(1000));
    await writeFile(join(dir, 'out.bin.part.json'), '{"format":"rangeget-manifest","vers');
    await expect(get(s.url())).rejects.toThrow(/out\.bin\.part\.json.*--restart/);
    await get(s.url(), { restart: true });
    await expectFiles('out.bin');
  });
});
