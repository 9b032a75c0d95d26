import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { burstyReads, readBytesFor, recyclingReads, releaseReadBuffer } from '../src/read-buffers.js';

/** One read of `bytes` through the pool's onread, as Node makes it; returns the buffer read into and what the stream got. */
function read(pool: ReturnType<typeof recyclingReads>, bytes: number) {
  const stream = new Readable({ read() {} });
  const buffer = (pool.buffer as () => Buffer)();
  buffer.fill(7, 0, bytes);
  pool.callback.call(stream as unknown as Socket, bytes, buffer);
  return { buffer, chunk: stream.read() as Buffer };
}

const nextBuffer = (pool: ReturnType<typeof recyclingReads>) => (pool.buffer as () => Buffer)();

/** `count` full reads of one socket (a stream standing in for it) through the pool; returns the next read's size. */
function readFull(pool: ReturnType<typeof recyclingReads>, socket: Readable, count: number): number {
  for (let i = 0; i < count; i++) {
    const buffer = nextBuffer(pool);
    pool.callback.call(socket as unknown as Socket, buffer.length, buffer);
    socket.read();
  }
  return nextBuffer(pool).length;
}

describe('readBytesFor', () => {
  it('reads larger buffers on fewer connections: 512 KiB up to 4, 128 KiB up to 8, else 64 KiB', () => {
    expect([1, 4, 5, 8, 9, 16, 64].map((n) => readBytesFor(n) / 1024)).toEqual([512, 512, 128, 128, 64, 64, 64]);
    expect(readBytesFor(undefined)).toBe(64 * 1024);
  });

  it('reads at most a tenth of a second of a connection\'s share of a rate limit, and never under 64 KiB', () => {
    expect(readBytesFor(4, 40 * 2 ** 20) / 1024).toBe(512);
    expect(readBytesFor(4, 8 * 2 ** 20) / 1024).toBe(204);
    expect(readBytesFor(4, 2 * 2 ** 20) / 1024).toBe(64);
  });
});

describe('burstyReads', () => {
  it('has the HEAD\'s and the first requests\' sockets read 16 KiB at a time where reads are 64 KiB', () => {
    expect(burstyReads(64 * 1024, 16)).toEqual({ bytes: 16 * 1024, sockets: 17 });
  });

  it('leaves larger reads, and an unlimited number of connections, as they are', () => {
    expect([burstyReads(128 * 1024, 8), burstyReads(512 * 1024, 4), burstyReads(64 * 1024, undefined)]).toEqual([undefined, undefined, undefined]);
  });
});

describe('recyclingReads, bursty then steady', () => {
  const KiB = 1024;

  it('reads a socket in small reads until it has delivered 16 MiB without a pause, then in full ones', () => {
    const pool = recyclingReads(64 * KiB, { bytes: 16 * KiB, sockets: 1 });
    const socket = new Readable({ read() {} });
    expect(nextBuffer(pool).length).toBe(16 * KiB);
    expect(readFull(pool, socket, 1023)).toBe(16 * KiB);
    expect(readFull(pool, socket, 1)).toBe(64 * KiB);
    expect(readFull(pool, socket, 1)).toBe(64 * KiB);
  });

  it('counts each socket apart, and starts the count again after a pause of 50 ms', async () => {
    const pool = recyclingReads(64 * KiB, { bytes: 16 * KiB, sockets: 2 });
    const [socket, other] = [new Readable({ read() {} }), new Readable({ read() {} })];
    readFull(pool, socket, 1000);
    expect(readFull(pool, other, 100)).toBe(16 * KiB);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(readFull(pool, socket, 1000)).toBe(16 * KiB);
    expect(readFull(pool, socket, 24)).toBe(64 * KiB);
  });

  it('reads full size from the start on sockets after the first ones', () => {
    const pool = recyclingReads(64 * KiB, { bytes: 16 * KiB, sockets: 2 });
    const sockets = [0, 1, 2].map(() => new Readable({ read() {} }));
    expect(sockets.map((socket) => readFull(pool, socket, 1))).toEqual([16 * KiB, 16 * KiB, 64 * KiB]);
  });
});

describe('recyclingReads', () => {
  it('hands a buffer out again only once every byte read into it is released', () => {
    const pool = recyclingReads();
    const { buffer, chunk } = read(pool, 60_000);
    expect(chunk.buffer).toBe(buffer.buffer);
    releaseReadBuffer(chunk.subarray(0, 59_999));
    expect(nextBuffer(pool).buffer).not.toBe(buffer.buffer);
    releaseReadBuffer(chunk.subarray(59_999));
    expect(nextBuffer(pool).buffer).toBe(buffer.buffer);
  });

  it('never reuses a buffer with bytes that were not written, such as response headers', () => {
    const pool = recyclingReads();
    const { buffer, chunk } = read(pool, 60_000);
    releaseReadBuffer(chunk.subarray(200));
    releaseReadBuffer(chunk.subarray(200));
    expect(nextBuffer(pool).buffer).not.toBe(buffer.buffer);
  });

  it('copies a small read out and reads into the same buffer again', () => {
    const pool = recyclingReads();
    const { buffer, chunk } = read(pool, 100);
    expect(chunk.buffer).not.toBe(buffer.buffer);
    expect([...chunk]).toEqual(new Array(100).fill(7));
    expect(nextBuffer(pool).buffer).toBe(buffer.buffer);
  });

  it('reads into buffers of the size asked, and the next read into the rest of one while 64 KiB of it are free', () => {
    const pool = recyclingReads(256 * 1024);
    const first = read(pool, 100 * 1024);
    expect(first.buffer.length).toBe(256 * 1024);
    expect(first.chunk.buffer).toBe(first.buffer.buffer);
    const rest = nextBuffer(pool);
    expect(rest.buffer).toBe(first.buffer.buffer);
    expect([rest.byteOffset, rest.length]).toEqual([100 * 1024, 156 * 1024]);
  });

  it('reads small reads into the rest of a large buffer rather than copying them', () => {
    const pool = recyclingReads(512 * 1024);
    const chunks = [read(pool, 100), read(pool, 64 * 1024), read(pool, 1000)].map((r) => r.chunk);
    expect(new Set(chunks.map((chunk) => chunk.buffer)).size).toBe(1);
    expect(chunks.map((chunk) => chunk.byteOffset)).toEqual([0, 100, 100 + 64 * 1024]);
  });

  it('takes a buffer back only once it is no longer read into and every byte read into it is released', () => {
    const pool = recyclingReads(128 * 1024);
    const first = read(pool, 64 * 1024);
    releaseReadBuffer(first.chunk);
    const second = read(pool, 64 * 1024);
    expect(second.buffer.buffer).toBe(first.buffer.buffer);
    expect(second.buffer.byteOffset).toBe(64 * 1024);
    const fresh = nextBuffer(pool);
    expect(fresh.buffer).not.toBe(first.buffer.buffer);
    releaseReadBuffer(second.chunk);
    const reused = nextBuffer(pool);
    expect(reused.buffer).toBe(first.buffer.buffer);
    expect([reused.byteOffset, reused.length]).toEqual([0, 128 * 1024]);
  });

  it('ignores chunks that are not its own', () => {
    expect(() => releaseReadBuffer(Buffer.alloc(10))).not.toThrow();
  });
});

describe('recyclingReads on a real socket', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** Reads `data` from a loopback server, handing each chunk to `take`; resolves with what was read. */
  async function receive(data: Buffer, take: (chunk: Buffer) => void, readBytes?: number): Promise<Buffer> {
    server = createServer((socket) => socket.end(data));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const socket = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', onread: recyclingReads(readBytes) });
    const copies: Buffer[] = [];
    socket.on('readable', () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) {
        copies.push(Buffer.from(chunk));
        take(chunk);
      }
    });
    await new Promise((resolve) => socket.on('end', resolve));
    return Buffer.concat(copies);
  }

  it('reads 16 KiB at a time from a new socket, and more once it has sent 16 MiB without pausing', async () => {
    const data = Buffer.alloc(64 * 2 ** 20, 1);
    server = createServer((socket) => socket.end(data));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const socket = connect({ port, host: '127.0.0.1', onread: recyclingReads(64 * 1024, { bytes: 16 * 1024, sockets: 1 }) });
    const sizes: number[] = [];
    socket.on('data', (chunk: Buffer) => sizes.push(chunk.length));
    await new Promise((resolve) => socket.on('end', resolve));
    const firstSteady = sizes.findIndex((size) => size > 16 * 1024);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(data.length);
    expect(sizes.slice(0, firstSteady).reduce((sum, size) => sum + size, 0)).toBeGreaterThanOrEqual(16 * 2 ** 20);
    expect(Math.max(...sizes)).toBe(64 * 1024);
  });

  it('delivers every byte in order while buffers are reused', async () => {
    const data = randomBytes(8 * 2 ** 20);
    const seen = new Set<ArrayBufferLike>();
    let reused = 0;
    const got = await receive(data, (chunk) => {
      if (seen.has(chunk.buffer)) reused++;
      seen.add(chunk.buffer);
      releaseReadBuffer(chunk);
    });
    expect(got.equals(data)).toBe(true);
    expect(reused).toBeGreaterThan(0);
  });

  it.each([undefined, 512 * 1024])('keeps chunks that are held intact: nothing is read into a buffer still in use (%s-byte buffers)', async (readBytes) => {
    const data = randomBytes(8 * 2 ** 20);
    const held: Buffer[] = [];
    const got = await receive(data, (chunk) => held.push(chunk), readBytes);
    expect(got.equals(data)).toBe(true);
    expect(Buffer.concat(held).equals(data)).toBe(true);
  });

  it('delivers every byte in order while the rests of large buffers are read into and buffers reused', async () => {
    const data = randomBytes(8 * 2 ** 20);
    const offsets = new Set<number>();
    const got = await receive(data, (chunk) => {
      offsets.add(chunk.byteOffset);
      releaseReadBuffer(chunk);
    }, 512 * 1024);
    expect(got.equals(data)).toBe(true);
    expect([...offsets].some((offset) => offset > 0)).toBe(true);
  });
});
