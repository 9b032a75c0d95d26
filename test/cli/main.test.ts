import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, runCli, startCli } from '../support/cli.js';
import { useTempDir } from '../support/temp-dir.js';
import { sha256, testData, TestServer } from '../support/test-server.js';

const MiB = 2 ** 20;
const tempDir = useTempDir();
let dir: string;
let server: TestServer;
const data = testData(2 * MiB + 17);

beforeAll(async () => {
  server = await TestServer.start(data);
});
afterAll(() => server.close());
beforeEach(() => {
  dir = tempDir();
  server.behaviour = {};
});

/** Polls `check` every 50 ms for up to 10 s. */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('rangeget CLI', () => {
  it('downloads a URL into the current directory and says where', async () => {
    const { code, stderr } = await runCli([server.url('/data.bin'), '-n', '4'], dir);
    expect(code).toBe(0);
    expect(sha256(await readFile(join(dir, 'data.bin')))).toBe(sha256(data));
    expect(stderr).toMatch(/saved .*data\.bin \(2\.00 MiB\)/);
    expect(stderr).not.toMatch(/\x1b\[/);
  });

  it('honours -o, -d and -q', async () => {
    const { code, stderr, stdout } = await runCli(['-q', '-d', dir, '-o', 'x.bin', server.url()], tmpdir());
    expect(code).toBe(0);
    expect(stderr + stdout).toBe('');
    expect(await readdir(dir)).toEqual(['x.bin']);
  });

  it("gives the file the server's Last-Modified time with -R", async () => {
    const { code } = await runCli(['-q', '-R', '-o', 't.bin', server.url()], dir);
    expect(code).toBe(0);
    expect((await stat(join(dir, 't.bin'))).mtimeMs).toBe(Date.parse(server.lastModified));
  });

  it('takes --limit-rate written as a rate, 8M/s', async () => {
    const { code, stdout } = await runCli(['--json', '--limit-rate', '8M/s', '-o', 'r.bin', server.url()], dir);
    expect(code).toBe(0);
    const done = JSON.parse(stdout.trim().split('\n').at(-1)!) as { type: string; seconds: number };
    expect(done.type).toBe('done');
    expect(done.seconds).toBeGreaterThan(0.15);
  });

  it('prints NDJSON events with --json', async () => {
    const { code, stdout } = await runCli(['--json', '-o', 'out.bin', server.url()], dir);
    expect(code).toBe(0);
    const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; time: string });
    expect(events[0]).toMatchObject({ type: 'start', total: data.length, segmented: true });
    expect(events.at(-1)).toMatchObject({ type: 'done', bytes: data.length });
    expect(events.every((e) => typeof e.time === 'string')).toBe(true);
  });

  it('sends basic auth from the URL or --user and never prints the password', async () => {
    const withCredentials = server.url('/a.bin').replace('http://', 'http://alice:s3cr%3At@');
    const fromUrl = await runCli(['--json', withCredentials], dir);
    expect(fromUrl.code).toBe(0);
    const basic = `Basic ${Buffer.from('alice:s3cr:t').toString('base64')}`;
    expect(server.requests.at(-1)?.authorization).toBe(basic);
    await runCli(['-q', '--user', 'bob:pw', '-o', 'b.bin', server.url()], dir);
    expect(server.requests.at(-1)?.authorization).toBe(`Basic ${Buffer.from('bob:pw').toString('base64')}`);
    server.behaviour = { status: 404 };
    const failed = await runCli(['--json', withCredentials.replace('a.bin', 'c.bin')], dir);
    expect(failed.code).toBe(3);
    expect(fromUrl.stdout + fromUrl.stderr + failed.stdout + failed.stderr).not.toMatch(/s3cr/);
    expect(failed.stderr).toMatch(/HTTP 404 for http:\/\/127\.0\.0\.1/);
  });

  it('finishes the download when the reader of its output goes away (| head -1)', async () => {
    server.behaviour = { bytesPerSecond: 2 * MiB };
    const run = startCli(['--json', '-o', 'f', server.url()], dir);
    run.child.stdout!.once('data', () => run.child.stdout!.destroy());
    const { code, stderr } = await run.done;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data));
  });

  it('takes the last value of an option given twice, and every -H', async () => {
    const before = server.requests.length;
    const args = ['--json', '-n', '2', '-n', '3', '-o', 'first.bin', '-o', 'last.bin', '-H', 'Cookie: a=1', '-H', 'X-Trace: t'];
    const { code, stdout } = await runCli([...args, server.url()], dir);
    expect(code).toBe(0);
    expect(JSON.parse(stdout.split('\n')[0]!)).toMatchObject({ type: 'start', connections: 3 });
    expect(await readdir(dir)).toEqual(['last.bin']);
    const sent = server.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((r) => r.cookie === 'a=1' && r.trace === 't')).toBe(true);
  });

  it('takes defaults from RANGEGET_* variables and prints a completion script', async () => {
    const { stdout } = await runCli(['--json', '-o', 'e.bin', server.url()], dir, { env: { RANGEGET_CONNECTIONS: '3' } });
    expect(JSON.parse(stdout.split('\n')[0]!)).toMatchObject({ type: 'start', connections: 3 });
    const completion = await runCli(['completion'], dir);
    expect(completion.code).toBe(0);
    expect(completion.stdout).toMatch(/rangeget-completions/);
  });

  it('shows help with examples and exit codes, and the version', async () => {
    const help = await runCli(['--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:/);
    expect(help.stdout).toMatch(/--connections/);
    expect(help.stdout).toMatch(/Exit codes: 0 done/);
    const version = await runCli(['--version'], dir);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [['-n', '0', 'http://127.0.0.1:1/x'], /connection count '0'/],
    [['-n', '1000', 'http://127.0.0.1:1/x'], /connection count '1000'/],
    [['--min-segment-size', 'banana', 'http://127.0.0.1:1/x'], /minimum segment size 'banana'/],
    [['--checksum', 'md5=xyz', 'http://127.0.0.1:1/x'], /invalid checksum/],
    [['-H', 'no colon', 'http://127.0.0.1:1/x'], /invalid header/],
    [['ftp://127.0.0.1/x'], /unsupported URL scheme/],
    [['not a url'], /invalid URL/],
    [['--bogus-flag', '-z', 'http://127.0.0.1:1/x'], /: unknown options --bogus-flag, -z \(see rangeget --help\)\n$/],
    [[], /missing URL/],
    [['-n'], /: -n needs a value \(see rangeget --help\)\n$/],
    [['-o', '', 'http://127.0.0.1:1/x'], /-o names no file/],
    [['-o', '-', 'http://127.0.0.1:1/x'], /-o - would name a file '-': rangeget saves to files, not to standard output/],
    [['-o', 'x', 'http://127.0.0.1:1/a', 'http://127.0.0.1:1/b'], /-o names one file but several URLs/],
    [['--ca-cert', 'nope.pem', 'http://127.0.0.1:1/x'], /--ca-cert nope\.pem: not a readable PEM/],
    [['-o', 'missing/dir/f', 'http://127.0.0.1:1/x'], /does not exist/],
    [['-d', 'missing', 'http://127.0.0.1:1/x'], /missing does not exist/],
  ])('rejects %j with one line and exit code 2', async (args, message) => {
    const { code, stderr } = await runCli(args, dir);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^rangeget: /);
    expect(await readdir(dir)).toEqual([]);
  });

  it('names a RANGEGET_ variable that is no option as the variable, not as a flag never typed', async () => {
    const { code, stderr } = await runCli(['--bogus', 'http://127.0.0.1:1/x'], dir, { env: { RANGEGET_OUT_DIR: '/tmp' } });
    expect(code).toBe(2);
    expect(stderr).toBe('rangeget: unknown options --bogus, RANGEGET_OUT_DIR in the environment (see rangeget --help)\n');
  });

  it('names a short flag typed as the flag, also when a RANGEGET_ variable of that letter is set', async () => {
    const { code, stderr } = await runCli(['-qz', 'http://127.0.0.1:1/x'], dir, { env: { RANGEGET_Z: '1' } });
    expect(code).toBe(2);
    expect(stderr).toBe('rangeget: unknown option -z (see rangeget --help)\n');
  });

  it.each([
    [{ RANGEGET_CONNECTIONS: 'abc' }, [], "invalid connection count 'abc': use a whole number from 1 to 64 (from RANGEGET_CONNECTIONS in the environment)"],
    [{ RANGEGET_TIMEOUT: '0' }, ['-qn', '4'], "invalid timeout '0': use a whole number from 1 to 3600 (from RANGEGET_TIMEOUT in the environment)"],
    [{ RANGEGET_REPEAT: '0' }, ['bench'], "invalid repeat count '0': use a whole number from 1 to 100 (from RANGEGET_REPEAT in the environment)"],
    [{ RANGEGET_CONNECTIONS: 'abc' }, ['-n', 'abc'], "invalid connection count 'abc': use a whole number from 1 to 64"],
    [{ RANGEGET_RETRIES: '0' }, ['-n', '0'], "invalid connection count '0': use a whole number from 1 to 64"],
  ])('names the RANGEGET_ variable that gave a bad value, and only that (%j, then %j)', async (env, args, message) => {
    const { code, stderr } = await runCli([...args, 'http://127.0.0.1:1/x'], dir, { env });
    expect(code).toBe(2);
    expect(stderr).toBe(`rangeget: ${message}\n`);
  });

  it('reports a usage error as a --json event too, even one found while parsing the flags', async () => {
    const { code, stdout } = await runCli(['--json', '--bogus', 'http://127.0.0.1:1/x'], dir);
    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ type: 'error', code: 'EUSAGE', message: 'unknown option --bogus (see rangeget --help)' });
  });

  it('says in one line when its own code is missing (not built, broken install)', async () => {
    await mkdir(join(dir, 'bin'));
    await copyFile(BIN, join(dir, 'bin', 'rangeget.js'));
    const run = spawnSync(process.execPath, [join(dir, 'bin', 'rangeget.js'), '--version'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^rangeget: cannot load its code \(MODULE_NOT_FOUND\): build it with npm run build, or reinstall it\n$/);
  });

  it('exits 3 on an HTTP error and on a refused connection', async () => {
    server.behaviour = { status: 404 };
    const notFound = await runCli(['-o', 'f', server.url()], dir);
    expect(notFound.code).toBe(3);
    expect(notFound.stderr).toMatch(/HTTP 404/);
    const refused = await runCli(['-o', 'f', 'http://127.0.0.1:1/x'], dir);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/ECONNREFUSED/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('names the part file kept after a failure mid-download, in one line and in the JSON event', async () => {
    server.behaviour = { resetAfter: 100_000, resets: 100 };
    const failed = await runCli(['--retries', '0', '-n', '1', '-o', 'f', server.url()], dir);
    expect(failed.code).toBe(3);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toMatch(/; the part downloaded so far is kept in .*f\.part: run the same command again to resume\n$/);
    const json = await runCli(['--json', '--retries', '0', '-n', '1', '-o', 'f', server.url()], dir);
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'error', keptPart: join(dir, 'f.part') });
    server.behaviour = {};
    expect((await runCli(['-o', 'f', server.url()], dir)).code).toBe(0);
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data));
  });

  it('exits 4 on a checksum mismatch and leaves no final file', async () => {
    const { code, stderr } = await runCli(['-o', 'f', '--checksum', `sha256=${'0'.repeat(64)}`, server.url()], dir);
    expect(code).toBe(4);
    expect(stderr).toMatch(/sha256 mismatch/);
    expect(await readdir(dir)).not.toContain('f');
  });

  it('exits 5 when the file system cannot hold the file, saying so in one line and leaving nothing behind', async () => {
    // The shell's file size limit stands in for FAT32's 4 GiB: either makes the sparse part file fail (EFBIG).
    const child = spawn('sh', ['-c', 'ulimit -f 256 && exec "$0" "$@"', process.execPath, BIN, '-o', 'f', server.url()], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const [code] = (await once(child, 'close')) as [number];
    expect(code).toBe(5);
    expect(stderr).toMatch(/^rangeget: .*f\.part: file too large for this file system .*\(ulimit -f\); save elsewhere, with -d DIR or -o FILE\n$/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('exits 2 rather than overwrite an existing file', async () => {
    await writeFile(join(dir, 'f'), 'keep me');
    const { code, stderr } = await runCli(['-o', 'f', server.url()], dir);
    expect(code).toBe(2);
    expect(stderr).toMatch(/already exists.*--overwrite/);
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('keep me');
  });

  it('downloads several URLs one after another and reports each failure', async () => {
    const { code, stderr } = await runCli([server.url('/a.bin'), 'http://127.0.0.1:1/down.bin', server.url('/b.bin')], dir);
    expect(code).toBe(3);
    expect(stderr).toMatch(/ECONNREFUSED/);
    expect((await readdir(dir)).sort()).toEqual(['a.bin', 'b.bin']);
  });

  it('passes the connections of a finished download to the one still running', async () => {
    const big = testData(8 * MiB);
    const slow = await TestServer.start(big, { bytesPerSecond: MiB });
    try {
      const { code, stdout } = await runCli(['--json', '-j', '2', '-n', '8', '--min-segment-size', '256K', server.url('/small.bin'), slow.url('/big.bin')], dir);
      expect(code).toBe(0);
      const done = stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; path: string; connections: number })
        .filter((e) => e.type === 'done');
      // Each starts with 4 of the 8; the big one's new connections steal from its ranges, all 8 at once.
      expect(done.find((e) => e.path.endsWith('big.bin'))?.connections).toBe(8);
      expect(sha256(await readFile(join(dir, 'big.bin')))).toBe(sha256(big));
    } finally {
      await slow.close();
    }
  });

  it('passes on the share of --limit-rate of a finished download too', async () => {
    const big = testData(6 * MiB);
    const second = await TestServer.start(big);
    try {
      // 2 MiB/s each: the small file (2 MiB) ends after about 1 s; then the big one has 4 MiB/s for
      // its last 4 MiB, about 2 s in all, where keeping 2 MiB/s would take 3 s.
      const { code, stdout } = await runCli(['--json', '-j', '2', '-n', '4', '--limit-rate', '4M', server.url('/small.bin'), second.url('/big.bin')], dir);
      expect(code).toBe(0);
      const done = stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; path: string; seconds: number })
        .find((e) => e.type === 'done' && e.path.endsWith('big.bin'))!;
      expect(done.seconds).toBeGreaterThan(1.6);
      expect(done.seconds).toBeLessThan(2.5);
    } finally {
      await second.close();
    }
  });

  it('reads URLs from -i, runs -j downloads at once, and ends with a results table', async () => {
    await writeFile(join(dir, 'list.txt'), `# three files\n${server.url('/one.bin')}\n${server.url('/x')} two.bin\n\nhttp://127.0.0.1:1/three.bin\n`);
    const { code, stderr } = await runCli(['-i', 'list.txt', '-j', '2', '-n', '4'], dir);
    expect(code).toBe(3);
    expect((await readdir(dir)).sort()).toEqual(['list.txt', 'one.bin', 'two.bin']);
    expect(stderr).toMatch(/^name +size +status +average speed$/m);
    expect(stderr).toMatch(/^one\.bin +2\.00 MiB +done /m);
    expect(stderr).toMatch(/^http:\/\/127\.0\.0\.1:1\/three\.bin +- +failed \(ENETWORK\)/m);
  });

  it('opens one connection beside the HEAD, not -n, once a server has served a list a few small files in a row', async () => {
    const smallData = testData(64 * 1024);
    const small = await TestServer.start(smallData);
    try {
      const names = ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin'];
      await writeFile(join(dir, 'list.txt'), names.map((name) => `${small.url(`/${name}`)}\n`).join(''));
      const { code } = await runCli(['-q', '-i', 'list.txt', '-j', '1', '-n', '8'], dir);
      expect(code).toBe(0);
      for (const name of names) expect(sha256(await readFile(join(dir, name)))).toBe(sha256(smallData));
      // The first three: the HEAD's connection and 8 beside it (each file 9); then the HEAD's and one (not 45 in all).
      expect(small.connectionTimes.length).toBeLessThanOrEqual(3 * 9 + 2 * 2);
    } finally {
      await small.close();
    }
  });

  it('on an interrupt, names the part each running download keeps and starts no queued one', async () => {
    server.behaviour = { bytesPerSecond: 256 * 1024 };
    await writeFile(join(dir, 'list.txt'), ['a.bin', 'b.bin', 'c.bin'].map((name) => `${server.url(`/${name}`)}\n`).join(''));
    const run = startCli(['-i', 'list.txt', '-j', '2', '-n', '2'], dir);
    await waitFor(() => readdir(dir).then((names) => names.includes('a.bin.part.json') && names.includes('b.bin.part.json')));
    await new Promise((resolve) => setTimeout(resolve, 300));
    run.child.kill('SIGINT');
    const { code, stderr } = await run.done;
    expect(code).toBe(130);
    const lines = stderr.trim().split('\n').sort();
    expect(lines).toEqual([
      expect.stringMatching(/^rangeget: interrupted; the part downloaded so far is kept in .*a\.bin\.part: run the same command again to resume$/),
      expect.stringMatching(/^rangeget: interrupted; the part downloaded so far is kept in .*b\.bin\.part: run the same command again to resume$/),
    ]);
    expect((await readdir(dir)).filter((name) => name.startsWith('c'))).toEqual([]);
  });

  it('after an interrupt that some downloads of a list outlived, says how to resume the rest', async () => {
    const slow = await TestServer.start(data, { bytesPerSecond: 256 * 1024 });
    try {
      const run = startCli(['-j', '2', '-n', '2', server.url('/a.bin'), slow.url('/b.bin')], dir);
      await waitFor(() => readdir(dir).then((names) => names.includes('a.bin') && names.includes('b.bin.part.json')));
      run.child.kill('SIGINT');
      const { code, stderr } = await run.done;
      expect(code).toBe(130);
      expect(stderr).toMatch(/^rangeget: to resume the rest, run the same command with --skip-existing$/m);
    } finally {
      await slow.close();
    }
  });

  it('with --skip-existing, leaves an existing output as it is and fetches the rest', async () => {
    await writeFile(join(dir, 'a.bin'), 'mine');
    const { code, stderr } = await runCli(['--skip-existing', server.url('/a.bin'), server.url('/b.bin')], dir);
    expect(code).toBe(0);
    expect(await readFile(join(dir, 'a.bin'), 'utf8')).toBe('mine');
    expect(sha256(await readFile(join(dir, 'b.bin')))).toBe(sha256(data));
    expect(stderr).toMatch(/^rangeget: skipped .*a\.bin: it exists \(--overwrite downloads it again\)$/m);
    expect(stderr).toMatch(/^a\.bin +- +exists, skipped/m);
  });

  it("reads the list from standard input with '-i -'", async () => {
    const { code } = await runCli(['-q', '-i', '-'], dir, { input: `${server.url('/in.bin')}\n` });
    expect(code).toBe(0);
    expect(await readdir(dir)).toEqual(['in.bin']);
  });

  it('says when an input list holds no URL, naming it', async () => {
    const { code, stderr } = await runCli(['-i', '-'], dir, { input: '# nothing yet\n\n' });
    expect(code).toBe(2);
    expect(stderr).toBe('rangeget: standard input lists no URL (one per line; # starts a comment)\n');
  });

  it('refuses a second process on the same output before it sends a request, and takes over from a dead one', async () => {
    server.behaviour = { bytesPerSecond: 256 * 1024 };
    const args = ['-o', 'f', '-n', '2', server.url()];
    const first = startCli(args, dir);
    await waitFor(() => readdir(dir).then((names) => names.includes('f.part.json')));
    const [requests, connections] = [server.requests.length, server.connectionTimes.length];
    const second = await runCli(args, dir);
    expect(second.code).toBe(5);
    expect(second.stderr).toMatch(new RegExp(`another rangeget \\(pid ${first.child.pid}\\) is downloading to .*f`));
    expect([server.requests.length, server.connectionTimes.length]).toEqual([requests, connections]);
    first.child.kill('SIGKILL');
    await first.done;
    expect(await readdir(dir)).toContain('f.part.lock');
    server.behaviour = {};
    expect((await runCli(args, dir)).code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['f']);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('exits 130 on %s, saying how to resume, and the same command finishes', async (signal) => {
    server.behaviour = { bytesPerSecond: 256 * 1024 };
    const args = ['-o', 'f', '-n', '2', server.url()];
    const run = startCli(args, dir);
    await waitFor(() => readdir(dir).then((names) => names.includes('f.part.json')));
    await new Promise((resolve) => setTimeout(resolve, 300));
    run.child.kill(signal);
    const interrupted = await run.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/run the same command again to resume/);
    expect((await readdir(dir)).sort()).toEqual(['f.part', 'f.part.json']);
    server.behaviour = {};
    const resumed = await runCli(args, dir);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/resuming/);
    expect(sha256(await readFile(join(dir, 'f')))).toBe(sha256(data));
  });
});
