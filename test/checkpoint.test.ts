import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpointer } from '../src/checkpoint.js';
import { readManifest } from '../src/manifest.js';
import { newSegment } from '../src/scheduler.js';
import { useTempDir } from './support/temp-dir.js';

describe('Checkpointer', () => {
  const tempDir = useTempDir();

  it('stops with a durable record of every written byte, also with checkpoints still queued', async () => {
    const part = await open(join(tempDir(), 'f.part'), 'w+');
    const manifestPath = join(tempDir(), 'f.part.json');
    const segments = [newSegment({ start: 0, end: 10 }), newSegment({ start: 10, end: 20 })];
    const header = { url: 'http://x/f', finalUrl: 'http://x/f', size: 20, etag: '"e"', lastModified: null };
    const errors: unknown[] = [];
    const checkpointer = new Checkpointer(manifestPath, header, 'boot', () => segments, part.fd, (err) => errors.push(err));
    await part.write(Buffer.alloc(20, 1), 0, 20, 0);
    segments[0]!.written = 4;
    const early = checkpointer.checkpoint();
    const queued = checkpointer.checkpoint();
    [segments[0]!.written, segments[1]!.written] = [10, 7];
    await checkpointer.stop();
    await Promise.all([early, queued]);
    await part.close();
    const manifest = await readManifest(manifestPath);
    expect(manifest?.segments.map((s) => [s.written, s.durable])).toEqual([[10, 10], [7, 7]]);
    expect(errors).toEqual([]);
  });
});
