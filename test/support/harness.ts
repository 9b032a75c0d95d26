import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { download } from '../../src/download.js';
import type { DownloadEvent } from '../../src/events.js';
import type { DownloadOptions } from '../../src/options.js';
import { useTempDir } from './temp-dir.js';
import { sha256, TestServer, type Behaviour } from './test-server.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/**
 * Per-test download environment: a temp directory, test servers closed afterwards, and
 * `get()` with small segments, few retries and short timeouts so faults show quickly.
 */
export function useDownloads() {
  const tempDir = useTempDir();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const env = {
    dir: () => tempDir(),
    async serve(data: Buffer, behaviour: Behaviour = {}): Promise<TestServer> {
      const server = await TestServer.start(data, behaviour);
      servers.push(server);
      return server;
    },
    get(url: string, options: Partial<DownloadOptions> = {}) {
      return download({ url, dir: tempDir(), output: 'out.bin', minSegmentSize: 64 * KiB, retries: 2, timeoutMs: 5000, ...options });
    },
    /** Messages of the notice events a download emits. */
    notices(into: string[]): (e: DownloadEvent) => void {
      return (e) => {
        if (e.type === 'notice') into.push(e.message);
      };
    },
    /** Serves `data` with `behaviour`, downloads it with `options`, checks every byte; returns the server, the result and the notices. */
    async getChecked(data: Buffer, behaviour: Behaviour, options: Partial<DownloadOptions> = {}) {
      const server = await env.serve(data, behaviour);
      const notices: string[] = [];
      const result = await env.get(server.url(), { ...options, onEvent: env.notices(notices) });
      expect(await env.outputSha()).toBe(sha256(data));
      return { server, result, notices };
    },
    async outputSha(name = 'out.bin'): Promise<string> {
      return sha256(await readFile(join(tempDir(), name)));
    },
    /** The directory holds exactly these names: no stray part files, manifests or temp files. */
    async expectFiles(...names: string[]): Promise<void> {
      expect((await readdir(tempDir())).sort()).toEqual(names.sort());
    },
  };
  return env;
}
