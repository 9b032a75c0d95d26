import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';
import {
  AbortedError, HttpError, NetworkError, ProtocolError, RangegetError, RangeIgnoredError, RemoteChangedError, SizeMismatchError,
} from './errors.js';
import { headerValue, parseRetryAfter, type Headers } from './http.js';
import { toNetworkError } from './network-errors.js';
import { parseContentRange, rangeHeader, type ByteRange } from './range.js';
import type { Segment } from './scheduler.js';
import type { Pacer } from './pacer.js';
import type { ChunkSink } from './writer.js';
import { noteReceived } from './memory.js';

export interface FetchJob {
  dispatcher: Dispatcher;
  url: string;
  headers: Headers;
  segment: Segment;
  /** Ask for the segment's missing bytes with Range/If-Range and accept only the exact 206. */
  ranged: boolean;
  ifRange: string | undefined;
  /** Validators of the version being downloaded; a response naming others is from another version. */
  etag: string | null;
  lastModified: string | null;
  /** Total size of the file, when known; a 206 must name the same total. */
  size: number | undefined;
  writer: ChunkSink;
  signal: AbortSignal;
  /** Called when the request goes out on a connection. */
  onSent?: () => void;
  /** Called when response headers arrive and pass the checks (time to first byte). */
  onHeaders?: (headers: IncomingHttpHeaders) => void;
  /** Shared by every connection of a download to cap its overall speed (--limit-rate). */
  limiter?: Pacer;
  /** Window in which a response must deliver STALL_BYTES_PER_SECOND on average, or be dropped as stalled. */
  stallTimeoutMs: number;
}

/** Slower than this over a whole timeout window, a connection counts as stalled (a trickle never trips undici's idle timeout). */
export const STALL_BYTES_PER_SECOND = 1024;

/** zlib loads only for a server that compresses despite `identity`; loaded up front, it cost every start 1.5 ms. */
const zlib = () => process.getBuiltinModule('node:zlib');
const gunzip = () => zlib().createGunzip();
const DECODERS: Record<string, () => Transform> = {
  gzip: gunzip,
  'x-gzip': gunzip,
  deflate: () => zlib().createInflate(),
  br: () => zlib().createBrotliDecompress(),
};

/** Sent to undici to cut a response we no longer need (our range end moved before it). */
const REACHED_END = new Error('segment complete');

/**
 * Fetches the segment's missing bytes on one request. Resolves once they are all written;
 * rejects, after writing whatever valid bytes arrived, with a typed error.
 */
export function fetchSegment(job: FetchJob): Promise<void> {
  return new Promise((resolve, reject) => {
    const handler = new SegmentHandler(job, (err) => {
      job.signal.removeEventListener('abort', onAbort);
      job.writer.flush().then(() => (err ? reject(err) : resolve()), reject);
    });
    const onAbort = () => handler.abort(job.signal.reason instanceof RangegetError ? job.signal.reason : new AbortedError());
    job.signal.addEventListener('abort', onAbort, { once: true });
    const target = new URL(job.url);
    const headers = job.ranged ? { ...job.headers, ...rangeHeaders(handler.requested, job.ifRange) } : job.headers;
    job.dispatcher.dispatch({ origin: target.origin, path: target.pathname + target.search, method: 'GET', headers }, handler);
    if (job.signal.aborted) onAbort();
  });
}

function rangeHeaders(range: ByteRange, ifRange: string | undefined): Headers {
  return ifRange ? { range: rangeHeader(range), 'if-range': ifRange } : { range: rangeHeader(range) };
}

class SegmentHandler implements Dispatcher.DispatchHandler {
  /** The bytes this request asks for, fixed when it is sent (the segment's end may shrink later). */
  readonly requested: ByteRange;
  private controller: Dispatcher.DispatchController | undefined;
  private failure: Error | undefined;
  private reachedEnd = false;
  private settled = false;
  /** Decodes a compressed full-file (200) body; ranged bodies are never decoded. */
  private decoder: Transform | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  /** The response's Content-Length, when it sent one. */
  private declaredLength: number | undefined;
  private bytesInWindow = 0;
  private pausedInWindow = false;
  /** Reasons reading is paused (writer full, rate limit); reading resumes when none is left. */
  private holds = new Set<'writer' | 'rate'>();

  constructor(private readonly job: FetchJob, private readonly settle: (err?: Error) => void) {
    const { segment } = job;
    this.requested = { start: segment.start + segment.received, end: segment.end };
  }

  abort(reason: Error): void {
    if (this.settled) return;
    this.failure ??= reason;
    if (this.controller) this.controller.abort(reason);
    else this.finish();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.failure) controller.abort(this.failure);
    else this.job.onSent?.();
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    const problem = this.check(status, headers);
    if (problem) return this.abort(problem);
    this.job.onHeaders?.(headers);
    const length = headerValue(headers, 'content-length');
    this.declaredLength = length === undefined ? undefined : Number(length);
    this.startDecoder(controller, headerValue(headers, 'content-encoding')?.toLowerCase());
    this.watchdog = setInterval(() => this.checkPace(controller), this.job.stallTimeoutMs);
  }

  /** Drops a response that delivered too little in the last window, unless we held it back ourselves. */
  private checkPace(controller: Dispatcher.DispatchController): void {
    const seconds = this.job.stallTimeoutMs / 1000;
    if (!this.pausedInWindow && this.bytesInWindow < STALL_BYTES_PER_SECOND * seconds) {
      this.abort(new NetworkError(`stalled: ${this.bytesInWindow} bytes in ${seconds} s from ${new URL(this.job.url).host}`));
    }
    this.bytesInWindow = 0;
    this.pausedInWindow = controller.paused;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.decoder) this.decoder.write(chunk);
    else this.accept(controller, chunk);
  }

  /** Bytes of the file in order: cut at the segment end, handed to the writer, reading paused when it is full. */
  private accept(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.failure || this.reachedEnd) return;
    const { segment, writer } = this.job;
    const room = segment.end - segment.start - segment.received;
    const accepted = chunk.length > room ? chunk.subarray(0, room) : chunk;
    segment.received += accepted.length;
    noteReceived(chunk.length);
    this.bytesInWindow += accepted.length;
    const keepReading = writer.push(accepted);
    this.job.limiter?.count(accepted.length);
    if (segment.received === segment.end - segment.start && Number.isFinite(room)) {
      this.reachedEnd = true;
      // Never pause on the completing chunk (undici 7 #5360); cut the body if more would follow.
      if (segment.start + segment.received < this.requested.end) controller.abort(REACHED_END);
      return;
    }
    if (!keepReading && this.hold(controller, 'writer')) {
      writer.onDrain((failure) => (failure ? this.abort(failure) : this.release(controller, 'writer')));
    }
    const waitMs = this.job.limiter?.waitMs() ?? 0;
    if (waitMs > 1 && this.hold(controller, 'rate')) this.releaseWhenRateAllows(controller, waitMs);
  }

  /**
   * Resumes after `waitMs`, or waits again if the limit still says so: other connections may have
   * read meanwhile. Woken together, they would each take a chunk at once (up to a read buffer each,
   * 256 KiB on 4 connections), and a short download would beat its limit by a tenth or more.
   */
  private releaseWhenRateAllows(controller: Dispatcher.DispatchController, waitMs: number): void {
    setTimeout(() => {
      const more = this.job.limiter?.waitMs() ?? 0;
      if (more > 1 && !this.settled) this.releaseWhenRateAllows(controller, more);
      else this.release(controller, 'rate');
    }, waitMs);
  }

  /** Pauses reading for `reason`; false if already paused for it. */
  private hold(controller: Dispatcher.DispatchController, reason: 'writer' | 'rate'): boolean {
    if (this.holds.has(reason)) return false;
    if (this.holds.size === 0) controller.pause();
    this.holds.add(reason);
    this.pausedInWindow = true;
    return true;
  }

  private release(controller: Dispatcher.DispatchController, reason: 'writer' | 'rate'): void {
    this.holds.delete(reason);
    if (this.holds.size === 0 && !this.settled) controller.resume();
  }

  onResponseEnd(): void {
    if (this.decoder) {
      this.decoder.once('end', () => this.finishBody()).end();
      return;
    }
    this.finishBody();
  }

  private finishBody(): void {
    const { segment } = this.job;
    const expected = this.job.ranged ? this.requested.end - segment.start : this.decoder ? undefined : this.job.size;
    if (!this.reachedEnd && expected !== undefined && segment.received < expected) {
      this.failure ??= new NetworkError(this.shortBodyReason(expected - segment.received));
    }
    this.finish();
  }

  /** Why a body ended `missing` bytes early: its server said so in advance (Content-Length), or the connection closed. */
  private shortBodyReason(missing: number): string {
    const { start, end } = this.requested;
    const length = this.job.ranged ? end - start : this.job.size;
    if (this.declaredLength === undefined || length === undefined || this.declaredLength >= length) return `connection closed ${missing} bytes early`;
    const should = this.job.ranged ? `the ${length} bytes its Content-Range names` : `the file's ${length} bytes`;
    return `${new URL(this.job.url).host} ended its response ${missing} bytes early: its Content-Length (${this.declaredLength}) is less than ${should}`;
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    if (!this.failure && !this.reachedEnd) this.failure = toNetworkError(err, this.job.url);
    this.finish();
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    clearInterval(this.watchdog);
    this.settle(this.reachedEnd && !(this.failure instanceof AbortedError) ? undefined : this.failure);
  }

  /** A compressed 200 body is decoded; its length is then unknown until the end. */
  private startDecoder(controller: Dispatcher.DispatchController, encoding: string | undefined): void {
    if (!encoding || encoding === 'identity') return;
    this.job.segment.end = Infinity;
    this.decoder = DECODERS[encoding]!();
    this.decoder.on('data', (decoded: Buffer) => this.accept(controller, decoded));
    this.decoder.on('error', (err: Error) => this.abort(new ProtocolError(`cannot decode the ${encoding} body: ${err.message}`)));
  }

  /** Decides, before a single body byte is read, whether this response may be written. */
  private check(status: number, headers: IncomingHttpHeaders): Error | undefined {
    const encoding = headerValue(headers, 'content-encoding')?.toLowerCase();
    const encoded = encoding !== undefined && encoding !== 'identity';
    if ((status === 200 || status === 206) && this.otherVersion(headers)) {
      return new RemoteChangedError({ etag: headerValue(headers, 'etag') ?? null, lastModified: headerValue(headers, 'last-modified') ?? null });
    }
    if (status === 200 && this.job.ranged) return new RangeIgnoredError();
    if (status === 206 && encoded) return new RangeIgnoredError(`the server compresses ranged responses (Content-Encoding: ${encoding})`);
    if (status === 200) return this.checkFullBody(encoding);
    if (status === 416) return this.checkUnsatisfiable(headerValue(headers, 'content-range'));
    if (status !== 206) return new HttpError(status, this.job.url, parseRetryAfter(headerValue(headers, 'retry-after')));
    if (!this.job.ranged) return new ProtocolError('the server sent 206 to a request without Range');
    return this.checkContentRange(headerValue(headers, 'content-range'));
  }

  private checkFullBody(encoding: string | undefined): Error | undefined {
    if (this.requested.start !== 0) return new ProtocolError('a 200 body can only be written at offset 0');
    if (encoding && encoding !== 'identity' && !DECODERS[encoding]) {
      return new ProtocolError(`the server sent a body in an unsupported encoding (${encoding}) despite accept-encoding: identity`);
    }
    return undefined;
  }

  /** A 416 naming the real size means the plan's size was wrong. */
  private checkUnsatisfiable(value: string | undefined): Error {
    const total = /^bytes \*\/(\d+)$/.exec(value?.trim() ?? '')?.[1];
    return total !== undefined && Number(total) !== this.job.size
      ? new SizeMismatchError(this.job.size, Number(total))
      : new HttpError(416, this.job.url);
  }

  private otherVersion(headers: IncomingHttpHeaders): boolean {
    const etag = headerValue(headers, 'etag');
    const lastModified = headerValue(headers, 'last-modified');
    return (this.job.etag !== null && etag !== undefined && etag !== this.job.etag)
      || (this.job.lastModified !== null && lastModified !== undefined && lastModified !== this.job.lastModified);
  }

  private checkContentRange(value: string | undefined): Error | undefined {
    const got = parseContentRange(value);
    const { start, end } = this.requested;
    const sameRange = got?.range.start === start && got.range.end === end;
    if (sameRange) {
      if (got.total === this.job.size) return undefined;
      return got.total === undefined
        ? new RangeIgnoredError(`the server leaves the file's size out of its ranged responses (Content-Range: ${value}), so they cannot be checked`)
        : new SizeMismatchError(this.job.size, got.total);
    }
    return new ProtocolError(
      `the server answered bytes ${start}-${end - 1}/${this.job.size} with Content-Range '${value ?? '(none)'}'`,
    );
  }
}
