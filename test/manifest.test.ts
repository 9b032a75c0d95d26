import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestError } from '../src/errors.js';
import {
  currentBootId, isComplete, parseManifest, readManifest, resumeSegments, syncDirectory, toManifest, whyNotResumable,
  writeFileAtomicallySync, writeFileDurably, type Manifest,
} from '../src/manifest.js';
import { newSegment } from '../src/scheduler.js';
import { useTempDir } from './support/temp-dir.js';

const header = { url: 'https://x.example/f', finalUrl: 'https://cdn.example/f', size: 30, etag: '"v1"', lastModified: null };

function sample(): Manifest {
  const segments = [newSegment({ start: 0, end: 10 }, 10, 8), newSegment({ start: 10, end: 30 }, 5, 2)];
  return toManifest(header, 'boot-a', segments);
}

describe('manifest format', () => {
  it('round-trips through JSON', () => {
    const manifest = sample();
    expect(parseManifest(JSON.stringify(manifest), 'm.json')).toEqual(manifest);
    expect(manifest).toMatchObject({ format: 'rangeget-manifest', version: 1, bootId: 'boot-a' });
    expect(manifest.segments[1]).toEqual({ start: 10, end: 30, written: 5, durable: 2 });
  });

  const broken: Array<[string, (m: any) => unknown]> = [
    ['truncated JSON', () => '{"format": "rangeget-man'],
    ['a foreign file', () => ({ hello: 'world' })],
    ['a future version', (m) => ({ ...m, version: 2 })],
    ['a missing url', (m) => ({ ...m, url: undefined })],
    ['a negative offset', (m) => ({ ...m, segments: [{ ...m.segments[0], written: -1 }, m.segments[1]] })],
    ['a gap between segments', (m) => ({ ...m, segments: [m.segments[0], { ...m.segments[1], start: 11 }] })],
    ['segments short of the size', (m) => ({ ...m, size: 31 })],
    ['durable beyond written', (m) => ({ ...m, segments: [{ ...m.segments[0], written: 5, durable: 6 }, m.segments[1]] })],
    ['written beyond the segment', (m) => ({ ...m, segments: [{ ...m.segments[0], written: 11 }, m.segments[1]] })],
    ['null', () => null],
  ];
  it.each(broken)('rejects %s with a ManifestError naming the file', (_, mutate) => {
    const value = mutate(sample());
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    expect(() => parseManifest(text, '/tmp/x.part.json')).toThrow(ManifestError);
    expect(() => parseManifest(text, '/tmp/x.part.json')).toThrow(/\/tmp\/x\.part\.json.*--restart/);
  });
});

describe('resume decisions', () => {
  it('trusts written bytes within the same boot, only durable ones after a reboot', () => {
    expect(resumeSegments(sample(), 'boot-a').map((s) => s.written)).toEqual([10, 5]);
    expect(resumeSegments(sample(), 'boot-b').map((s) => s.written)).toEqual([8, 2]);
    expect(resumeSegments(sample(), null).map((s) => s.written)).toEqual([8, 2]);
    expect(resumeSegments({ ...sample(), bootId: null }, null).map((s) => s.written)).toEqual([8, 2]);
  });

  it('resumes only the same remote object into an intact part file', () => {
    const remote = { size: 30, ranges: true, etag: '"v1"', lastModified: null };
    expect(whyNotResumable(sample(), remote, 30)).toBeUndefined();
    expect(whyNotResumable(sample(), { ...remote, etag: '"v2"' }, 30)).toMatch(/changed/);
    expect(whyNotResumable({ ...sample(), etag: null }, { ...remote, etag: '"v2"' }, 30)).toBeUndefined();
    expect(whyNotResumable({ ...sample(), etag: null }, { ...remote, etag: '"v2"', lastModified: 'Sun, 23 Nov 2025 00:00:00 GMT' }, 30)).toMatch(/changed/);
    expect(whyNotResumable(sample(), { ...remote, size: 31 }, 30)).toMatch(/size changed/);
    expect(whyNotResumable(sample(), { ...remote, ranges: false }, 30)).toMatch(/byte ranges/);
    expect(whyNotResumable(sample(), remote, undefined)).toMatch(/part file/);
  });

  it('knows when everything is written', () => {
    expect(isComplete(sample())).toBe(false);
    expect(isComplete(toManifest(header, null, [newSegment({ start: 0, end: 30 }, 30)]))).toBe(true);
  });
});

describe('manifest files', () => {
  const tempDir = useTempDir();

  it('writes atomically and reads back', async () => {
    const path = join(tempDir(), 'f.part.json');
    await writeFileDurably(path, JSON.stringify(sample()));
    writeFileAtomicallySync(path, JSON.stringify({ ...sample(), bootId: 'boot-b' }));
    expect((await readManifest(path))?.bootId).toBe('boot-b');
    await writeFileDurably(path, JSON.stringify({ ...sample(), bootId: 'boot-c' }));
    expect((await readManifest(path))?.bootId).toBe('boot-c');
    await expect(readFile(`${path}.tmp`)).rejects.toThrow();
    await expect(readFile(`${path}.new`)).rejects.toThrow();
  });

  it('treats a missing manifest as none and a corrupt one as an error', async () => {
    expect(await readManifest(join(tempDir(), 'none.json'))).toBeUndefined();
    await writeFile(join(tempDir(), 'bad.json'), '{"format":"rangeget-manifest"');
    await expect(readManifest(join(tempDir(), 'bad.json'))).rejects.toThrow(ManifestError);
  });

  it('treats an empty manifest, or zeros, as none: what a power cut leaves of one never fsynced', async () => {
    for (const text of ['', '\0\0\0']) {
      await writeFile(join(tempDir(), 'empty.json'), text);
      expect(await readManifest(join(tempDir(), 'empty.json'))).toBeUndefined();
    }
  });

  it('fsyncs a directory where the system can, and goes on where it cannot', async () => {
    await syncDirectory(tempDir());
    await expect(syncDirectory(join(tempDir(), 'none'))).rejects.toMatchObject({ code: 'ENOENT' });
    // Windows refuses to flush any directory (EPERM), so it is not asked to: nothing is opened.
    await syncDirectory(join(tempDir(), 'none'), 'win32');
    // A file system without fsync for directories (procfs here) answers EINVAL.
    if (process.platform === 'linux') await syncDirectory('/proc');
  });

  it('reads the kernel boot id where there is one', async () => {
    const id = await currentBootId();
    if (process.platform === 'linux') expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
