import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBootId, parseManifest, toManifest, type Manifest } from '../src/manifest.js';
import { newSegment } from '../src/scheduler.js';
import { runCli, startCli } from './support/cli.js';
import { sha256, testData, TestServer } from './support/test-server.js';

const MiB = 2 ** 20;
const SIZE = 24 * MiB;
const RATE = 512 * 1024;
const data = testData(SIZE);
let server: TestServer;

beforeAll(async () => {
  server = await TestServer.start(data, { bytesPerSecond: RATE });
});
afterAll(() => server.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function freshDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'rangeget-crash-'));
}

/** Starts the CLI and SIGKILLs it once `when` resolves; returns how it ended. */
async function killWhen(args: string[], cwd: string, when: (run: ReturnType<typeof startCli>) => Promise<unknown>) {
  const run = startCli(args, cwd);
  await Promise.race([when(run), run.done]);
  run.child.kill('SIGKILL');
  return run.done;
}

/** Resolves when the CLI's --json output reports the start (the part file is open). */
function startReported(run: ReturnType<typeof startCli>): Promise<void> {
  return new Promise((resolve) => {
    run.child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('"type":"start"')) resolve();
    });
  });
}

/** Resolves when the CLI's --json output reports every byte received. */
function allReceived(run: ReturnType<typeof startCli>): Promise<void> {
  return new Promise((resolve) => {
    run.child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().split('\n').some((l) => l.includes('"progress"') && l.includes(`"bytes":${SIZE},`))) resolve();
    });
  });
}

describe('crash safety', () => {
  it('survives six kill -9 at random points and re-downloads almost nothing', async () => {
    const dir = await freshDir();
    const args = ['--json', '-n', '4', '-o', 'big.bin', server.url('/big.bin')];
    const sentBefore = server.bodyBytesSent;
    const kills = [];
    for (let i = 0; i < 5; i++) {
      const delay = 400 + Math.random() * 1600;
      kills.push((await killWhen(args, dir, () => sleep(delay))).signal);
    }
    kills.push((await killWhen(args, dir, allReceived)).signal);
    expect(kills.filter((signal) => signal === 'SIGKILL').length).toBeGreaterThanOrEqual(5);
    const finishedAlready = existsSync(join(dir, 'big.bin')) && !existsSync(join(dir, 'big.bin.part.json'));
    if (!finishedAlready) expect((await runCli(args, dir)).code).toBe(0);
    expect(sha256(await readFile(join(dir, 'big.bin')))).toBe(sha256(data));
    expect(existsSync(join(dir, 'big.bin.part')) || existsSync(join(dir, 'big.bin.part.json'))).toBe(false);
    const sent = server.bodyBytesSent - sentBefore;
    expect(sent).toBeLessThan(1.05 * SIZE);
    await rm(dir, { recursive: true, force: true });
  });

  it('after a reboot resumes only from fsynced checkpoints', async () => {
    const dir = await freshDir();
    const args = ['-q', '-n', '4', '-o', 'r.bin', server.url('/r.bin')];
    await killWhen(args, dir, () => sleep(1800));
    const manifestPath = join(dir, 'r.bin.part.json');
    const manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
    expect(manifest.bootId).toBe(await currentBootId());
    const lost = await forgetUnsyncedWrites(join(dir, 'r.bin.part'), manifest);
    expect(lost).toBeGreaterThan(0);
    await writeFile(manifestPath, JSON.stringify({ ...manifest, bootId: 'a-boot-before-the-power-cut' }));
    const sentBefore = server.bodyBytesSent;
    expect((await runCli(args, dir)).code).toBe(0);
    expect(sha256(await readFile(join(dir, 'r.bin')))).toBe(sha256(data));
    const durable = manifest.segments.reduce((sum, s) => sum + s.durable, 0);
    expect(server.bodyBytesSent - sentBefore).toBeGreaterThanOrEqual(SIZE - durable);
    await rm(dir, { recursive: true, force: true });
  });

  it('a fresh start removes a manifest it cannot resume from before it makes the part file anew', async () => {
    const dir = await freshDir();
    const stalled = await TestServer.start(data, { stall: { afterBytes: 0, times: 64 } });
    const url = stalled.url('/s.bin');
    const header = { url, finalUrl: url, size: SIZE, etag: stalled.etag, lastModified: stalled.lastModified };
    // Half the file on record, but its part file is gone: nothing to resume.
    const stale = toManifest(header, null, [newSegment({ start: 0, end: SIZE }, SIZE / 2, SIZE / 2)]);
    await writeFile(join(dir, 's.bin.part.json'), JSON.stringify(stale));
    const args = ['--json', '-n', '2', '-o', 's.bin', url];
    await killWhen(args, dir, startReported);
    // Killed before any byte came: beside the new part file, the old claims would read as resumable.
    expect(existsSync(join(dir, 's.bin.part'))).toBe(true);
    expect(existsSync(join(dir, 's.bin.part.json'))).toBe(false);
    stalled.behaviour = {};
    expect((await runCli(args, dir)).code).toBe(0);
    expect(sha256(await readFile(join(dir, 's.bin')))).toBe(sha256(data));
    await stalled.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('a crash between the merger steps', () => {
    const url = () => server.url('/m.bin');
    const completeManifest = (): Manifest => toManifest(
      { url: url(), finalUrl: url(), size: SIZE, etag: server.etag, lastModified: server.lastModified },
      null,
      [newSegment({ start: 0, end: SIZE }, SIZE, SIZE)],
    );

    it('before the rename: the next run verifies and renames without downloading', async () => {
      const dir = await freshDir();
      await writeFile(join(dir, 'm.bin.part'), data);
      await writeFile(join(dir, 'm.bin.part.json'), JSON.stringify(completeManifest()));
      const sentBefore = server.bodyBytesSent;
      const { code } = await runCli(['-q', '-o', 'm.bin', '--checksum', `sha256=${sha256(data)}`, url()], dir);
      expect(code).toBe(0);
      expect(server.bodyBytesSent).toBe(sentBefore);
      expect(sha256(await readFile(join(dir, 'm.bin')))).toBe(sha256(data));
      expect(existsSync(join(dir, 'm.bin.part.json'))).toBe(false);
      await rm(dir, { recursive: true, force: true });
    });

    it('after the rename: the next run only removes the stale manifest', async () => {
      const dir = await freshDir();
      await writeFile(join(dir, 'm.bin'), data);
      await writeFile(join(dir, 'm.bin.part.json'), JSON.stringify(completeManifest()));
      const sentBefore = server.bodyBytesSent;
      const { code, stderr } = await runCli(['-o', 'm.bin', url()], dir);
      expect(code).toBe(0);
      expect(stderr).toMatch(/earlier run had finished/);
      expect(server.bodyBytesSent).toBe(sentBefore);
      expect(existsSync(join(dir, 'm.bin.part.json'))).toBe(false);
      await rm(dir, { recursive: true, force: true });
    });
  });
});

/** What a power cut does to unsynced data: every byte past each segment's durable prefix is gone. */
async function forgetUnsyncedWrites(partPath: string, manifest: Manifest): Promise<number> {
  const file = await open(partPath, 'r+');
  let lost = 0;
  for (const s of manifest.segments) {
    const from = s.start + s.durable;
    if (s.end > from) await file.write(Buffer.alloc(s.end - from), 0, s.end - from, from);
    lost += s.written - s.durable;
  }
  await file.close();
  return lost;
}

