import { readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalIoError, localIoError } from '../src/errors.js';
import { openPart } from '../src/files.js';
import { writeFileAtomicallySync, writeFileDurably } from '../src/manifest.js';
import { useTempDir } from './support/temp-dir.js';

const tempDir = useTempDir();

/** A file a symlink planted in a shared directory would point rangeget's writes at. */
async function victim(): Promise<string> {
  const path = join(tempDir(), 'victim');
  await writeFile(path, 'precious');
  return path;
}

describe('files rangeget writes never follow a planted symbolic link', () => {
  it('a part file to resume', async () => {
    const part = join(tempDir(), 'f.part');
    await symlink(await victim(), part);
    const err = await openPart(part, 10, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalIoError);
    expect((err as Error).message).toBe(`${part}: a symbolic link, which rangeget does not write through; remove it`);
    expect(await readFile(join(tempDir(), 'victim'), 'utf8')).toBe('precious');
  });

  it('a new part file (the link is removed, not written through)', async () => {
    const part = join(tempDir(), 'f.part');
    await symlink(await victim(), part);
    const handle = await openPart(part, 10, false);
    await handle.write('new bytes!', 0);
    await handle.close();
    expect(await readFile(part, 'utf8')).toBe('new bytes!');
    expect(await readFile(join(tempDir(), 'victim'), 'utf8')).toBe('precious');
  });

  it("the manifest's temporary files", async () => {
    const manifest = join(tempDir(), 'f.part.json');
    await symlink(await victim(), `${manifest}.tmp`);
    await symlink(await victim(), `${manifest}.new`);
    await expect(writeFileDurably(manifest, '{}')).rejects.toMatchObject({ code: 'ELOOP' });
    expect(() => writeFileAtomicallySync(manifest, '{}')).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    expect(await readFile(join(tempDir(), 'victim'), 'utf8')).toBe('precious');
  });
});

describe('local I/O errors', () => {
  it('name the path and say what to do', () => {
    const fsError = (code: string) => Object.assign(new Error(`${code}: oops`), { code, path: '/x/f.part' });
    expect(localIoError(fsError('EACCES'), '/x').message).toBe('/x/f.part: permission denied; save where you may write, with -d DIR or -o FILE');
    expect(localIoError(fsError('EROFS'), '/x').message).toBe('/x/f.part: read-only file system; save elsewhere, with -d DIR or -o FILE');
    expect(localIoError(fsError('ENOSPC'), '/x').message).toBe('/x/f.part: no space left on device');
    expect(localIoError(fsError('ENAMETOOLONG'), '/x').message).toBe('/x/f.part: file name too long; choose a shorter one with -o (its part files add 14 bytes)');
    expect(localIoError(fsError('EFBIG'), '/x').message).toMatch(/^\/x\/f\.part: file too large for this file system \(FAT32 holds at most 4 GiB a file\)/);
  });

  it("say any other error in the system's words, without Node's repeated path", async () => {
    const err = await openPart(join(tempDir(), 'no-such-dir', 'f.part'), 10, false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalIoError);
    expect((err as Error).message).toBe(`${join(tempDir(), 'no-such-dir', 'f.part')}: no such file or directory (ENOENT)`);
  });
});
