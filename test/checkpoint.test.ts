import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpointer, PROGRESS_SAVE_MS } from '../src/checkpoint.js';
import { readManifest } from '../src/manifest.js';
import { newSegment } from '../src/scheduler.js';
import { MiB } from './support/harness.js';
import { useTempDir } from './support/temp-dir.js';

describe('Checkpointer', () => {
  const tempDir = useTempDir();

  it('stops with a durable record of every written byte, also with checkpoints still queued', async () => {
    const part = await open(join(tempDir(), 'f.part'), 'w+');
    const manifestPath = join(tempDir(), 'f.part.json');
    const segments = [newSegment({ start: 0, end: 10 }), newSegment({ start: 10, end: 20 })];
    const header = { url: 'http://x/f', finalUrl: 'http://x/f', size: 20, etag: '"e"', lastModified: null };
    const errors: unknown[] = [];
    const checkpointer = new Checkpointer(manifestPath, header, 'boot', () => segments, part.fd, (err) => errors.push(err), false);
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

  it("saves progress while a checkpoint's fdatasync is under way, not after it", async () => {
    const part = await open(join(tempDir(), 'h.part'), 'w+');
    const manifestPath = join(tempDir(), 'h.part.json');
    const size = 64 * MiB;
    const segments = [newSegment({ start: 0, end: size })];
    const header = { url: 'http://x/h', finalUrl: 'http://x/h', size, etag: null, lastModified: null };
    const checkpointer = new Checkpointer(manifestPath, header, 'boot', () => segments, part.fd, () => {}, false);
    // Dirty pages for the sync to write back: on a disk it takes a while.
    const chunk = Buffer.alloc(MiB, 7);
    for (let offset = 0; offset < size; offset += MiB) await part.write(chunk, 0, MiB, offset);
    segments[0]!.written = size;
    checkpointer.noteProgress(size);
    const checkpoint = checkpointer.checkpoint();
    await new Promise((resolve) => setTimeout(resolve, PROGRESS_SAVE_MS * 2));
    expect((await readManifest(manifestPath))?.segments[0]?.written).toBe(size);
    await checkpoint;
    await checkpointer.stop();
    await part.close();
  });

  describe('a download that finishes before its first save', () => {
    const finish = async (manifestExists: boolean) => {
      const part = await open(join(tempDir(), 'g.part'), 'w+');
      const manifestPath = join(tempDir(), 'g.part.json');
      const segments = [newSegment({ start: 0, end: 8 })];
      const header = { url: 'http://x/g', finalUrl: 'http://x/g', size: 8, etag: null, lastModified: null };
      const checkpointer = new Checkpointer(manifestPath, header, 'boot', () => segments, part.fd, () => {}, manifestExists);
      await part.write(Buffer.alloc(8, 1), 0, 8, 0);
      segments[0]!.written = 8;
      await checkpointer.stop();
      await part.close();
      return readManifest(manifestPath);
    };

    it('writes no manifest: the merge follows at once', async () => {
      expect(await finish(false)).toBeUndefined();
    });

    it('keeps a resumed download\'s manifest in step', async () => {
      expect((await finish(true))?.segments.map((s) => [s.written, s.durable])).toEqual([[8, 8]]);
    });
  });
});
