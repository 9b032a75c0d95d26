import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.js';
import { MiB } from '../support/harness.js';
import { testData, TestServer } from '../support/test-server.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
const ESCAPES = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Runs the CLI on a pseudo-terminal `columns` wide (util-linux `script`) and returns what it drew. */
async function onTerminal(columns: number, args: string[], env: Record<string, string> = {}, resize = ''): Promise<string> {
  const command = `stty cols ${columns} rows 40; ${resize} ${process.execPath} ${BIN} ${args.join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  let drawn = '';
  child.stdout.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
  const code = await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  expect(code).toBe(0);
  return drawn;
}

/** Every line the terminal showed, escape codes removed. */
const visibleLines = (drawn: string) => drawn.replace(ESCAPES, '').split(/\r?\n|\r/).filter((l) => l.trim() !== '');

describe.skipIf(!hasScript)(`the terminal display${hasScript ? '' : ' (skipped: util-linux script is not installed)'}`, () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    server = await TestServer.start(testData(4 * MiB), { bytesPerSecond: 1024 * 1024 });
    dir = await mkdtemp(join(tmpdir(), 'rangeget-tty-'));
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([40, 200])('redraws a status line and a file map in place at %d columns, then a summary', async (columns) => {
    const drawn = await onTerminal(columns, ['-n', '4', '--overwrite', '-o', join(dir, `w${columns}.bin`), server.url()]);
    expect(drawn).toMatch(/\x1b\[\d+F\x1b\[J/);
    const lines = visibleLines(drawn);
    expect(lines.some((l) => /^ {2}map \[[█▒░]+\]$/.test(l))).toBe(true);
    expect(lines.some((l) => /\d+\.\d%.* MiB\/s +ETA \d\d:\d\d/.test(l))).toBe(true);
    expect(lines.filter((l) => !l.startsWith('saved ') && l.length >= columns)).toEqual([]);
    expect(lines.at(-1)).toMatch(/^saved .*w\d+\.bin \(4\.00 MiB\) in [\d.]+ s, .* 4 connections, \d+ retr(y|ies)$/);
  });

  it('follows a terminal resize', async () => {
    const shrink = '(sleep 1.5; stty cols 50 rows 40 < /dev/tty) &';
    const drawn = await onTerminal(160, ['-n', '1', '--overwrite', '-o', join(dir, 'r.bin'), server.url()], {}, shrink);
    const frames = drawn.split('\x1b[J').map((frame) => visibleLines(frame).filter((l) => !l.startsWith('saved ')));
    const widths = frames.filter((lines) => lines.length > 0).map((lines) => Math.max(...lines.map((l) => l.length)));
    expect(widths.some((w) => w >= 50)).toBe(true);
    expect(widths.at(-1)).toBeLessThan(50);
  });

  it('adds one row per connection with -v', async () => {
    const drawn = await onTerminal(120, ['-v', '-n', '4', '--overwrite', '-o', join(dir, 'v.bin'), server.url()]);
    // Each connection runs at about 1 MiB/s, shown as MiB/s or KiB/s depending on which side it falls.
    expect(visibleLines(drawn).some((l) => /^ {4}\d+-\d+ +at .* (?:[KMG]i)?B\/s +retries \d+$/.test(l))).toBe(true);
  });

  it('honours NO_COLOR on a terminal and FORCE_COLOR off one', async () => {
    const plain = await onTerminal(100, ['--overwrite', '-o', join(dir, 'n.bin'), server.url()], { NO_COLOR: '1' });
    expect(plain).not.toMatch(/\x1b\[3\dm/);
    const forced = await runCli(['--overwrite', '-o', join(dir, 'f.bin'), server.url()], dir, { env: { FORCE_COLOR: '1' } });
    expect(forced.stderr).toMatch(/\x1b\[32msaved\x1b\[0m/);
    expect(await readFile(join(dir, 'f.bin'))).toHaveLength(4 * MiB);
  });
});
