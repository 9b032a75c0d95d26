import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpointer, PROGRESS_SAVE_MS, progressSaveGapMs } from '../src/checkpoint.js';
import { readManifest } from '../src/manifest.js';
import { newSegment } from '../src/scheduler.js';
import { MiB } from './support/harness.js';
import { useTempDir } from './support/temp-dir.js';

describe('Checkpointer', () => {
  const tempDir = useTempDir();

  /** A part file of `ranges` (their ends), its checkpointer, and the manifest it keeps, read back. */
  async function setUp(ranges: number[], { manifestExists = false } = {}) {
    const part = await open(join(tempDir(), 'f.part'), 'w+');
    const manifestPath = join(tempDir(), 'f.part.json');
    const segments = ranges.map((end, i) => newSegment({ start: ranges[i - 1] ?? 0, end }));
    const size = ranges.at(-1)!;
    const header = { url: 'http://x/f', finalUrl: 'http://x/f', size, etag: '"e"', lastModified: null };
    const errors: unknown[] = [];
    const checkpointer = new Checkpointer(manifestPath, header, 'boot', () => segments, part.fd, (err) => errors.push(err), manifestExists);
    await part.write(Buffer.alloc(size, 1), 0, size, 0);
    const manifest = async () => (await readManifest(manifestPath))?.segments.map((s) => [s.written, s.durable]);
    return { part, segments, checkpointer, errors, manifest };
  }

  it('stops with a durable record of every written byte, also with checkpoints still queued', async () => {
    const { part, segments, checkpointer, errors, manifest } = await setUp([10, 20]);
    segments[0]!.written = 4;
    const early = checkpointer.checkpoint();
    const queued = checkpointer.checkpoint();
    [segments[0]!.written, segments[1]!.written] = [10, 7];
    await checkpointer.stop();
    await Promise.all([early, queued]);
    await part.close();
    expect(await manifest()).toEqual([[10, 10], [7, 7]]);
    expect(errors).toEqual([]);
  });

  it("saves progress while a checkpoint's fdatasync is under way, not after it", async () => {
    // 64 MiB of dirty pages for the sync to write back: on a disk it takes a while.
    const { part, segments, checkpointer, manifest } = await setUp([64 * MiB]);
    segments[0]!.written = 64 * MiB;
    checkpointer.noteProgress(64 * MiB);
    const checkpoint = checkpointer.checkpoint();
    await new Promise((resolve) => setTimeout(resolve, PROGRESS_SAVE_MS * 2));
    expect((await manifest())?.[0]?.[0]).toBe(64 * MiB);
    await checkpoint;
    await checkpointer.stop();
    await part.close();
  });

  describe('a download that finishes before its first save', () => {
    const finish = async (manifestExists: boolean) => {
      const { part, segments, checkpointer, manifest } = await setUp([8], { manifestExists });
      segments[0]!.written = 8;
      await checkpointer.stop();
      await part.close();
      return manifest();
    };

    it('writes no manifest: the merge follows at once', async () => {
      expect(await finish(false)).toBeUndefined();
    });

    it("keeps a resumed download's manifest in step", async () => {
      expect(await finish(true)).toEqual([[8, 8]]);
    });
  });
});

describe('progressSaveGapMs', () => {
  it('spaces saves forty times their duration, 20 ms at least and 250 ms at most', () => {
    expect(progressSaveGapMs(0.1)).toBe(PROGRESS_SAVE_MS);
    expect(progressSaveGapMs(2)).toBe(80);
    expect(progressSaveGapMs(10)).toBe(250);
  });

  it('keeps saves that take over 25 ms (a slow network mount) to a tenth of the event loop', () => {
    expect(progressSaveGapMs(25)).toBe(250);
    expect(progressSaveGapMs(100)).toBe(1000);
    for (const took of [1, 5, 20, 40, 100, 400]) expect(took / progressSaveGapMs(took)).toBeLessThanOrEqual(0.1);
  });
});
