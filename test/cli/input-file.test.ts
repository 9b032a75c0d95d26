import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInputFile, readInputFile } from '../../src/cli/input-file.js';
import { UsageError } from '../../src/errors.js';

describe('parseInputFile', () => {
  it('reads one URL per line with an optional name, skipping blanks and comments', () => {
    const text = '# nightly images\nhttps://a.example/x.iso\n\n  https://b.example/y.iso   my y.iso  \r\n#https://c.example/skipped\n';
    expect(parseInputFile(text)).toEqual([
      { url: 'https://a.example/x.iso' },
      { url: 'https://b.example/y.iso', output: 'my y.iso' },
    ]);
  });
});

describe('readInputFile', () => {
  it('says why a file cannot be read', async () => {
    const missing = join(tmpdir(), 'rangeget-no-such-list.txt');
    await expect(readInputFile(missing)).rejects.toThrow(new UsageError(`cannot read the input file ${missing}: no such file`));
    await expect(readInputFile(tmpdir())).rejects.toThrow(new UsageError(`cannot read the input file ${tmpdir()}: it is a directory`));
  });
});
