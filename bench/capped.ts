/**
 * Capped-connection benchmark: nginx serves 1 GiB with `limit_rate 20m` per connection;
 * rangeget fetches it with 16 connections. Ideal = 1 GiB / (16 x 20 MiB/s) = 3.2 s.
 * Usage: npm run bench [-- --runs 3 --size-mib 1024]
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NGINX, startNginx } from '../test/support/nginx.js';

const BIN = fileURLToPath(new URL('../../bin/rangeget.js', import.meta.url));
const MiB = 2 ** 20;

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
}

/** Writes `size` bytes of a repeated random block; returns the SHA-256. */
async function makeFile(path: string, size: number): Promise<string> {
  const block = randomBytes(64 * MiB);
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  for (let offset = 0; offset < size; offset += block.length) {
    const part = block.subarray(0, Math.min(block.length, size - offset));
    await file.write(part, 0, part.length, offset);
    hash.update(part);
  }
  await file.close();
  return hash.digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Peak resident memory of a running process, read from /proc until it exits. */
function watchPeakRss(pid: number): () => number {
  let peak = 0;
  const timer = setInterval(() => {
    readFile(`/proc/${pid}/status`, 'utf8').then((status) => {
      const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak = Math.max(peak, kib * 1024);
    }, () => {});
  }, 20);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

interface RunResult {
  /** Wall time of the whole command, process start to exit. */
  seconds: number;
  /** The download itself as rangeget reports it (plan to rename), without Node's start-up. */
  downloadSeconds: number;
  rss: number;
  cpu: number;
}

async function runRangeget(args: string[]): Promise<RunResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lastLine = '';
  child.stdout!.on('data', (chunk: Buffer) => (lastLine = chunk.toString().trim().split('\n').at(-1) ?? lastLine));
  const peak = watchPeakRss(child.pid!);
  let cpu = 0;
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (exitCode) => resolve(exitCode));
    const sampler = setInterval(() => {
      readFile(`/proc/${child.pid}/stat`, 'utf8').then((stat) => {
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpu = (Number(fields[11]) + Number(fields[12])) / 100;
      }, () => {});
    }, 50);
    child.on('exit', () => clearInterval(sampler));
  });
  if (code !== 0) throw new Error(`rangeget exited with ${code}`);
  const done = JSON.parse(lastLine) as { type: string; seconds: number };
  return { seconds: (performance.now() - started) / 1000, downloadSeconds: done.seconds, rss: peak(), cpu };
}

/** Reference: `connections` curl processes, each fetching a fixed 1/N of the file (no resume state, no fsync). */
async function runCurlSplit(url: string, size: number, connections: number, dir: string): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, (_, i) => {
    const start = Math.floor((i * size) / connections);
    const end = Math.floor(((i + 1) * size) / connections) - 1;
    const child = spawn('curl', ['-s', '-o', join(dir, `curl-${i}`), '-r', `${start}-${end}`, url], { stdio: 'ignore' });
    return new Promise((resolve) => child.on('exit', resolve));
  }));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(Array.from({ length: connections }, (_, i) => rm(join(dir, `curl-${i}`), { force: true })));
  return seconds;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  if (!NGINX) throw new Error('nginx is not installed: apt-get install nginx-light');
  const runs = flag('runs', 3);
  const size = flag('size-mib', 1024) * MiB;
  const connections = 16;
  const rate = 20 * MiB;
  const ideal = size / (connections * rate);
  const root = await mkdtemp(join(tmpdir(), 'rangeget-bench-'));
  const expected = await makeFile(join(root, 'data.bin'), size);
  const nginx = await startNginx(root, '20m');
  try {
    const results = [];
    const curl: number[] = [];
    for (let run = 0; run < runs; run++) {
      curl.push(await runCurlSplit(`${nginx.url}/data.bin`, size, connections, root));
      const out = join(root, `out-${run}.bin`);
      const result = await runRangeget(['-n', String(connections), '-o', out, `${nginx.url}/data.bin`]);
      const ok = (await sha256File(out)) === expected;
      await rm(out);
      results.push({ ...result, ok });
      console.log(`run ${run + 1}: rangeget ${result.seconds.toFixed(2)} s (${(result.seconds / ideal).toFixed(3)} x ideal; download ${result.downloadSeconds.toFixed(2)} s), ${connections} x curl ${curl.at(-1)!.toFixed(2)} s, peak RSS ${(result.rss / MiB).toFixed(0)} MiB, sha256 ${ok ? 'ok' : 'WRONG'}`);
    }
    const seconds = median(results.map((r) => r.seconds));
    console.log(`\ncapped: ${size / MiB} MiB, ${connections} connections x 20 MiB/s; ideal ${ideal.toFixed(2)} s`);
    const download = median(results.map((r) => r.downloadSeconds));
    console.log(`rangeget median ${seconds.toFixed(2)} s = ${(seconds / ideal).toFixed(3)} x ideal (command wall time); ` +
      `download alone ${download.toFixed(2)} s = ${(download / ideal).toFixed(3)} x ideal`);
    console.log(`rangeget ` +
      `peak RSS ${(median(results.map((r) => r.rss)) / MiB).toFixed(0)} MiB; ` +
      `CPU ${(median(results.map((r) => r.cpu)) / (size / 2 ** 30)).toFixed(2)} s/GiB; all sha256 ${results.every((r) => r.ok) ? 'ok' : 'WRONG'}`);
    console.log(`reference: ${connections} curl processes, static split, no fsync: median ${median(curl).toFixed(2)} s = ${(median(curl) / ideal).toFixed(3)} x ideal`);
  } finally {
    await nginx.stop();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
