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

  it('names the line of an entry that is no http(s) URL, before any download', () => {
    const text = 'https://a.example/x.iso\n\n# a comment\nnot a url\n';
    expect(() => parseInputFile(text, 'list.txt')).toThrow(new UsageError("list.txt line 4: invalid URL 'not': give a full http:// or https:// URL"));
    expect(() => parseInputFile('ftp://b.example/y.iso')).toThrow(/^the input file line 1: unsupported URL scheme 'ftp:'/);
  });
});

describe('readInputFile', () => {
  it('says why a file cannot be read', async () => {
    const missing = join(tmpdir(), 'rangeget-no-such-list.txt');
    await expect(readInputFile(missing)).rejects.toThrow(new UsageError(`cannot read the input file ${missing}: no such file`));
    await expect(readInputFile(tmpdir())).rejects.toThrow(new UsageError(`cannot read the input file ${tmpdir()}: it is a directory`));
  });
});
