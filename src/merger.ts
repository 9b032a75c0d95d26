import { open, rename, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AbortedError, IntegrityError } from './errors.js';
import { removeManifest, syncDirectory } from './manifest.js';

export const CHECKSUM_ALGORITHMS = { sha256: 64, sha512: 128, sha1: 40, md5: 32 } as const;
export type ChecksumAlgorithm = keyof typeof CHECKSUM_ALGORITHMS;

export interface Checksum {
  algorithm: ChecksumAlgorithm;
  /** Lowercase hex digest. */
  expected: string;
}

/**
 * The file's digest, read through one buffer (a GiB in new buffers leaves the GC a GiB of garbage);
 * an abort (Ctrl-C: a large file takes seconds) stops the reading with AbortedError.
 */
export async function hashFile(path: string, algorithm: ChecksumAlgorithm, signal?: AbortSignal): Promise<string> {
  // Loaded only to verify: node:crypto cost every start 3.5-5 ms.
  const hash = process.getBuiltinModule('node:crypto').createHash(algorithm);
  const buffer = Buffer.allocUnsafe(1 << 20);
  const file = await open(path, 'r');
  try {
    for (;;) {
      if (signal?.aborted) throw new AbortedError();
      const { bytesRead } = await file.read(buffer, 0, buffer.length);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

export interface MergeJob {
  partPath: string;
  outputPath: string;
  manifestPath: string;
  checksum: Checksum | undefined;
  /** The output's modification time (the server's Last-Modified, with --remote-time); default: now. */
  modifiedAt?: Date;
  signal?: AbortSignal;
}

/**
 * The last steps, each safe to crash after: verify the checksum (an abort stops it, leaving the
 * complete part file and manifest for the next run to verify), set the modification time if asked
 * (before the rename, so the output never shows another), rename the (already
 * fdatasynced) part file into place, fsync the directory so the rename survives, drop the manifest.
 * A crash before the rename leaves a complete part file and manifest (or none, when the download
 * finished before its first save: the next run starts over); after it, a stale manifest that the
 * next run recognises and removes.
 */
export async function merge(job: MergeJob): Promise<void> {
  if (job.checksum) {
    const actual = await hashFile(job.partPath, job.checksum.algorithm, job.signal);
    if (actual !== job.checksum.expected) {
      throw new IntegrityError(
        `${job.checksum.algorithm} mismatch: expected ${job.checksum.expected}, got ${actual}; ` +
          `the data stays in ${job.partPath} (run with --restart to download it again)`,
      );
    }
  }
  if (job.modifiedAt) await utimes(job.partPath, new Date(), job.modifiedAt);
  await rename(job.partPath, job.outputPath);
  await syncDirectory(dirname(job.outputPath));
  await removeManifest(job.manifestPath);
}
