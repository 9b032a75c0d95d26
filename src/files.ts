/** Local file checks and the part file. */
import { constants, type Stats } from 'node:fs';
import { open, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { LocalIoError, UsageError, localIoError } from './errors.js';
import { formatBytes } from './size.js';

/**
 * Opening with this fails on a symbolic link: one planted where rangeget writes (a shared directory
 * such as /tmp) must not send its bytes into another file. 0 where the OS has no such flag.
 */
export const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

/**
 * Removes the file (or link) at `path` if there is one. `unlink` and not `rm({ force })`, which
 * asks `lstat` first: per small file of a list, a thread-pool round trip less at each of its removals.
 */
export async function removeIfExists(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** The size of the file at `path`, or undefined when there is none. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** Usage error unless `dir` exists: rangeget does not create directories. */
export async function checkDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new UsageError(`output directory ${dir} does not exist; create it first`);
  if (!info.isDirectory()) throw new UsageError(`output directory ${dir} exists but is not a directory`);
}

/**
 * Usage error unless `path` can become the output: its directory exists, and it is not a directory
 * (the final rename could not replace one, after the whole download) nor any other kind of file
 * but a regular one: the rename would replace /dev/null itself.
 */
export async function checkOutputPath(path: string): Promise<void> {
  await checkDirectory(dirname(path));
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) throw new UsageError(`${path} is a directory; name a file in it with -o, or download into it with -d`);
  if (info && !info.isFile()) {
    throw new UsageError(`${path} is ${specialKind(info)}, which the finished download would replace; name a regular file with -o (rangeget bench measures a server without saving)`);
  }
}

function specialKind(info: Stats): string {
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a named pipe';
  return info.isSocket() ? 'a socket' : 'not a regular file';
}

/** Opens the part file: as it is to resume, else new and sparse at full size. */
export async function openPart(path: string, size: number | undefined, resume: boolean): Promise<FileHandle> {
  try {
    if (resume) return await open(path, constants.O_RDWR | NO_FOLLOW);
    // Exclusive: whatever is there (an old part file, a link) is removed first, and anything put
    // there since is an error, not a file to write through.
    const handle = await open(path, 'wx').catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      await removeIfExists(path);
      return open(path, 'wx');
    });
    if (!size) return handle;
    await handle.truncate(size).catch(async (err: unknown) => {
      // Too large for the file system (FAT32, ulimit -f): leave no empty part file behind (best
      // effort; the failure to report is `err`).
      await handle.close().then(() => removeIfExists(path)).catch(() => {});
      throw err;
    });
    return handle;
  } catch (err) {
    throw localIoError(err, path);
  }
}

/** Why a temporary file or directory (demo, bench --to-disk) could not be made, and what to do. */
export function tempFileError(err: unknown): LocalIoError {
  const reason = (err as NodeJS.ErrnoException)?.code ?? String(err);
  return new LocalIoError(`cannot create a temporary file in ${tmpdir()} (${reason}); point TMPDIR at a writable directory`, { cause: err });
}

/** Refuses to start when the file system clearly lacks the space still needed. */
export async function checkFreeSpace(path: string, needed: number): Promise<void> {
  const fs = await statfs(dirname(path)).catch(() => undefined);
  if (!fs) return;
  const free = fs.bavail * fs.bsize;
  if (needed > free) {
    throw new LocalIoError(`not enough space in ${dirname(path)}: ${formatBytes(needed)} needed, ${formatBytes(free)} free`);
  }
}
