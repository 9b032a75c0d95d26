/**
 * rangeget against aria2, axel, lftp and curl, side by side on loopback servers, interleaved.
 * Prints per scenario and tool: median wall time, ratio to ideal, peak RSS, CPU seconds per GiB, SHA-256.
 * Usage: npm run bench [-- --runs 3 --scenario capped|stragglers|unthrottled|distant|memory --size-mib 1024]
 * Needs nginx and GNU time; peers that are not installed are skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listenLocal, serveFile } from '../src/local-server.js';
import { hashFile } from '../src/merger.js';
import { median } from '../src/stats.js';
import { NGINX, startNginx, type Nginx } from '../test/support/nginx.js';
import { startLatencyProxy } from './latency-proxy.js';

const BIN = fileURLToPath(new URL('../../bin/rangeget.js', import.meta.url));
const MiB = 2 ** 20;
const GiB = 2 ** 30;

interface Tool {
  name: string;
  /** The command that downloads `url` to `out` with `n` connections. */
  command(url: string, out: string, n: number): string[];
}

const ALL_TOOLS: Tool[] = [
  { name: 'rangeget', command: (url, out, n) => [process.execPath, BIN, '-q', '-n', String(n), '-o', out, url] },
  {
    name: 'aria2c',
    command: (url, out, n) => ['aria2c', '-q', '-x', String(Math.min(n, 16)), '-s', String(n), '-k', '1M',
      '--file-allocation=none', '--allow-overwrite=true', '-d', dirname(out), '-o', basename(out), url],
  },
  { name: 'axel', command: (url, out, n) => ['axel', '-q', '-n', String(n), '-o', out, url] },
  { name: 'lftp', command: (url, out, n) => ['lftp', '-c', `pget -n ${n} ${url} -o ${out}`] },
  { name: 'curl', command: (url, out) => ['curl', '-s', '-o', out, url] },
];
const TOOLS = ALL_TOOLS.filter((tool) => tool.name === 'rangeget' || spawnSync(tool.name, ['--version']).status === 0);

interface Scenario {
  name: string;
  size: number;
  connections: number;
  /** Seconds at the ideal aggregate rate; undefined when unthrottled. */
  ideal: number | undefined;
  tools: string[];
  url: string;
  sha256: string;
  stop(): Promise<void>;
}

interface Measurement {
  seconds: number;
  cpuSeconds: number;
  rssBytes: number;
  /** 'ok', 'wrong bytes' (exit 0 with a wrong SHA-256: the worst outcome) or 'exit N'. */
  outcome: string;
}

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : undefined;
}

/** Writes `size` bytes made of one repeated random block; returns the SHA-256. */
async function makeFile(path: string, size: number): Promise<string> {
  const block = randomBytes(Math.min(size, 64 * MiB));
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  for (let offset = 0; offset < size; offset += block.length) {
    const part = block.subarray(0, Math.min(block.length, size - offset));
    await file.write(part, 0, part.length, offset);
    hash.update(part);
  }
  // Written back before any tool runs: while a GiB of it is dirty, a downloader that fsyncs its own
  // output (rangeget does, once a second) pays for the kernel's writeback in system time.
  await file.sync();
  await file.close();
  return hash.digest('hex');
}

/**
 * What an interrupted run (Ctrl-C, kill, a closed stdout such as `| head`) must not leave behind:
 * nginx and a tool still downloading (stopped first), then GiBs of files in the temp directories.
 */
const onInterrupt = new Set<() => unknown>();
const tempDirs: string[] = [];

function cleanUpOnInterrupt(): void {
  const stop = (code: number) => () => {
    void Promise.allSettled([...onInterrupt].map(async (undo) => undo())).then(() => {
      // Synchronously, then exit: no write of the bench's own (makeFile) can come after.
      for (const path of tempDirs) rmSync(path, { recursive: true, force: true });
      process.exit(code);
    });
  };
  process.once('SIGINT', stop(130)).once('SIGTERM', stop(143));
  process.stdout.once('error', stop(1));
}

/** A new temporary directory, removed on an interrupt too (synchronously: no window without it). */
function tempDir(prefix: string): string {
  const path = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(path);
  return path;
}

/** startNginx, and stopped on an interrupt as well. */
async function startStoppableNginx(root: string, limitRate?: string): Promise<Nginx> {
  const nginx = await startNginx(root, limitRate);
  onInterrupt.add(nginx.stop);
  return nginx;
}

/** Runs one download under GNU time: wall seconds, CPU seconds, peak RSS; checks the bytes. */
async function measure(argv: string[], out: string, expected: string): Promise<Measurement> {
  const report = `${out}.time`;
  const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', report, ...argv], { stdio: ['ignore', 'ignore', 'inherit'] });
  const kill = () => child.kill();
  onInterrupt.add(kill);
  const code = await new Promise((resolve) => child.on('close', resolve));
  onInterrupt.delete(kill);
  const [wall, user, sys, kib] = (await readFile(report, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
  const sha = await hashFile(out, 'sha256').catch(() => '');
  const outcome = code !== 0 ? `exit ${code}` : sha === expected ? 'ok' : 'wrong bytes';
  await rm(out, { force: true });
  await rm(report, { force: true });
  await settleDisk(dirname(out));
  return { seconds: wall!, cpuSeconds: user! + sys!, rssBytes: kib! * 1024, outcome };
}

/**
 * Commits the removal of the last output to disk before the next tool starts. On a file system
 * mounted with `discard` (as here), freeing a GiB of written blocks costs the next journal commit
 * about 0.1 s, and the next tool to fsync (rangeget, at its checkpoints) would pay for it.
 */
async function settleDisk(dir: string): Promise<void> {
  const child = spawn('sync', ['-f', dir], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('close', resolve));
}

/** Serves `data` at `perConnection` bytes/s per response, every fourth GET ten times slower. */
async function startStragglerServer(data: Buffer, perConnection: number) {
  let requests = 0;
  return listenLocal((req, res) => {
    const slow = req.method === 'GET' && ++requests % 4 === 0;
    serveFile(req, res, { data, etag: '"straggler"' }, { bytesPerSecond: slow ? perConnection / 10 : perConnection });
  });
}

async function scenarios(root: string, size: number, only: string | undefined): Promise<Scenario[]> {
  const bigSha = await makeFile(join(root, 'big.bin'), size);
  const list: Scenario[] = [];
  if (!only || only === 'capped') {
    const nginx = await startStoppableNginx(root, '20m');
    list.push({
      name: `capped: nginx limit_rate 20m, ${size / MiB} MiB, 16 connections`, size, connections: 16,
      ideal: size / (16 * 20 * MiB), tools: ['rangeget', 'aria2c', 'axel', 'lftp'], url: `${nginx.url}/big.bin`, sha256: bigSha, stop: nginx.stop,
    });
  }
  if (!only || only === 'stragglers') {
    const data = randomBytes(256 * MiB);
    const server = await startStragglerServer(data, 8_000_000);
    list.push({
      name: 'stragglers: 256 MiB, 8 connections at 8 MB/s, every 4th request 10x slower', size: data.length, connections: 8,
      ideal: data.length / (8 * 8_000_000), tools: ['rangeget', 'aria2c', 'axel', 'lftp'], url: `${server.url}/s.bin`,
      sha256: createHash('sha256').update(data).digest('hex'), stop: server.close,
    });
  }
  if (!only || only === 'unthrottled') {
    const nginx = await startStoppableNginx(root);
    list.push({
      name: `unthrottled: nginx, ${size / MiB} MiB, 4 connections (curl: one stream)`, size, connections: 4, ideal: undefined,
      tools: ['rangeget', 'aria2c', 'axel', 'lftp', 'curl'], url: `${nginx.url}/big.bin`, sha256: bigSha, stop: nginx.stop,
    });
  }
  if (!only || only === 'distant') list.push(await distantScenario(root));
  return list;
}

const DISTANT_ROUND_TRIP_MS = 50;

/** Capped nginx behind a 50 ms round trip: what the requests before the first byte cost. */
async function distantScenario(root: string): Promise<Scenario> {
  const size = 64 * MiB;
  const sha256 = await makeFile(join(root, 'distant.bin'), size);
  const nginx = await startStoppableNginx(root, '20m');
  const proxy = await startLatencyProxy(nginx.url, DISTANT_ROUND_TRIP_MS);
  onInterrupt.add(proxy.stop);
  const roundTrip = DISTANT_ROUND_TRIP_MS / 1000;
  return {
    name: `distant: nginx limit_rate 20m behind a ${DISTANT_ROUND_TRIP_MS} ms round trip, 64 MiB, 8 connections (ideal: the transfer after a handshake and a request)`,
    size, connections: 8, ideal: size / (8 * 20 * MiB) + 2 * roundTrip, tools: ['rangeget', 'aria2c', 'axel', 'lftp'],
    url: `${proxy.url}/distant.bin`, sha256, stop: async () => {
      await proxy.stop();
      await nginx.stop();
    },
  };
}

/** 'ok' when every run was; else each other outcome with how many runs had it, e.g. '1 of 3 wrong bytes'. */
function verdict(list: Measurement[]): string {
  const bad = list.map((m) => m.outcome).filter((o) => o !== 'ok');
  if (bad.length === 0) return 'ok';
  return [...new Set(bad)].map((o) => `${bad.filter((b) => b === o).length} of ${list.length} ${o}`).join(', ');
}

async function runScenario(scenario: Scenario, runs: number, dir: string): Promise<void> {
  const tools = TOOLS.filter((t) => scenario.tools.includes(t.name));
  const results = new Map<string, Measurement[]>(tools.map((t) => [t.name, []]));
  const runTool = (tool: Tool) => {
    const out = join(dir, `${tool.name}.out`);
    return measure(tool.command(scenario.url, out, scenario.connections), out, scenario.sha256);
  };
  // One untimed run of each tool first (its bytes still checked): the first downloads from a fresh
  // server and file were up to twice as slow here, whichever tool ran them.
  const warmUps = new Map<string, Measurement>();
  for (const tool of tools) warmUps.set(tool.name, await runTool(tool));
  for (let run = 0; run < runs; run++) {
    // Each round starts with another tool, so none always runs right after the same neighbour.
    for (const tool of [...tools.slice(run % tools.length), ...tools.slice(0, run % tools.length)]) {
      results.get(tool.name)!.push(await runTool(tool));
    }
  }
  console.log(`\n${scenario.name}${scenario.ideal ? `; ideal ${scenario.ideal.toFixed(2)} s` : ''}`);
  console.log('tool       median s  x ideal  peak RSS  CPU s/GiB  sha256');
  for (const [name, list] of results) {
    const seconds = median(list.map((m) => m.seconds));
    const ratio = scenario.ideal ? (seconds / scenario.ideal).toFixed(3) : '-';
    const rss = `${(median(list.map((m) => m.rssBytes)) / MiB).toFixed(0)} MiB`;
    const cpu = (median(list.map((m) => m.cpuSeconds)) / (scenario.size / GiB)).toFixed(2);
    console.log(`${name.padEnd(10)} ${seconds.toFixed(2).padStart(8)}  ${ratio.padStart(7)}  ${rss.padStart(8)}  ${cpu.padStart(9)}  ${verdict([warmUps.get(name)!, ...list])}`);
  }
}

/** Peak RSS of rangeget at 16 and 64 connections, and on a sparse file many times larger. */
async function runMemory(root: string, dir: string): Promise<void> {
  const sparseGiB = Number(flag('sparse-gib') ?? 10);
  const sparse = await open(join(root, 'sparse.bin'), 'w');
  await sparse.truncate(sparseGiB * GiB);
  await sparse.close();
  const nginx = await startStoppableNginx(root);
  try {
    console.log('\nmemory: rangeget peak RSS');
    for (const [name, n] of [['big.bin', 16], ['big.bin', 64], ['sparse.bin', 16]] as const) {
      const out = join(dir, 'mem.out');
      const expected = await hashFile(join(root, name), 'sha256');
      const m = await measure(TOOLS[0]!.command(`${nginx.url}/${name}`, out, n), out, expected);
      console.log(`${name.padEnd(10)} ${String(n).padStart(2)} connections: ${(m.rssBytes / MiB).toFixed(0)} MiB peak RSS, ${m.seconds.toFixed(1)} s, sha256 ${m.outcome}`);
    }
  } finally {
    await nginx.stop();
  }
}

/** Median wall seconds of `node -e 0` over 5 runs, in `env`. */
function nodeStartSeconds(env: NodeJS.ProcessEnv): number {
  return median(Array.from({ length: 5 }, () => {
    const start = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { env });
    return (performance.now() - start) / 1000;
  }));
}

/**
 * Node 20 parses NODE_EXTRA_CA_CERTS, and its own CA bundle, at every start, TLS or not
 * (nodejs/node#40524). rangeget's runs pay for it and the peers' do not; say how much.
 */
function noteExtraCaCerts(): void {
  if (!process.env.NODE_EXTRA_CA_CERTS) return;
  const { NODE_EXTRA_CA_CERTS: _, ...without } = process.env;
  const [withIt, withoutIt] = [nodeStartSeconds(process.env), nodeStartSeconds(without)];
  console.log(`note: NODE_EXTRA_CA_CERTS is set; Node starts in ${withIt.toFixed(3)} s with it, ${withoutIt.toFixed(3)} s without (every rangeget run pays the difference)`);
}

async function main(): Promise<void> {
  if (!NGINX) throw new Error('nginx is not installed: apt-get install nginx-light');
  if (spawnSync('/usr/bin/time', ['-f', '%e', 'true']).status !== 0) throw new Error('GNU time is not installed: apt-get install time');
  cleanUpOnInterrupt();
  const [root, dir] = [tempDir('rangeget-bench-'), tempDir('rangeget-bench-out-')];
  console.log(`tools: ${TOOLS.map((t) => t.name).join(', ')} (others: apt-get install aria2 axel lftp curl)`);
  noteExtraCaCerts();
  const only = flag('scenario');
  try {
    for (const scenario of await scenarios(root, Number(flag('size-mib') ?? 1024) * MiB, only)) {
      try {
        await runScenario(scenario, Number(flag('runs') ?? 3), dir);
      } finally {
        await scenario.stop();
      }
    }
    if (!only || only === 'memory') await runMemory(root, dir);
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

// A missing tool or nginx is a one-line message, not a stack trace.
await main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
