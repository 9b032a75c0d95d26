import { describe, expect, it } from 'vitest';
import { chooseFileName, DEFAULT_FILE_NAME, nameFromContentDisposition, nameFromUrl, sanitizeFileName } from '../src/filename.js';

describe('sanitizeFileName', () => {
  it.each([
    ['debian.iso', 'debian.iso'],
    ['../../etc/passwd', 'passwd'],
    ['/abs/path/x.bin', 'x.bin'],
    ['C:\\Windows\\evil.exe', 'evil.exe'],
    ['a\u0000b\nc.txt', 'abc.txt'],
    ['.bashrc', 'bashrc'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['what?.zip', 'what_.zip'],
    ['invoice\u202efdp.exe', 'invoicefdp.exe'],
    ['a\u2066b\u2069\u200f.txt', 'ab.txt'],
  ])('%j → %j', (raw, safe) => {
    expect(sanitizeFileName(raw)).toBe(safe);
  });

  it.each(['', '..', '.', '/', 'dir/', '\u0001'])('%j has nothing usable', (raw) => {
    expect(sanitizeFileName(raw)).toBeUndefined();
  });

  it('caps the name so that it and its sidecars (.part.json.tmp) fit in 255 bytes, cutting whole characters', () => {
    expect(Buffer.byteLength(sanitizeFileName('é'.repeat(300))!)).toBe(240);
    const emoji = sanitizeFileName(`ab${'😀'.repeat(100)}`)!;
    expect(Buffer.byteLength(emoji)).toBe(238);
    expect(Buffer.from(emoji).toString()).toBe(emoji);
  });
});

describe('names from the server and the URL', () => {
  it('reads Content-Disposition, including RFC 5987 names', () => {
    expect(nameFromContentDisposition('attachment; filename="report.pdf"')).toBe('report.pdf');
    expect(nameFromContentDisposition("attachment; filename*=UTF-8''%E2%82%AC%20rates.csv")).toBe('€ rates.csv');
    expect(nameFromContentDisposition('attachment; filename="../../.ssh/authorized_keys"')).toBe('authorized_keys');
    expect(nameFromContentDisposition('inline')).toBeUndefined();
    expect(nameFromContentDisposition('garbage;;;=')).toBeUndefined();
  });

  it('decodes the last URL path segment', () => {
    expect(nameFromUrl('https://x.example/a/my%20file.iso?x=1')).toBe('my file.iso');
    expect(nameFromUrl('https://x.example/a/%2e%2e%2fsecret')).toBe('secret');
    expect(nameFromUrl('https://x.example/')).toBeUndefined();
    expect(nameFromUrl('https://x.example/%E0%A4%A')).toBe('%E0%A4%A');
  });

  it('prefers Content-Disposition, then the URL, then a default', () => {
    expect(chooseFileName('attachment; filename="a.bin"', 'https://x.example/b.bin')).toBe('a.bin');
    expect(chooseFileName(undefined, 'https://x.example/b.bin')).toBe('b.bin');
    expect(chooseFileName(undefined, 'https://x.example/')).toBe(DEFAULT_FILE_NAME);
  });
});
