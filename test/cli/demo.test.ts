import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useTempDir } from '../support/temp-dir.js';

const tempDir = useTempDir();

describe('rangeget demo (the README\'s first command)', () => {
  it('downloads its file with 1 and then 8 connections, verifies both and removes them', async () => {
    const dir = tempDir();
    const { code, stderr } = await runCli(['demo'], dir, { timeoutMs: 90_000, env: { TMPDIR: dir } });
    expect(code).toBe(0);
    expect(stderr).toMatch(/^demo: 1 connection [\d.]+ s, 8 connections [\d.]+ s: [\d.]+x faster$/m);
    expect(stderr).toMatch(/^demo: both copies verified \(sha256 [0-9a-f]{64}\); temporary files removed$/m);
    expect(await readdir(dir)).toEqual([]);
  }, 100_000);

  it('says in one line, and exits, when it cannot make its temporary directory', async () => {
    const { code, stderr } = await runCli(['demo'], tempDir(), { timeoutMs: 20_000, env: { TMPDIR: '/nonexistent-rangeget' } });
    expect(code).toBe(5);
    expect(stderr).toMatch(/^rangeget: cannot create a temporary file in \/nonexistent-rangeget \(ENOENT\); point TMPDIR at a writable directory$/m);
  });
});
