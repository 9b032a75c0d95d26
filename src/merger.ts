import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IntegrityError } from './errors.js';
import { removeManifest, syncDirectory } from './manifest.js';

export const CHECKSUM_ALGORITHMS = { sha256: 64, sha512: 128, sha1: 40, md5: 32 } as const;
export type ChecksumAlgorithm = keyof typeof CHECKSUM_ALGORITHMS;

export interface Checksum {
  algorithm: ChecksumAlgorithm;
  /** Lowercase hex digest. */
  expected: string;
}

export async function hashFile(path: string, algorithm: ChecksumAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface MergeJob {
  partPath: string;
  outputPath: string;
  manifestPath: string;
  checksum: Checksum | undefined;
}

/**
 * The last steps, each safe to crash after: verify the checksum, rename the (already
 * fdatasynced) part file into place, fsync the directory so the rename survives, drop the manifest.
 * A crash before the rename leaves a complete part file and manifest; after it, a stale manifest
 * that the next run recognises and removes.
 */
export async function merge(job: MergeJob): Promise<void> {
  if (job.checksum) {
    const actual = await hashFile(job.partPath, job.checksum.algorithm);
    if (actual !== job.checksum.expected) {
      throw new IntegrityError(
        `${job.checksum.algorithm} mismatch: expected ${job.checksum.expected}, got ${actual}; ` +
          `the data stays in ${job.partPath} (run with --restart to download it again)`,
      );
    }
  }
  await rename(job.partPath, job.outputPath);
  await syncDirectory(dirname(job.outputPath));
  await removeManifest(job.manifestPath);
}
