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

/**
 * Takes the lock for one output, or throws LockedError naming the live owner. A lock left by a
 * dead process (kill -9, power cut) is taken over. Resolves to the function that releases it.
 */
export async function acquireLock(lockPath: string, outputPath: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw localIoError(err, lockPath);
    }
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (owner > 0 && owner !== process.pid && isAlive(owner)) throw new LockedError(outputPath, owner);
    await rm(lockPath, { force: true });
  }
  throw new LockedError(outputPath, undefined);
}
