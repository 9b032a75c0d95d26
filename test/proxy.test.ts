import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { runCli } from './support/cli.js';
import { MiB, useDownloads } from './support/harness.js';
import { startProxy, startSocksProxy, type TestProxy } from './support/proxy.js';
import { sha256, testData } from './support/test-server.js';

const { serve, get, outputSha, dir } = useDownloads();
const data = testData(2 * MiB);
let proxy: TestProxy;

beforeEach(async () => {
  proxy = await startProxy();
});
afterEach(() => proxy.close());

describe('proxies', () => {
  it('goes through --proxy, every connection tunnelled to the server', async () => {
    const s = await serve(data);
    await get(s.url(), { connections: 4, proxy: proxy.url });
    expect(await outputSha()).toBe(sha256(data));
    const target = new URL(s.url()).host;
    expect(proxy.tunnels.length).toBeGreaterThanOrEqual(2);
    expect(proxy.tunnels.every((t) => t === target)).toBe(true);
    // None of them opened early, around the proxy.
    expect(s.connectionTimes).toHaveLength(proxy.tunnels.length);
  });

  it('honours HTTP_PROXY, and NO_PROXY over it', async () => {
    const s = await serve(data);
    const proxied = await runCli(['-q', '-o', 'a.bin', s.url()], dir(), { env: { HTTP_PROXY: proxy.url } });
    expect(proxied.code).toBe(0);
    expect(proxy.tunnels.length).toBeGreaterThan(0);
    const tunnelsBefore = proxy.tunnels.length;
    const direct = await runCli(['-q', '-o', 'b.bin', s.url()], dir(), { env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
    expect(direct.code).toBe(0);
    expect(proxy.tunnels.length).toBe(tunnelsBefore);
    for (const name of ['a.bin', 'b.bin']) expect(sha256(await readFile(join(dir(), name)))).toBe(sha256(data));
  });

  it('goes through a SOCKS5 proxy, quietly: undici\'s "experimental" warning does not reach -q', async () => {
    const s = await serve(data);
    const socks = await startSocksProxy();
    try {
      const { code, stderr } = await runCli(['-q', '-n', '4', '--proxy', socks.url, '-o', 'a.bin', s.url()], dir());
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(socks.tunnels.length).toBeGreaterThanOrEqual(2);
      expect(sha256(await readFile(join(dir(), 'a.bin')))).toBe(sha256(data));
    } finally {
      await socks.close();
    }
  });

  it('names the proxy, not the server, when the proxy cannot be reached', async () => {
    const s = await serve(data);
    const started = performance.now();
    await expect(get(s.url(), { proxy: 'http://127.0.0.1:1', retries: 5 }))
      .rejects.toThrow(/^the proxy 127\.0\.0\.1:1 refused the connection \(ECONNREFUSED\); check --proxy, or HTTP_PROXY and HTTPS_PROXY$/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('rejects a proxy that is not a URL', async () => {
    await expect(get('http://127.0.0.1:1/x', { proxy: 'not a proxy' })).rejects.toThrow(UsageError);
  });
});
