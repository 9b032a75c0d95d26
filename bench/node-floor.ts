/**
 * How fast the least a Node program can do downloads a file: a HEAD for the size, then one ranged
 * GET per connection on raw sockets (their starts spread, small reads), every body counted and
 * dropped. No undici, no arguments to parse, nothing written: a floor for any Node downloader, to
 * set beside rangeget and the peers in the capped scenario (docs/performance.md).
 * Usage: npx tsc -p tsconfig.bench.json && node build/bench/node-floor.js URL [connections 16] [spread ms 100] [read bytes 16384]
 */
import { connect, type Socket } from 'node:net';

const [target, connections = '16', spreadMs = '100', readBytes = '16384'] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: node build/bench/node-floor.js URL [connections] [spread ms] [read bytes]\n');
  process.exit(2);
}
const url = new URL(target);

/** Sends one request with `Connection: close`; resolves to the body's length, once all of it arrived. */
function fetchLength(method: 'HEAD' | 'GET', range?: string): Promise<{ contentLength: number; received: number }> {
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafe(Number(readBytes));
    let head = '';
    let contentLength = -1;
    let received = 0;
    const onBytes = (chunk: Buffer) => {
      if (contentLength < 0) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headers = head.slice(0, end);
        contentLength = /^HTTP\/1\.[01] 20[06] /.test(headers) ? Number(/content-length: *(\d+)/i.exec(headers)?.[1] ?? NaN) : NaN;
        received = head.length - end - 4;
      } else {
        received += chunk.length;
      }
      if (method === 'HEAD' || received >= contentLength) {
        socket.destroy();
        resolve({ contentLength, received });
      }
    };
    const socket: Socket = connect({
      host: url.hostname,
      port: Number(url.port || 80),
      onread: {
        buffer,
        callback: (bytes) => {
          onBytes(buffer.subarray(0, bytes));
          return true;
        },
      },
    }, () => {
      const rangeLine = range ? `Range: bytes=${range}\r\n` : '';
      socket.write(`${method} ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n${rangeLine}Connection: close\r\n\r\n`);
    });
    socket.on('error', reject);
    // A server that closes early: the caller compares what arrived.
    socket.on('close', () => resolve({ contentLength, received }));
  });
}

const { contentLength: size } = await fetchLength('HEAD');
if (!(size > 0)) {
  process.stderr.write(`node-floor: ${target} names no file of known size (HEAD gave no Content-Length)\n`);
  process.exit(1);
}
const count = Number(connections);
const each = Math.ceil(size / count);
const bodies = await Promise.all(Array.from({ length: count }, async (_, i) => {
  await new Promise((resolve) => setTimeout(resolve, (i * Number(spreadMs)) / count));
  const start = i * each;
  return (await fetchLength('GET', `${start}-${Math.min(size, start + each) - 1}`)).received;
}));
const received = bodies.reduce((sum, bytes) => sum + bytes, 0);
if (received !== size) {
  process.stderr.write(`node-floor: received ${received} bytes of ${size}\n`);
  process.exit(1);
}
