import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortedError, IntegrityError } from '../src/errors.js';
import { merge, type MergeJob } from '../src/merger.js';
import { useTempDir } from './support/temp-dir.js';
import { sha256, testData } from './support/test-server.js';

const dir = useTempDir();
const data = testData(4 * 2 ** 20);

async function partAndManifest(checksum: string): Promise<MergeJob> {
  const job = { partPath: join(dir(), 'f.part'), outputPath: join(dir(), 'f'), manifestPath: join(dir(), 'f.part.json') };
  await writeFile(job.partPath, data);
  await writeFile(job.manifestPath, '{}');
  return { ...job, checksum: { algorithm: 'sha256', expected: checksum } };
}

describe('merge', () => {
  it('renames the verified part file into place and removes the manifest', async () => {
    await merge(await partAndManifest(sha256(data)));
    expect(await readdir(dir())).toEqual(['f']);
  });

  it('keeps the part file and manifest on a checksum mismatch', async () => {
    await expect(merge(await partAndManifest('0'.repeat(64)))).rejects.toThrow(IntegrityError);
    expect((await readdir(dir())).sort()).toEqual(['f.part', 'f.part.json']);
  });

  it('stops verifying on an abort (Ctrl-C during the checksum of a large file), keeping both for the next run', async () => {
    const job = await partAndManifest(sha256(data));
    await expect(merge({ ...job, signal: AbortSignal.abort() })).rejects.toThrow(AbortedError);
    expect((await readdir(dir())).sort()).toEqual(['f.part', 'f.part.json']);
  });
});
