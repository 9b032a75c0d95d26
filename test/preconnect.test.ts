import { afterEach, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import { createDispatcher } from '../src/http.js';
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

/** Waits (up to 2 s) until `server` has accepted `count` connections. */
async function accepted(server: TestServer, count: number): Promise<void> {
  for (let i = 0; i < 200 && server.connectionTimes.length < count; i++) await new Promise((r) => setTimeout(r, 10));
  expect(server.connectionTimes).toHaveLength(count);
}

/** Waits (up to 2 s) until `count` of `server`'s connections have closed. */
async function closed(server: TestServer, count: number): Promise<void> {
  for (let i = 0; i < 200 && server.closeTimes.length < count; i++) await new Promise((r) => setTimeout(r, 10));
  expect(server.closeTimes).toHaveLength(count);
}

function rangedGet(agent: Dispatcher, url: string, start: number) {
  const { origin, pathname } = new URL(url);
  return agent.request({ origin, path: pathname, method: 'GET', headers: { range: `bytes=${start}-${start + 999}` } })
    .then(async (response) => (await response.body.arrayBuffer()).byteLength);
}

describe('WarmConnections', () => {
  it('opens connections ahead, and hands them to requests only once it serves them', async () => {
    const server = await start();
    const { agent, warm } = dispatchers(3);
    warm.open(server.url(), 3);
    await accepted(server, 3);
    // The HEAD (before serve) connects anew, and undici closes its connection after it.
    const { origin, pathname } = new URL(server.url());
    await (await agent.request({ origin, path: pathname, method: 'HEAD' })).body.dump();
    await accepted(server, 4);
    warm.serve(server.url(), 3);
    expect(await Promise.all([0, 1000, 2000].map((start) => rangedGet(agent, server.url(), start)))).toEqual([1000, 1000, 1000]);
    expect(server.connectionTimes).toHaveLength(4);
  });

  it('closes what it opened to a server the requests do not go to, and what is left at the end', async () => {
    const [first, final] = [await start(), await start()];
    const { agent, warm } = dispatchers(2);
    warm.open(first.url(), 2);
    warm.open(final.url(), 3);
    await accepted(first, 2);
    await accepted(final, 3);
    warm.serve(final.url(), 2);
    expect(await rangedGet(agent, final.url(), 0)).toBe(1000);
    await closed(first, 2);
    await closed(final, 1);
    warm.close();
    await closed(final, 2);
    expect(final.connectionTimes).toHaveLength(3);
  });

  it('connects anew when a warm connection has closed since', async () => {
    const server = await start();
    const { agent, warm } = dispatchers(1);
    warm.open(server.url(), 1);
    await accepted(server, 1);
    server.dropConnections();
    await closed(server, 1);
    warm.serve(server.url(), 1);
    expect(await rangedGet(agent, server.url(), 0)).toBe(1000);
    expect(server.connectionTimes).toHaveLength(2);
  });

  it('connects anew when a warm connection could not be opened, and fails as that connection does', async () => {
    const url = 'http://127.0.0.1:1/file.bin';
    const { agent, warm } = dispatchers(1);
    warm.open(url, 1);
    warm.serve(url, 1);
    await expect(rangedGet(agent, url, 0)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
