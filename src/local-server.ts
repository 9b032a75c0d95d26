import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pacer } from './pacer.js';
import type { ByteRange } from './range.js';

/** A file served from memory. */
export interface ServedFile {
  data: Buffer;
  etag?: string;
  lastModified?: string;
}

export interface ServeOptions {
  /** Per-response speed cap in bytes per second; none when undefined. */
  bytesPerSecond?: number;
  /** A cap on all responses together, shared through one Pacer. */
  total?: Pacer;
  /** Honour Range and say `Accept-Ranges: bytes` (default true). */
  ranges?: boolean;
}

/** Parses a single-range `Range` header against `size`; 'unsatisfiable' for 416, undefined to send it all. */
export function parseRangeRequest(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [first, last] = [match[1]!, match[2]!];
  const start = first === '' ? Math.max(0, size - Number(last)) : Number(first);
  const end = first === '' || last === '' ? size : Math.min(size, Number(last) + 1);
  return start < end ? { start, end } : 'unsatisfiable';
}

/** Answers HEAD and GET for `file` with RFC 9110 range semantics (Range, If-Range, 206, 416). */
export function serveFile(req: IncomingMessage, res: ServerResponse, file: ServedFile, options: ServeOptions = {}): void {
  const size = file.data.length;
  const ranges = options.ranges ?? true;
  if (file.etag) res.setHeader('etag', file.etag);
  if (file.lastModified) res.setHeader('last-modified', file.lastModified);
  if (ranges) res.setHeader('accept-ranges', 'bytes');
  const ifRange = req.headers['if-range'];
  const validatorMatches = ifRange === undefined || ifRange === file.etag || ifRange === file.lastModified;
  const range = ranges && validatorMatches ? parseRangeRequest(req.headers.range, size) : undefined;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  const body = range ?? { start: 0, end: size };
  res.setHeader('content-length', body.end - body.start);
  if (range) res.setHeader('content-range', `bytes ${range.start}-${range.end - 1}/${size}`);
  res.writeHead(range ? 206 : 200);
  if (req.method === 'HEAD') res.end();
  else sendPaced(res, file.data.subarray(body.start, body.end), options.bytesPerSecond, options.total);
}

/** Writes `data`, at most `bytesPerSecond` on average (and within `total`) when given, respecting backpressure. */
export function sendPaced(res: ServerResponse, data: Buffer, bytesPerSecond: number | undefined, total?: Pacer): void {
  const slowest = Math.min(bytesPerSecond ?? Infinity, total?.bytesPerSecond ?? Infinity);
  const chunkSize = Number.isFinite(slowest) ? Math.max(4096, Math.min(65536, Math.floor(slowest / 100))) : 1 << 20;
  const own = bytesPerSecond ? new Pacer(bytesPerSecond) : undefined;
  let sent = 0;
  const next = (): void => {
    while (sent < data.length && !res.destroyed) {
      const dueMs = Math.max(own?.waitMs() ?? 0, total?.waitMs() ?? 0);
      if (dueMs > 1) {
        setTimeout(next, dueMs);
        return;
      }
      const chunk = data.subarray(sent, sent + chunkSize);
      sent += chunk.length;
      own?.count(chunk.length);
      total?.count(chunk.length);
      if (!res.write(chunk)) {
        res.once('drain', next);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  next();
}

export interface LocalServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 (`port`, or a free one) that answers every request with `handler`. */
export async function listenLocal(handler: (req: IncomingMessage, res: ServerResponse) => void, port = 0): Promise<LocalServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    server,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
