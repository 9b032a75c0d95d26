import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listenLocal, parseRangeRequest, sendPaced, serveFile, type LocalServer, type ServedFile } from '../../src/local-server.js';
import { Pacer } from '../../src/pacer.js';

/** Misbehaviours the test server can switch on, one at a time or together. */
export interface Behaviour {
  /** Per-response speed cap, bytes per second. */
  bytesPerSecond?: number;
  /** A cap on all responses together, bytes per second. */
  totalBytesPerSecond?: number;
  /** Honour Range and advertise it (default true). */
  ranges?: boolean;
  /** Honour Range but do not send Accept-Ranges. */
  hideAcceptRanges?: boolean;
  /** Answer HEAD with this status and no body. */
  headStatus?: number;
  /** No Content-Length anywhere: HEAD without it, GET chunked, Range ignored. */
  noLength?: boolean;
  /** Advertise ranges but answer every GET with the whole file (200). */
  ignoreRange?: boolean;
  /** Answer ranges with a Content-Range one byte off. */
  wrongContentRange?: boolean;
  /** Cut the connection after this many body bytes (or half the body, rounded up), for the next `resets` responses. */
  resetAfter?: number | 'half';
  resets?: number;
  /** Paths that redirect (302) to the file. */
  redirects?: Record<string, string>;
  contentDisposition?: string;
  /** Append this many garbage bytes after each ranged body (declared in Content-Length). */
  overlong?: number;
  /** The next `times` ranged bodies end `by` bytes early, as their Content-Length says (their Content-Range does not). */
  shortBodies?: { by: number; times: number };
  /** Serve ranges even when If-Range names another version (a broken cache). */
  ignoreIfRange?: boolean;
  /** Answer every request with this status and no body. */
  status?: number;
  /** The next `times` data requests get `status` (429, 503, …) with an optional Retry-After. */
  busy?: { status: number; times: number; retryAfter?: string };
  /** The next `times` HEAD or probe requests get 503 with `Retry-After: 0`. */
  planBusy?: number;
  /** The `nth` data request (counting from 1) is served at `bytesPerSecond` instead. */
  slowNth?: { nth: number; bytesPerSecond: number };
  /** The `nth` data request gets no response at all, as from a stuck server worker. */
  silentNth?: number;
  /** The next `times` data responses send `afterBytes`, then nothing (or 8 bytes a second with `trickle`). */
  stall?: { afterBytes: number; times: number; trickle?: boolean };
  /** Compress every GET body with gzip (ranges too, as some misconfigured servers do). */
  gzip?: boolean;
  /** HEAD advertises this Content-Length instead of the real one. */
  headLength?: number;
  /** At most this many data responses at once; the others get 503, as servers capping connections per client do. */
  maxActive?: number;
  /** At most this many connections at once; the others are reset as they arrive, as a firewall's per-client limit does. */
  maxConnections?: number;
  /** Reset the connection of every data request, unanswered (the plan's requests are answered). */
  resetDataRequests?: boolean;
  /**
   * At most this many connections served at once; the others wait unanswered until one of those
   * closes, as in a server's full accept queue, or behind a firewall that drops their handshakes.
   */
  servedConnections?: number;
  /** Each response gives the same file one of two ETags in turn, as servers behind a load balancer can. */
  flappingEtag?: boolean;
  /** Each response names a new version (ETag and Last-Modified) of the same bytes, as for a file rewritten between requests. */
  changingValidators?: boolean;
  /** Send no Last-Modified. */
  hideLastModified?: boolean;
  /** Send no ETag. */
  hideEtag?: boolean;
  /** Ranged responses leave the total unknown: `Content-Range: bytes a-b/*`. */
  unknownTotal?: boolean;
  /** `path` redirects to a fresh signed URL, each valid for `uses` requests, then 403. */
  signed?: { path: string; uses: number };
  /** Take the next HEAD in only after this long (its log entry is then made), as a distant server would. */
  headDelayMs?: number;
}

export interface RequestLog {
  method: string;
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  authorization: string | undefined;
  cookie: string | undefined;
  trace: string | undefined;
  /** When the server received it (performance.now()). */
  at: number;
}

/** A real HTTP server on 127.0.0.1 serving one in-memory file at any path. */
export class TestServer {
  behaviour: Behaviour = {};
  bodyBytesSent = 0;
  /** 503s sent for maxActive. */
  busyRefusals = 0;
  readonly requests: RequestLog[] = [];
  /** When each connection was accepted, and when one closed (performance.now()). */
  readonly connectionTimes: number[] = [];
  readonly closeTimes: number[] = [];
  private file: ServedFile = { data: Buffer.alloc(0) };
  private server: LocalServer | undefined;
  private total: Pacer | undefined;
  private dataRequests = 0;
  private activeResponses = 0;
  private token = 0;
  private tokenUses = 0;
  /** Connections waiting for a place (servedConnections), with the requests they sent meanwhile. */
  private readonly held = new Map<Socket, (() => void)[]>();

  static async start(data: Buffer, behaviour: Behaviour = {}): Promise<TestServer> {
    const server = new TestServer();
    server.setFile(data);
    server.behaviour = behaviour;
    server.server = await listenLocal((req, res) => server.handle(req, res));
    server.countConnections();
    return server;
  }

  /** Replaces the served file; the ETag follows the content, as on a real server. */
  setFile(data: Buffer): void {
    this.file = { data, etag: `"${sha256(data).slice(0, 16)}"`, lastModified: new Date(0).toUTCString() };
  }

  /** The ranged GETs that carried data (not the planner's `bytes=0-0` probe). */
  get rangedRequests(): RequestLog[] {
    return this.requests.filter((r) => r.method === 'GET' && r.range && r.range !== 'bytes=0-0');
  }

  get etag(): string {
    return this.file.etag!;
  }

  get lastModified(): string {
    return this.file.lastModified!;
  }

  url(path = '/file.bin'): string {
    return `${this.server!.url}${path}`;
  }

  /** Cuts every open connection, as a server restart would. */
  dropConnections(): void {
    this.server!.server.closeAllConnections();
  }

  /** Goes away for `downMs` (connections cut, new ones refused), then listens on the same port again. */
  async restart(downMs: number): Promise<void> {
    const port = Number(new URL(this.server!.url).port);
    await this.server!.close();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    this.server = await listenLocal((req, res) => this.handle(req, res), port);
    this.countConnections();
  }

  /** Waits, up to 2 s, until `count` connections have been accepted (or `closed`): they come and go on their own time. */
  async connectionsReach(count: number, closed = false): Promise<void> {
    const times = closed ? this.closeTimes : this.connectionTimes;
    for (let i = 0; i < 200 && times.length < count; i++) await new Promise((r) => setTimeout(r, 10));
  }

  private countConnections(): void {
    let open = 0;
    const serve = (socket: Socket) => {
      open++;
      socket.on('close', () => {
        open--;
        const first = this.held.entries().next();
        if (first.done) return;
        const [next, requests] = first.value;
        this.held.delete(next);
        serve(next);
        requests.forEach((handle) => handle());
      });
    };
    this.server!.server.on('connection', (socket: Socket) => {
      this.connectionTimes.push(performance.now());
      socket.on('close', () => this.closeTimes.push(performance.now()));
      const { maxConnections = Infinity, servedConnections = Infinity } = this.behaviour;
      if (open >= maxConnections) return void socket.resetAndDestroy();
      if (open < servedConnections) return serve(socket);
      this.held.set(socket, []);
      socket.on('close', () => this.held.delete(socket));
    });
  }

  close(): Promise<void> {
    return this.server!.close();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const waiting = this.held.get(req.socket);
    if (waiting) return void waiting.push(() => this.handle(req, res));
    const b = this.behaviour;
    const h = req.headers;
    if (req.method === 'HEAD' && b.headDelayMs) {
      const delayMs = b.headDelayMs;
      delete b.headDelayMs;
      return void setTimeout(() => this.handle(req, res), delayMs);
    }
    this.requests.push({
      method: req.method!, path: req.url!, range: h.range, ifRange: h['if-range'] as string | undefined,
      authorization: h.authorization, cookie: h.cookie, trace: h['x-trace'] as string | undefined,
      at: performance.now(),
    });
    this.countBody(res);
    const target = b.redirects?.[req.url!];
    if (target) return void res.writeHead(302, { location: target }).end();
    if (b.status) return void res.writeHead(b.status).end();
    if (b.signed && this.refuseSigned(req, res, b.signed)) return;
    const planning = req.method === 'HEAD' || req.headers.range === 'bytes=0-0';
    if (!planning && b.resetDataRequests) return void req.socket.resetAndDestroy();
    if (planning && b.planBusy) {
      b.planBusy--;
      return void res.writeHead(503, { 'retry-after': '0' }).end();
    }
    if (!planning && req.method === 'GET' && b.maxActive !== undefined) {
      if (this.activeResponses >= b.maxActive) {
        this.busyRefusals++;
        return void res.writeHead(503).end();
      }
      this.activeResponses++;
      // Counted out when the last byte is sent ('finish'), before the client can send its next request.
      let counted = true;
      const countOut = () => {
        if (counted) this.activeResponses--;
        counted = false;
      };
      res.on('finish', countOut).on('close', countOut);
    }
    const nth = !planning && req.method === 'GET' ? ++this.dataRequests : 0;
    if (nth === b.silentNth) return;
    const slow = nth === b.slowNth?.nth;
    if (!planning && b.busy && b.busy.times > 0) {
      b.busy.times--;
      return void res.writeHead(b.busy.status, b.busy.retryAfter ? { 'retry-after': b.busy.retryAfter } : {}).end();
    }
    if (!planning && b.stall && b.stall.times > 0) {
      b.stall.times--;
      return this.sendThenStall(req, res, b.stall.afterBytes, b.stall.trickle ?? false);
    }
    if (b.gzip && req.method === 'GET') return this.sendGzipped(req, res);
    if (req.method === 'HEAD' && b.headLength !== undefined) {
      return void res.writeHead(200, { 'content-length': b.headLength, 'accept-ranges': 'bytes', etag: this.file.etag }).end();
    }
    if (b.contentDisposition) res.setHeader('content-disposition', b.contentDisposition);
    if (req.method === 'HEAD' && b.headStatus) return void res.writeHead(b.headStatus).end();
    if (b.noLength) return this.sendWithoutLength(req, res);
    if (b.resetAfter !== undefined && (b.resets ?? 0) > 0 && req.method === 'GET' && req.headers.range !== 'bytes=0-0') {
      b.resets!--;
      return this.sendThenReset(req, res, b.resetAfter);
    }
    // A range asked for data, not the planner's probe.
    const dataRange = !!req.headers.range && req.headers.range !== 'bytes=0-0';
    if (b.overlong && dataRange) return this.sendMisframed(req, res, b.overlong);
    if (b.shortBodies?.times && dataRange) {
      b.shortBodies.times--;
      return this.sendMisframed(req, res, -b.shortBodies.by);
    }
    if (b.wrongContentRange && dataRange) return this.sendWrongRange(req, res);
    const ignore = b.ignoreRange && req.method === 'GET' && req.headers.range !== 'bytes=0-0';
    if (ignore) res.setHeader('accept-ranges', 'bytes');
    if (b.ignoreIfRange) delete req.headers['if-range'];
    if (b.hideAcceptRanges) this.rewriteHeader(res, 'accept-ranges', () => undefined);
    if (b.hideLastModified) this.rewriteHeader(res, 'last-modified', () => undefined);
    if (b.hideEtag) this.rewriteHeader(res, 'etag', () => undefined);
    if (b.unknownTotal) this.rewriteHeader(res, 'content-range', (value) => value.replace(/\/\d+$/, '/*'));
    if (b.totalBytesPerSecond && this.total?.bytesPerSecond !== b.totalBytesPerSecond) this.total = new Pacer(b.totalBytesPerSecond, 0.01);
    const file = b.flappingEtag ? { ...this.file, etag: `"backend-${this.requests.length % 2}"` }
      : b.changingValidators ? { ...this.file, etag: `"v${this.requests.length}"`, lastModified: versionTime(this.requests.length) } : this.file;
    serveFile(req, res, file, { bytesPerSecond: slow ? b.slowNth!.bytesPerSecond : b.bytesPerSecond, ranges: (b.ranges ?? true) && !ignore, total: b.totalBytesPerSecond ? this.total : undefined });
  }

  /** Passes header `name` through `change` as it is set; undefined leaves it out. */
  private rewriteHeader(res: ServerResponse, name: string, change: (value: string) => string | undefined): void {
    const setHeader = res.setHeader.bind(res);
    res.setHeader = ((key: string, value: string | number | readonly string[]) => {
      if (key.toLowerCase() !== name) return setHeader(key, value);
      const changed = change(String(value));
      return changed === undefined ? res : setHeader(key, changed);
    }) as typeof res.setHeader;
  }

  private countBody(res: ServerResponse): void {
    const write = res.write.bind(res) as (chunk: Buffer, ...rest: unknown[]) => boolean;
    res.write = ((chunk: Buffer, ...rest: unknown[]) => {
      this.bodyBytesSent += chunk.length;
      return write(chunk, ...rest);
    }) as typeof res.write;
  }

  private sendWithoutLength(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { etag: this.file.etag });
    if (req.method === 'HEAD') return void res.end();
    sendPaced(res, this.file.data, this.behaviour.bytesPerSecond);
  }

  private sendThenReset(req: IncomingMessage, res: ServerResponse, after: number | 'half'): void {
    const { start, end, headers, status } = this.rangeResponse(req);
    res.writeHead(status, headers);
    const sent = after === 'half' ? Math.ceil((end - start) / 2) : after;
    res.write(this.file.data.subarray(start, Math.min(end, start + sent)), () => setTimeout(() => res.socket?.destroy(), 20));
  }

  /** A ranged body `extra` bytes longer (garbage after it) or, when negative, shorter than its Content-Range says. */
  private sendMisframed(req: IncomingMessage, res: ServerResponse, extra: number): void {
    const size = this.file.data.length;
    const range = parseRangeRequest(req.headers.range, size);
    if (!range || range === 'unsatisfiable') return void res.writeHead(416).end();
    res.writeHead(206, {
      'content-range': `bytes ${range.start}-${range.end - 1}/${size}`,
      'content-length': Math.max(0, range.end - range.start + extra),
      etag: this.file.etag,
    });
    res.write(this.file.data.subarray(range.start, Math.min(range.end, range.end + extra)));
    res.end(Buffer.alloc(Math.max(0, extra), 0xee));
  }

  /** Handles the signed-URL scheme; true when it answered the request. */
  private refuseSigned(req: IncomingMessage, res: ServerResponse, signed: { path: string; uses: number }): boolean {
    if (req.url === signed.path) {
      this.token++;
      this.tokenUses = 0;
      res.writeHead(302, { location: `/file.bin?token=${this.token}` }).end();
      return true;
    }
    const token = /[?&]token=(\d+)/.exec(req.url!)?.[1];
    if (token === undefined || (Number(token) === this.token && ++this.tokenUses <= signed.uses)) return false;
    res.writeHead(403).end();
    return true;
  }

  private sendThenStall(req: IncomingMessage, res: ServerResponse, afterBytes: number, trickle: boolean): void {
    const { start, end, headers, status } = this.rangeResponse(req);
    res.writeHead(status, headers);
    res.write(this.file.data.subarray(start, Math.min(end, start + afterBytes)));
    if (!trickle) return;
    let offset = start + afterBytes;
    const timer = setInterval(() => {
      if (res.destroyed || offset >= end) return clearInterval(timer);
      res.write(this.file.data.subarray(offset, Math.min(end, offset + 8)));
      offset += 8;
    }, 1000);
    res.on('close', () => clearInterval(timer));
  }

  private sendGzipped(req: IncomingMessage, res: ServerResponse): void {
    const { start, end, headers, status } = this.rangeResponse(req);
    delete headers['content-length'];
    res.writeHead(status, { ...headers, 'content-encoding': 'gzip' });
    res.end(gzipSync(this.file.data.subarray(start, end)));
  }

  /** Status and headers for a plain answer to `req`'s Range (206), or the whole file (200). */
  private rangeResponse(req: IncomingMessage) {
    const size = this.file.data.length;
    const range = parseRangeRequest(req.headers.range, size);
    const { start, end } = range && range !== 'unsatisfiable' ? range : { start: 0, end: size };
    const headers: Record<string, string | number> = { 'content-length': end - start, etag: this.file.etag!, 'accept-ranges': 'bytes' };
    if (range) headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
    return { start, end, headers, status: range ? 206 : 200 };
  }

  private sendWrongRange(req: IncomingMessage, res: ServerResponse): void {
    const size = this.file.data.length;
    const range = parseRangeRequest(req.headers.range, size);
    if (!range || range === 'unsatisfiable') return void res.writeHead(416).end();
    const shifted = { start: range.start + 1, end: Math.min(size, range.end + 1) };
    res.writeHead(206, {
      'content-range': `bytes ${shifted.start}-${shifted.end - 1}/${size}`,
      'content-length': shifted.end - shifted.start,
      etag: this.file.etag,
    });
    res.end(this.file.data.subarray(shifted.start, shifted.end));
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Random but reproducible-enough test data. */
export function testData(size: number): Buffer {
  return randomBytes(size);
}

/** The Last-Modified of the version served to request number `n`, with changingValidators. */
export function versionTime(n: number): string {
  return new Date(n * 1000).toUTCString();
}
