import { afterEach, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import type { Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { buildConnector } from 'undici';
import { createDispatcher } from '../src/http.js';
import { WarmConnections } from '../src/preconnect.js';
import { MiB } from './support/harness.js';
import { TestServer, testData } from './support/test-server.js';

const servers: TestServer[] = [];
const agents: Dispatcher[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(): Promise<TestServer> {
  const server = await TestServer.start(testData(MiB));
  servers.push(server);
  return server;
}

function dispatchers(connections: number) {
  const made = createDispatcher({ connections, timeoutMs: 5000, insecure: false });
  agents.push(made.agent);
  return { agent: made.agent, warm: made.warm! };
}

async function accepted(server: TestServer, count: number): Promise<void> {
  await server.connectionsReach(count);
  expect(server.connectionTimes).toHaveLength(count);
}

async function closed(server: TestServer, count: number): Promise<void> {
  await server.connectionsReach(count, true);
  expect(server.closeTimes).toHaveLength(count);
}

function head(agent: Dispatcher, url: string) {
  const { origin, pathname } = new URL(url);
  return agent.request({ origin, path: pathname, method: 'HEAD' }).then((response) => response.body.dump());
}

function rangedGet(agent: Dispatcher, url: string, start: number) {
  const { origin, pathname } = new URL(url);
  return agent.request({ origin, path: pathname, method: 'GET', headers: { range: `bytes=${start}-${start + 999}` } })
    .then(async (response) => (await response.body.arrayBuffer()).byteLength);
}

/**
 * A port whose server never accepts: its event loop is blocked, so its accept queue fills at once
 * and the handshakes after that are dropped, as behind a firewall's connection limit. `stop` kills it.
 */
async function unacceptingPort(): Promise<{ port: string; stop: () => void }> {
  const program = `require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () {
    process.stdout.write(String(this.address().port), () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
  });`;
  const child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [port] = (await once(child.stdout, 'data')) as [Buffer];
  return { port: port.toString(), stop: () => child.kill('SIGKILL') };
}

describe('WarmConnections', () => {
  it('starts the next request\'s own connection before its early ones (a server with few workers takes it first)', async () => {
    const server = await start();
    const real = buildConnector({});
    const started: string[] = [];
    const warm = new WarmConnections((target, callback) => {
      started.push(callback === first ? 'request' : 'early');
      real(target, callback);
    });
    const sockets: Socket[] = [];
    const first: buildConnector.Callback = (err, socket) => void (socket && sockets.push(socket));
    warm.open(2);
    const { hostname, port, protocol } = new URL(server.url());
    warm.connect({ hostname, port, protocol }, first);
    expect(started).toEqual(['request', 'early', 'early']);
    await accepted(server, 3);
    warm.close();
    for (const socket of sockets) socket.destroy();
  });

  it('opens connections right after the next request\'s own, and hands them to requests only once it serves them', async () => {
    const server = await start();
    const { agent, warm } = dispatchers(3);
    warm.open(3);
    expect(server.connectionTimes).toHaveLength(0);
    // undici closes the HEAD's connection after it.
    await head(agent, server.url());
    await accepted(server, 4);
    warm.serve(server.url(), 3);
    expect(await Promise.all([0, 1000, 2000].map((start) => rangedGet(agent, server.url(), start)))).toEqual([1000, 1000, 1000]);
    expect(server.connectionTimes).toHaveLength(4);
  });

  it('moves to the server a redirect leads to, opens no more for a second request to it, and closes what no request takes', async () => {
    const [first, final] = [await start(), await start()];
    const { agent, warm } = dispatchers(2);
    warm.open(2);
    await head(agent, first.url());
    await accepted(first, 3);
    // The redirect's target: the early connections move there. A second HEAD (or a probe) connects alone.
    await head(agent, final.url());
    await head(agent, final.url());
    await accepted(final, 4);
    await closed(first, 3);
    warm.serve(final.url(), 1);
    expect(await rangedGet(agent, final.url(), 0)).toBe(1000);
    // Both HEADs' connections, and the early one no request took.
    await closed(final, 3);
    expect(final.connectionTimes).toHaveLength(4);
  });

  it('connects anew when a warm connection has closed since', async () => {
    const server = await start();
    const { agent, warm } = dispatchers(1);
    warm.open(1);
    await head(agent, server.url());
    await accepted(server, 2);
    server.dropConnections();
    await closed(server, 2);
    warm.serve(server.url(), 1);
    expect(await rangedGet(agent, server.url(), 0)).toBe(1000);
    expect(server.connectionTimes).toHaveLength(3);
  });

  it('gives up the connections still opening when it ends, rather than hold the process until their timeout', async () => {
    const server = await unacceptingPort();
    const warm = new WarmConnections(buildConnector({ timeout: 60_000 }));
    const target = { hostname: '127.0.0.1', port: server.port, protocol: 'http:' };
    const opened: Socket[] = [];
    try {
      const outcomes = [1, 2, 3, 4].map(() => new Promise<Error | null>((resolve) => warm.connect(target, (err, socket) => {
        if (socket) opened.push(socket);
        resolve(err);
      })));
      // The accept queue takes two at most; the others' handshakes go unanswered.
      await Promise.race(outcomes);
      warm.end();
      const errors = await Promise.all(outcomes);
      expect(errors.filter((err) => err?.message === 'the download ended').length).toBeGreaterThanOrEqual(2);
    } finally {
      for (const socket of opened) socket.destroy();
      server.stop();
    }
  });

  it('opens none when the request before them cannot connect, and fails as that one does', async () => {
    const url = 'http://127.0.0.1:1/file.bin';
    const { agent, warm } = dispatchers(1);
    warm.open(1);
    await expect(head(agent, url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    warm.serve(url, 1);
    await expect(rangedGet(agent, url, 0)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
