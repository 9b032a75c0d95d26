import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../src/manifest.js';
import { runCli, startCli } from './support/cli.js';
import { sha256, testData, TestServer } from './support/test-server.js';

const MiB = 2 ** 20;

/** A 8 MiB tmpfs to run out of space in; only root can mount one. */
function mountSmallTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'rangeget-full-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]).status === 0) return dir;
  rmSync(dir, { recursive: true, force: true });
  return undefined;
}

const dir = mountSmallTmpfs();

describe.skipIf(!dir)(`disk full${dir ? '' : ' (skipped: mounting a small tmpfs needs root)'}`, () => {
  afterAll(() => {
    spawnSync('umount', [dir!]);
    rmSync(dir!, { recursive: true, force: true });
  });

  it('stops with the I/O exit code naming the path, keeps a consistent state, and completes once space is freed', async () => {
    const data = testData(6 * MiB);
    const server = await TestServer.start(data, { bytesPerSecond: 512 * 1024 });
    const args = ['-n', '4', '-o', 'big.bin', server.url()];
    const run = startCli(args, dir!);
    for (let i = 0; i < 200 && !(await readdir(dir!)).includes('big.bin.part.json'); i++) await new Promise((r) => setTimeout(r, 50));
    const fs = await statfs(dir!);
    await writeFile(join(dir!, 'filler'), Buffer.alloc(fs.bavail * fs.bsize - 256 * 1024));
    const failed = await run.done;
    expect(failed.code).toBe(5);
    expect(failed.stderr).toMatch(/big\.bin\.part.*: no space left on device; .* kept in .*big\.bin\.part: run the same command again to resume/);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    const manifestPath = join(dir!, 'big.bin.part.json');
    parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
    await rm(join(dir!, 'filler'));
    server.behaviour = {};
    const resumed = await runCli(args, dir!);
    expect(resumed.code).toBe(0);
    expect(sha256(await readFile(join(dir!, 'big.bin')))).toBe(sha256(data));
    await server.close();
  });

  it('refuses to start when there is clearly not enough space', async () => {
    const server = await TestServer.start(testData(16 * MiB));
    const { code, stderr } = await runCli(['-o', 'huge.bin', server.url()], dir!);
    expect(code).toBe(5);
    expect(stderr).toMatch(/not enough space in .*: 16\.0 MiB needed/);
    expect((await readdir(dir!)).filter((name) => name.startsWith('huge'))).toEqual([]);
    await server.close();
  });
});
