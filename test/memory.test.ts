import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { everyBytes } from '../src/memory.js';
import { startCli } from './support/cli.js';
import { testData, TestServer } from './support/test-server.js';

const MiB = 2 ** 20;
const hasProc = process.platform === 'linux';

describe('everyBytes', () => {
  it('acts once per limit counted, however the bytes are split', () => {
    let actions = 0;
    const count = everyBytes(10, () => actions++);
    for (const bytes of [3, 3, 3]) count(bytes);
    expect(actions).toBe(0);
    count(1);
    expect(actions).toBe(1);
    count(25);
    expect(actions).toBe(2);
    count(9);
    expect(actions).toBe(2);
  });
});

/** Peak resident memory (VmHWM) of the CLI downloading `path`, sampled from /proc until it exits. */
async function peakRss(url: string, dir: string): Promise<number> {
  const run = startCli(['-q', '-n', '16', '-o', 'out.bin', '--overwrite', url], dir);
  let peak = 0;
  const sampler = setInterval(() => {
    readFile(`/proc/${run.child.pid}/status`, 'utf8').then(
      (status) => (peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024)),
      () => {},
    );
  }, 10);
  const { code } = await run.done;
  clearInterval(sampler);
  expect(code).toBe(0);
  return peak;
}

describe.skipIf(!hasProc)(`memory${hasProc ? '' : ' (skipped: needs /proc to read peak RSS)'}`, () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    server = await TestServer.start(testData(512 * MiB));
    dir = await mkdtemp(join(tmpdir(), 'rangeget-mem-'));
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('does not grow with the file: 512 MiB peaks no higher than 32 MiB plus a margin', async () => {
    const full = await peakRss(server.url('/full.bin'), dir);
    server.setFile(testData(32 * MiB));
    const small = await peakRss(server.url('/small.bin'), dir);
    expect(full).toBeLessThan(small + 64 * MiB);
    expect(full).toBeLessThan(256 * MiB);
  });
});
