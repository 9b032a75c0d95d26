import { readFile, rm, writeFile } from 'node:fs/promises';
import { LockedError, localIoError } from './errors.js';

/** `<output>.part.lock` holds the pid of the rangeget writing that output. */
export function lockPathFor(partPath: string): string {
  return `${partPath}.lock`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The locks this process holds: a lock file with our own pid is ours only if it is here. */
const held = new Set<string>();

/**
 * Takes the lock for one output, or throws LockedError naming the live owner, this process
 * included (two downloads of one run to the same name). A lock left by a dead process (kill -9,
 * power cut; in a container, maybe one with our pid) is taken over. Resolves to the release.
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
    await rm(lockPath, { force: true });
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
    if (owner > 0 && owner !== process.pid && isAlive(owner)) throw new LockedError(outputPath, owner);
    await rm(lockPath, { force: true });
  }
  throw new LockedError(outputPath, undefined);
}
