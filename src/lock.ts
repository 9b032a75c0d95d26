import { readFile, writeFile } from 'node:fs/promises';
import { LockedError, localIoError } from './errors.js';
import { removeIfExists } from './files.js';

/** `<output>.part.lock` holds the pid of the rangeget writing that output. */
export function lockPathFor(partPath: string): string {
  return `${partPath}.lock`;
}

/** Whether `pid` is a process that may still write: one that exists and is not a zombie. */
async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !(await isZombie(pid));
}

/**
 * A killed process stays a zombie until its parent reaps it, which may never happen: `timeout -s
 * KILL` kills itself too, and a container's first process often reaps nothing. A zombie has closed
 * its files and runs no code. Linux says so in /proc; elsewhere a process counts as running.
 */
async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // "pid (name) state ...": the name may hold spaces and parentheses, the state follows the last ')'.
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}

/** The locks this process holds: a lock file with our own pid is ours only if it is here. */
const held = new Set<string>();

/**
 * Takes the lock for one output, or throws LockedError naming the live owner, this process
 * included (two downloads of one run to the same name). A lock left by a dead process (kill -9,
 * power cut; in a container, maybe one with our pid), or by a zombie, is taken over. Resolves to the release.
 */
export async function acquireLock(lockPath: string, outputPath: string): Promise<() => Promise<void>> {
  if (held.has(lockPath)) throw new LockedError(outputPath, process.pid);
  held.add(lockPath);
  try {
    await createLockFile(lockPath, outputPath);
  } catch (err) {
    held.delete(lockPath);
    throw err;
  }
  return async () => {
    await removeIfExists(lockPath);
    held.delete(lockPath);
  };
}

async function createLockFile(lockPath: string, outputPath: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw localIoError(err, lockPath);
    }
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (owner > 0 && owner !== process.pid && (await isAlive(owner))) throw new LockedError(outputPath, owner);
    await removeIfExists(lockPath);
  }
  throw new LockedError(outputPath, undefined);
}
