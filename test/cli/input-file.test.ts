import { describe, expect, it } from 'vitest';
import { parseInputFile } from '../../src/cli/input-file.js';

describe('parseInputFile', () => {
  it('reads one URL per line with an optional name, skipping blanks and comments', () => {
    const text = '# nightly images\nhttps://a.example/x.iso\n\n  https://b.example/y.iso   my y.iso  \r\n#https://c.example/skipped\n';
    expect(parseInputFile(text)).toEqual([
      { url: 'https://a.example/x.iso' },
      { url: 'https://b.example/y.iso', output: 'my y.iso' },
    ]);
  });
});
