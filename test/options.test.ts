import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { parseChecksum, requestHeaders, resolveSettings } from '../src/options.js';

describe('resolveSettings', () => {
  it('fills defaults', () => {
    const settings = resolveSettings({ url: 'http://127.0.0.1/x' });
    expect(settings).toMatchObject({ connections: 8, preconnect: 8, minSegmentSize: 2 ** 20, retries: 5, timeoutMs: 30_000 });
    expect(settings.headers).toMatchObject({ 'accept-encoding': 'identity' });
  });

  it('opens no more connections ahead of the HEAD than the download has', () => {
    expect(resolveSettings({ url: 'http://x.example/', connections: 4, preconnect: 16 }).preconnect).toBe(4);
    expect(resolveSettings({ url: 'http://x.example/', preconnect: 0 }).preconnect).toBe(0);
  });

  it("takes curl's socks5h:// proxies as socks5:// (undici's SOCKS5 already lets the proxy resolve names)", () => {
    expect(resolveSettings({ url: 'http://x.example/', proxy: 'socks5h://proxy.example:1080' }).proxy).toBe('socks5://proxy.example:1080');
  });

  it.each([
    [{ url: 'ftp://x.example/f' }, /scheme/],
    [{ url: 'not a url' }, /invalid URL/],
    [{ url: 'http://x.example/', connections: 0 }, /connection count/],
    [{ url: 'http://x.example/', connections: 1000 }, /connection count/],
    [{ url: 'http://x.example/', preconnect: 1.5 }, /preconnect count/],
    [{ url: 'http://x.example/', checksum: 'sha256=abc' }, /checksum/],
  ])('rejects %j', (options, message) => {
    expect(() => resolveSettings(options)).toThrow(UsageError);
    expect(() => resolveSettings(options)).toThrow(message);
  });
});

describe('parseChecksum', () => {
  it('accepts each algorithm with a digest of the right length', () => {
    expect(parseChecksum(`SHA256=${'A'.repeat(64)}`)).toEqual({ algorithm: 'sha256', expected: 'a'.repeat(64) });
    expect(parseChecksum(`md5=${'0'.repeat(32)}`).algorithm).toBe('md5');
    expect(parseChecksum(`sha-512=${'0'.repeat(128)}`).algorithm).toBe('sha512');
    expect(parseChecksum(`sha1:${'0'.repeat(40)}`).algorithm).toBe('sha1');
    expect(() => parseChecksum(`crc32=${'0'.repeat(8)}`)).toThrow(UsageError);
    expect(() => parseChecksum(`sha1=${'g'.repeat(40)}`)).toThrow(UsageError);
    expect(() => parseChecksum('0'.repeat(64))).toThrow(UsageError);
  });
});

describe('requestHeaders', () => {
  it('lowercases names and always asks for identity encoding', () => {
    const headers = requestHeaders({ 'X-Token': ' abc ', 'Accept': 'x/y' }, 'ua/1');
    expect(headers).toEqual({ 'x-token': 'abc', accept: 'x/y', 'user-agent': 'ua/1', 'accept-encoding': 'identity' });
  });

  it('refuses headers rangeget owns and malformed ones', () => {
    expect(() => requestHeaders({ Range: 'bytes=0-1' }, undefined)).toThrow(/set by rangeget/);
    expect(() => requestHeaders({ 'bad name': 'x' }, undefined)).toThrow(UsageError);
    expect(() => requestHeaders({ 'x-a': 'a\r\nInjected: 1' }, undefined)).toThrow(UsageError);
    expect(() => requestHeaders({}, 'ua\nInjected: 1')).toThrow(/invalid user agent "ua\\nInjected: 1": one line of text/);
  });
});
