import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS, formatTable } from '../../src/bench/format.js';
import { runBench, type BenchReport } from '../../src/bench/sweep.js';
import { runCli } from '../support/cli.js';
import { MiB } from '../support/harness.js';
import { useTempDir } from '../support/temp-dir.js';
import { testData, TestServer } from '../support/test-server.js';

// Runs of a second or more: a few milliseconds of timer jitter at either end stay well inside ±5%.
const RATE = 2 * MiB;
let server: TestServer;

beforeAll(async () => {
  server = await TestServer.start(testData(8 * MiB));
});
afterAll(() => server.close());

const within = (actual: number, expected: number, tolerance = 0.05) => Math.abs(actual - expected) / expected <= tolerance;

describe('rangeget bench accuracy', () => {
  it('reports N x R in aggregate and R per connection for a per-connection cap R', async () => {
    server.behaviour = { bytesPerSecond: RATE };
    const report = await runBench({ url: server.url(), connections: [1, 2, 4] });
    for (const result of report.results) {
      expect(within(result.throughput, result.connections * RATE), `${result.connections} connections: ${result.throughput}`).toBe(true);
      expect(within(result.perConnection.median, RATE), `${result.connections} connections per connection: ${result.perConnection.median}`).toBe(true);
    }
    expect(report.knee).toBe(4);
  });

  it('finds the knee where an overall cap stops the growth', async () => {
    server.behaviour = { bytesPerSecond: RATE, totalBytesPerSecond: 2 * RATE };
    const report = await runBench({ url: server.url(), connections: [1, 2, 4] });
    expect(report.knee).toBe(2);
    expect(report.summary).toMatch(/^2 connections reach \d+% of the best; more add little\.$/);
    expect(within(report.results[2]!.throughput, 2 * RATE)).toBe(true);
  });
});

describe('rangeget bench against a connection limit', () => {
  it('reports the counts the server allows, and where it refused the rest', async () => {
    // Each run closes its connections, but the server may learn of it after the next run's have
    // arrived: a limit of 3 leaves room for one stale. The earlier tests' must be gone first.
    await server.connectionsReach(server.connectionTimes.length, true);
    server.behaviour = { bytesPerSecond: RATE, maxConnections: 3 };
    const report = await runBench({ url: server.url(), connections: [1, 2, 4, 8], retries: 1 });
    expect(report.results.map((r) => r.connections)).toEqual([1, 2]);
    expect(report.refused).toEqual({ connections: 4, reason: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/) });
    expect(report.summary).toMatch(/^2 connections reach the best throughput\. At 4 connections some were refused \((ECONNRESET|UND_ERR_SOCKET|EPIPE)\), and the sweep stopped: the server may allow fewer\.$/);
  });
});

describe('rangeget bench against a server that leaves connections beyond its limit unanswered', () => {
  it('reports the counts the server answers, and where it left some unanswered', async () => {
    await server.connectionsReach(server.connectionTimes.length, true);
    server.behaviour = { bytesPerSecond: RATE, servedConnections: 3 };
    const report = await runBench({ url: server.url(), connections: [1, 2, 4, 8] });
    expect(report.results.map((r) => r.connections)).toEqual([1, 2]);
    expect(report.refused).toEqual({ connections: 4, reason: 'no response' });
    expect(report.summary).toMatch(/^2 connections reach the best throughput\. At 4 connections some were refused \(no response\), and the sweep stopped: the server may allow fewer\.$/);
  });
});

describe('rangeget bench output', () => {
  const dir = useTempDir();

  async function bench(...args: string[]): Promise<string> {
    server.behaviour = {};
    const { code, stdout, stderr } = await runCli(['bench', server.url(), '-n', '1,2', '--bytes', '1M', ...args], dir());
    expect(stderr).toBe('');
    expect(code).toBe(0);
    return stdout;
  }

  it('prints one JSON document with the documented schema', async () => {
    const report = JSON.parse(await bench('--json', '--repeat', '2')) as BenchReport;
    expect(report).toMatchObject({ url: server.url(), knee: expect.any(Number), bytesPerRun: MiB, size: 8 * MiB });
    expect(report.results.map((r) => r.connections)).toEqual([1, 2]);
    for (const r of report.results) {
      expect(r).toMatchObject({
        connections: expect.any(Number), bytes: MiB, seconds: expect.any(Number), throughput: expect.any(Number),
        perConnection: { min: expect.any(Number), median: expect.any(Number), max: expect.any(Number) },
        ttfbMs: { p50: expect.any(Number), p90: expect.any(Number), p99: expect.any(Number) },
        firstDoneSeconds: expect.any(Number), lastDoneSeconds: expect.any(Number), retries: 0,
      });
      expect(r.runs.throughput).toHaveLength(2);
    }
  });

  it('takes the flags of every command before the command name too', async () => {
    const { code, stdout, stderr } = await runCli(['-q', '--json', 'bench', server.url(), '-n', '1', '--bytes', '1M'], dir());
    expect([code, stderr]).toEqual([0, '']);
    expect((JSON.parse(stdout) as BenchReport).results).toHaveLength(1);
  });

  it('prints CSV with a header row', async () => {
    const lines = (await bench('--csv')).trim().split('\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(3);
    expect(lines[1]!.split(',')).toHaveLength(CSV_COLUMNS.length);
  });

  it('prints a table with the knee and draws an SVG that parses as XML with every point', async () => {
    const svgPath = join(dir(), 'chart.svg');
    const table = await bench('--svg', svgPath);
    expect(table).toMatch(/conns +aggregate/);
    expect(table).toMatch(/^knee: \d connections? reach/m);
    const svg = await readFile(svgPath, 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(svg) as { svg: { circle: Array<Record<string, string>> } };
    const points = doc.svg.circle.filter((c) => c['@_class'] === 'point');
    expect(points.map((p) => `${p['@_data-series']}:${p['@_data-connections']}`).sort()).toEqual(
      ['aggregate:1', 'aggregate:2', 'per connection:1', 'per connection:2'],
    );
  });

  it('includes the disk with --to-disk and leaves no temporary file behind', async () => {
    const before = (await readdir(tmpdir())).filter((name) => name.startsWith('rangeget-bench-'));
    const report = JSON.parse(await bench('--json', '--to-disk')) as BenchReport;
    expect(report.results.every((r) => r.bytes === MiB)).toBe(true);
    expect((await readdir(tmpdir())).filter((name) => name.startsWith('rangeget-bench-'))).toEqual(before);
  });

  it('stops each run after --duration', async () => {
    server.behaviour = { bytesPerSecond: MiB };
    const report = await runBench({ url: server.url(), connections: [2], durationSeconds: 1 });
    const [result] = report.results;
    expect(result!.bytes).toBeGreaterThan(MiB);
    expect(result!.bytes).toBeLessThan(4 * MiB);
    expect(within(result!.throughput, 2 * MiB, 0.15)).toBe(true);
    expect(report.durationSeconds).toBe(1);
    expect(formatTable(report).split('\n')[0]).toBe(`${server.url()}: 8.00 MiB per run, or 1 s, whichever comes first`);
  });

  it('refuses an --svg path it could not write before measuring anything', async () => {
    const before = server.requests.length;
    const missing = await runCli(['bench', server.url(), '-n', '1', '--svg', join(dir(), 'no', 'x.svg')], dir());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/output directory .*no does not exist; create it first/);
    const directory = await runCli(['bench', server.url(), '-n', '1', '--svg', dir()], dir());
    expect(directory.code).toBe(2);
    expect(directory.stderr).toMatch(/--svg .* is a directory; name a file/);
    expect(server.requests.length).toBe(before);
  });

  it('says in one line when --to-disk cannot make its scratch file', async () => {
    const { code, stderr } = await runCli(['bench', server.url(), '-n', '1', '--to-disk'], dir(), { env: { TMPDIR: '/nonexistent-rangeget' } });
    expect(code).toBe(5);
    expect(stderr.trim()).toBe('rangeget: cannot create a temporary file in /nonexistent-rangeget (ENOENT); point TMPDIR at a writable directory');
  });

  it('rejects a bad connection list with a usage error', async () => {
    const { code, stderr } = await runCli(['bench', server.url(), '-n', '1,0'], dir());
    expect(code).toBe(2);
    expect(stderr).toMatch(/connection count '0'/);
  });
});
