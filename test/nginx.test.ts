import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from '../src/download.js';
import { NGINX, startNginx, type Nginx } from './support/nginx.js';
import { sha256, testData } from './support/test-server.js';

const data = testData(32 * 2 ** 20 + 7);

describe.skipIf(!NGINX)(`against nginx with limit_rate${NGINX ? '' : ' (skipped: nginx is not installed; .ci/run installs it)'}`, () => {
  let dir: string;
  let nginx: Nginx;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rangeget-nginx-data-'));
    await writeFile(join(dir, 'data.bin'), data);
    nginx = await startNginx(dir, '8m');
  });
  afterAll(async () => {
    await nginx?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads the right bytes over 8 rate-limited connections', async () => {
    const result = await download({ url: `${nginx.url}/data.bin`, dir, output: 'copy.bin', connections: 8 });
    expect(result.connections).toBe(8);
    expect(sha256(await readFile(join(dir, 'copy.bin')))).toBe(sha256(data));
  });

  it('resumes an interrupted download from nginx with If-Range', async () => {
    const controller = new AbortController();
    await expect(download({
      url: `${nginx.url}/data.bin`, dir, output: 'resumed.bin', connections: 4, signal: controller.signal,
      onEvent: (e) => e.type === 'progress' && e.bytes > data.length / 3 && controller.abort(),
    })).rejects.toThrow(/interrupted/);
    const result = await download({ url: `${nginx.url}/data.bin`, dir, output: 'resumed.bin', connections: 8 });
    expect(result.resumedBytes).toBeGreaterThan(0);
    expect(sha256(await readFile(join(dir, 'resumed.bin')))).toBe(sha256(data));
  });
});
