import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newSegment } from '../src/scheduler.js';
import { PIECE_BYTES } from '../src/write-pieces.js';
import { MAX_BUFFER_BYTES, MIN_BUFFER_BYTES, SegmentWriter, FileWriter, bufferBytesFor } from '../src/writer.js';
import { useTempDir } from './support/temp-dir.js';

describe('bufferBytesFor', () => {
  it('shares one budget among the connections, in 64 KiB steps, within bounds', () => {
    expect([1, 4, 8].map(bufferBytesFor)).toEqual([MAX_BUFFER_BYTES, MAX_BUFFER_BYTES, MAX_BUFFER_BYTES]);
    expect(MAX_BUFFER_BYTES).toBe(256 * 1024);
    expect(bufferBytesFor(12)).toBe(128 * 1024);
    expect(bufferBytesFor(16)).toBe(128 * 1024);
    expect(bufferBytesFor(32)).toBe(MIN_BUFFER_BYTES);
    expect(bufferBytesFor(1000)).toBe(MIN_BUFFER_BYTES);
    expect(bufferBytesFor(0)).toBe(MAX_BUFFER_BYTES);
  });
});

describe('SegmentWriter', () => {
  const tempDir = useTempDir();

  it('writes each segment at its own offset and counts only completed writes', async () => {
    const path = join(tempDir(), 'f.part');
    const file = await open(path, 'w+');
    await file.truncate(20);
    const a = newSegment({ start: 0, end: 10 });
    const b = newSegment({ start: 10, end: 20 });
    let writes = 0;
    const queue = new FileWriter(file.fd, 2);
    const wa = new SegmentWriter(queue, a, () => writes++);
    const wb = new SegmentWriter(queue, b, () => writes++);
    wb.push(Buffer.from('KLMNO'));
    wa.push(Buffer.from('abc'));
    wa.push(Buffer.from('defghij'));
    expect(a.written).toBe(0);
    await Promise.all([wa.flush(), wb.flush()]);
    wb.push(Buffer.from('PQRST'));
    await wb.flush();
    await file.close();
    expect(await readFile(path, 'latin1')).toBe('abcdefghijKLMNOPQRST');
    expect([a.written, b.written]).toEqual([10, 10]);
    expect(writes).toBe(3);
  });

  it.each([1, 16])('gathers small chunks into buffer-sized writes and asks to pause above two buffers (%i connections)', async (connections) => {
    const file = await open(join(tempDir(), 'big.part'), 'w+');
    const files = new FileWriter(file.fd, connections);
    expect(files.bufferBytes).toBe(bufferBytesFor(connections));
    const segment = newSegment({ start: 0, end: 4 * files.bufferBytes });
    let writes = 0;
    const writer = new SegmentWriter(files, segment, () => writes++);
    expect(writer.highWaterBytes).toBe(2 * files.bufferBytes);
    const chunk = Buffer.alloc(64 * 1024, 7);
    let pauseAsked = false;
    let pushed = 0;
    for (; pushed < writer.highWaterBytes + chunk.length; pushed += chunk.length) pauseAsked = !writer.push(chunk) || pauseAsked;
    expect(pauseAsked).toBe(true);
    const resumed = new Promise<void>((resolve) => writer.onDrain(() => resolve()));
    await writer.flush();
    await resumed;
    await file.close();
    expect(segment.written).toBe(pushed);
    expect(writes).toBeLessThanOrEqual(4);
  });

  // A slowWriteMs of -1 counts every write as slow: after three on the main thread, the rest go to the thread pool.
  it.each([
    [1, 60_000],
    [16, 60_000],
    [64, 60_000],
    [8, -1],
  ])('writes chunks of any size and number, byte for byte (%i connections, slow above %i ms)', async (connections, slowWriteMs) => {
    const path = join(tempDir(), 'copy.part');
    const file = await open(path, 'w+');
    const data = randomBytes(3 * MAX_BUFFER_BYTES + 12345);
    const segment = newSegment({ start: 0, end: data.length });
    const files = new FileWriter(file.fd, connections, slowWriteMs);
    expect(files.onMainThread).toBe(true);
    const writer = new SegmentWriter(files, segment, () => {});
    let at = 0;
    for (; at < 3000; at++) writer.push(data.subarray(at, at + 1));
    for (let size = 1; at < data.length; at += size, size = 1 + ((size * 7) % 200_000)) writer.push(data.subarray(at, at + size));
    await writer.flush();
    await file.close();
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(segment.written).toBe(data.length);
    expect(files.onMainThread).toBe(slowWriteMs >= 0);
  });

  it('writes a segment that starts mid-window, chunks spanning windows, byte for byte', async () => {
    const path = join(tempDir(), 'offset.part');
    const file = await open(path, 'w+');
    const data = randomBytes(5 * PIECE_BYTES + 777);
    const segment = newSegment({ start: PIECE_BYTES - 1000, end: PIECE_BYTES - 1000 + data.length });
    const writer = new SegmentWriter(new FileWriter(file.fd, 1), segment, () => {});
    for (let at = 0, size = 999; at < data.length; at += size, size = 1 + ((size * 13) % 70_000)) writer.push(data.subarray(at, at + size));
    await writer.flush();
    await file.close();
    const written = await readFile(path);
    expect(written.subarray(segment.start).equals(data)).toBe(true);
    expect(written.subarray(0, segment.start).every((byte) => byte === 0)).toBe(true);
  });

  it('writes a slow trickle within a fraction of a second', async () => {
    const file = await open(join(tempDir(), 'slow.part'), 'w+');
    const segment = newSegment({ start: 0, end: 100 });
    const writer = new SegmentWriter(new FileWriter(file.fd, 1), segment, () => {});
    writer.push(Buffer.from('x'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(segment.written).toBe(1);
    await file.close();
  });

  it.each([1, 64])('reports a write error from flush (%i connections)', async (connections) => {
    const file = await open(join(tempDir(), 'ro.part'), 'w+');
    const readOnly = await open(join(tempDir(), 'ro.part'), 'r');
    const writer = new SegmentWriter(new FileWriter(readOnly.fd, connections), newSegment({ start: 0, end: 10 }), () => {});
    writer.push(Buffer.from('x'));
    await expect(writer.flush()).rejects.toMatchObject({ code: 'EBADF' });
    await readOnly.close();
    await file.close();
  });

  it.each([64, 16])('moves writes off the main thread after a few slow writes, and still writes every byte (%i connections)', async (connections) => {
    const path = join(tempDir(), 'slow.part');
    const file = await open(path, 'w+');
    // Any write is slower than -1 ms: this one stands for a disk that throttles.
    const slowDisk = new FileWriter(file.fd, connections, -1);
    const segment = newSegment({ start: 0, end: 4 * slowDisk.bufferBytes });
    const writer = new SegmentWriter(slowDisk, segment, () => {});
    const data = randomBytes(segment.end);
    const onMainThread: boolean[] = [];
    for (let at = 0; at < data.length; at += slowDisk.bufferBytes) {
      onMainThread.push(slowDisk.onMainThread);
      writer.push(data.subarray(at, at + slowDisk.bufferBytes));
      await writer.flush();
    }
    expect(onMainThread).toEqual([true, true, true, false]);
    await file.close();
    expect((await readFile(path)).equals(data)).toBe(true);
  });

  it('reports a write error on the thread pool as on the main thread', async () => {
    const path = join(tempDir(), 'ro.part');
    await (await open(path, 'w+')).close();
    const readOnly = await open(path, 'r');
    const files = new FileWriter(readOnly.fd, 1, -1);
    const results: Array<[boolean, string | undefined]> = [];
    for (let i = 0; i < 4; i++) {
      const onMainThread = files.onMainThread;
      const error = await new Promise<Error | null>((resolve) => files.write([Buffer.from('x')], 0, resolve));
      results.push([onMainThread, (error as NodeJS.ErrnoException | null)?.code]);
    }
    await readOnly.close();
    expect(results).toEqual([[true, 'EBADF'], [true, 'EBADF'], [true, 'EBADF'], [false, 'EBADF']]);
  });

  it.each([1, 64])('wakes a connection paused for a write that failed, with the error, and refuses more bytes (%i connections)', async (connections) => {
    const file = await open(join(tempDir(), 'ro.part'), 'w+');
    const readOnly = await open(join(tempDir(), 'ro.part'), 'r');
    const files = new FileWriter(readOnly.fd, connections);
    const writer = new SegmentWriter(files, newSegment({ start: 0, end: 4 * files.bufferBytes }), () => {});
    expect(writer.push(Buffer.alloc(writer.highWaterBytes))).toBe(false);
    const woken = await new Promise<Error | undefined>((resolve) => writer.onDrain(resolve));
    expect(woken).toMatchObject({ code: 'EBADF' });
    expect(writer.push(Buffer.from('x'))).toBe(false);
    expect(await new Promise<Error | undefined>((resolve) => writer.onDrain(resolve))).toBe(woken);
    await readOnly.close();
    await file.close();
  });
});
