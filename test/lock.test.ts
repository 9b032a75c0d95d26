import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockedError } from '../src/errors.js';
import { acquireLock } from '../src/lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rangeget-lock-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/**
 * A zombie for as long as the returned process runs: sh starts `sleep 0` and becomes `sleep 30`,
 * which never reaps it. Resolves to the zombie's pid and the process to kill afterwards.
 */
async function zombie() {
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pid = Number.parseInt(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))), 10);
  for (let i = 0; i < 100 && !(await readFile(`/proc/${pid}/stat`, 'utf8')).includes(') Z '); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { pid, parent };
}

describe('acquireLock', () => {
  it('refuses a lock held by a running process, and takes over one left by a process that is gone', async () => {
    const lock = join(dir, 'f.part.lock');
    const other = spawn('sleep', ['30']);
    await writeFile(lock, `${other.pid}\n`);
    await expect(acquireLock(lock, join(dir, 'f'))).rejects.toThrow(LockedError);
    other.kill('SIGKILL');
    await new Promise((resolve) => other.once('exit', resolve));
    const release = await acquireLock(lock, join(dir, 'f'));
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    await release();
  });

  it.skipIf(process.platform !== 'linux')('takes over a lock held by a zombie (killed, never reaped by its parent)', async () => {
    const { pid, parent } = await zombie();
    try {
      const lock = join(dir, 'f.part.lock');
      await writeFile(lock, `${pid}\n`);
      const release = await acquireLock(lock, join(dir, 'f'));
      expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
      await release();
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
