import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { download } from '../download.js';
import { ExitCode } from '../errors.js';
import { tempFileError } from '../files.js';
import { listenLocal, serveFile } from '../local-server.js';
import { hashFile } from '../merger.js';
import { formatBytes } from '../size.js';
import type { Reporter } from './reporter.js';

const DEMO_SIZE = 256 * 2 ** 20;
const PER_CONNECTION_RATE = 24 * 2 ** 20;

/**
 * The product's main job with no network: a local server caps each connection at 24 MiB/s;
 * rangeget fetches the same 256 MiB with 1 connection, then with 8, and checks the SHA-256.
 */
export async function runDemo(reporter: Reporter, signal: AbortSignal, print = (line: string) => process.stderr.write(`${line}\n`)): Promise<number> {
  print(`demo: a local server caps each connection at ${formatBytes(PER_CONNECTION_RATE)}/s; downloading ${formatBytes(DEMO_SIZE)} with 1, then 8 connections`);
  const dir = await mkdtemp(join(tmpdir(), 'rangeget-demo-')).catch((err: unknown) => {
    throw tempFileError(err);
  });
  // Loaded here, not up front: node:crypto cost every start 3.5-5 ms.
  const { createHash, randomBytes } = process.getBuiltinModule('node:crypto');
  const data = randomBytes(DEMO_SIZE);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const server = await listenLocal((req, res) => serveFile(req, res, { data, etag: '"demo-1"' }, { bytesPerSecond: PER_CONNECTION_RATE }));
  try {
    const seconds: number[] = [];
    for (const connections of [1, 8]) {
      const result = await download({
        url: `${server.url}/demo.bin`, dir, output: `demo-${connections}.bin`, connections, signal, onEvent: reporter.listener(`${server.url}/demo.bin`, `demo-${connections}.bin`),
      });
      seconds.push(result.seconds);
      if ((await hashFile(result.path, 'sha256')) !== sha256) {
        print(`demo: the ${connections}-connection copy has the wrong SHA-256`);
        return ExitCode.integrity;
      }
    }
    const [one, eight] = seconds as [number, number];
    print(`demo: 1 connection ${one.toFixed(1)} s, 8 connections ${eight.toFixed(1)} s: ${(one / eight).toFixed(1)}x faster`);
    print(`demo: both copies verified (sha256 ${sha256}); temporary files removed`);
    return ExitCode.ok;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await server.close();
  }
}
