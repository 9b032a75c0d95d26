import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createDispatcher } from '../src/http.js';
import { TestServer, testData } from './support/test-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('undici, loaded in part', () => {
  it("starts without undici's entry point (fetch, WebSocket, mocks), yet has its dispatcher methods", () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "const { EnvHttpProxyAgent } = await import('./dist/undici.js');",
      "const agent = new EnvHttpProxyAgent();",
      "const loaded = Object.keys(createRequire(import.meta.url).cache);",
      "console.log(JSON.stringify({ entryPoint: loaded.some((path) => path.endsWith('/undici/index.js')), methods: [agent.request, agent.connect, agent.destroy].map((m) => typeof m) }));",
    ].join('\n');
    expect(runModule(script)).toEqual({ entryPoint: false, methods: ['function', 'function', 'function'] });
  });

  it('is loaded the same way by the bundled CLI (dist/rangeget.cjs)', () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "await import('./dist/rangeget.cjs');",
      "const loaded = Object.keys(createRequire(import.meta.url).cache);",
      "console.log(JSON.stringify({ entryPoint: loaded.some((path) => path.endsWith('/undici/index.js')), agent: loaded.some((path) => path.endsWith('/env-http-proxy-agent.js')) }));",
    ].join('\n');
    expect(runModule(script)).toEqual({ entryPoint: false, agent: true });
  });

  it('loads node:http2 and node:tls only when HTTP/2 is first used', () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "await import('./dist/rangeget.cjs');",
      'const require = createRequire(import.meta.url);',
      "const loaded = () => process.moduleLoadList.filter((m) => /^NativeModule (http2|tls)$/.test(m)).sort();",
      'const atStart = loaded();',
      "const path = require.resolve('undici/lib/dispatcher/client-h2.js');",
      'const standIn = require.cache[path].exports;',
      // Bogus arguments: the real connectH2 throws on them, after the stand-in has loaded it.
      'try { standIn({}, {}); } catch {}',
      'console.log(JSON.stringify({ atStart, afterUse: loaded(), replaced: require(path) !== standIn }));',
    ].join('\n');
    expect(runModule(script)).toEqual({ atStart: [], afterUse: ['NativeModule http2', 'NativeModule tls'], replaced: true });
  });

  it("leaves undici's HTTP/2 client alone when the host application loaded it first", () => {
    const script = [
      "import { createRequire } from 'node:module';",
      'const require = createRequire(import.meta.url);',
      "const path = require.resolve('undici/lib/dispatcher/client-h2.js');",
      'const real = require(path);',
      "await import('./dist/index.js');",
      'console.log(JSON.stringify({ kept: require.cache[path].exports === real }));',
    ].join('\n');
    expect(runModule(script)).toEqual({ kept: true });
  });
});

describe('the connection pool', () => {
  it('gives a request an idle connected client before one whose connection closed', async () => {
    const server = await TestServer.start(testData(1000));
    const { agent } = createDispatcher({ connections: 2, timeoutMs: 5000, insecure: false });
    const { origin } = new URL(server.url());
    const get = (reset: boolean) => agent.request({ origin, path: '/file.bin', method: 'GET', reset }).then((r) => r.body.dump());
    try {
      // The first client's connection closes after its request; the second's stays open.
      await Promise.all([get(true), get(false)]);
      await server.connectionsReach(1, true);
      await get(false);
      // undici's own pool would take the first client, and connect it again.
      expect(server.connectionTimes).toHaveLength(2);
    } finally {
      await agent.destroy();
      await server.close();
    }
  });
});

function runModule(script: string): unknown {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout);
}
