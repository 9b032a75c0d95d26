import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { AbortedError, HttpError, NetworkError, ProtocolError, RangeIgnoredError, RemoteChangedError } from './errors.js';
import { headerValue, toNetworkError, type Headers } from './http.js';
import { parseContentRange, rangeHeader, type ByteRange } from './range.js';
import type { Segment } from './scheduler.js';
import type { SegmentWriter } from './writer.js';

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
  writer: SegmentWriter;
  signal: AbortSignal;
}

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
    const onAbort = () => handler.abort(new AbortedError());
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

  constructor(private readonly job: FetchJob, private readonly settle: (err?: Error) => void) {
    const { segment } = job;
    this.requested = { start: segment.start + segment.received, end: segment.end };
  }

  abort(reason: Error): void {
    this.failure ??= reason;
    if (this.controller) this.controller.abort(reason);
    else this.finish();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.failure) controller.abort(this.failure);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    const problem = this.check(status, headers);
    if (problem) this.abort(problem);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.failure || this.reachedEnd) return;
    const { segment, writer } = this.job;
    const room = segment.end - segment.start - segment.received;
    const accepted = chunk.length > room ? chunk.subarray(0, room) : chunk;
    segment.received += accepted.length;
    const keepReading = writer.push(accepted);
    if (segment.received === segment.end - segment.start && Number.isFinite(room)) {
      this.reachedEnd = true;
      // Never pause on the completing chunk (undici 7 #5360); cut the body if more would follow.
      if (segment.start + segment.received < this.requested.end) controller.abort(REACHED_END);
      return;
    }
    if (!keepReading) {
      controller.pause();
      writer.onDrain(() => {
        if (!this.settled) controller.resume();
      });
    }
  }

  onResponseEnd(): void {
    const { segment } = this.job;
    const expected = this.job.ranged ? this.requested.end - segment.start : this.job.size;
    if (!this.reachedEnd && expected !== undefined && segment.received < expected) {
      this.failure ??= new NetworkError(`connection closed ${expected - segment.received} bytes early`);
    }
    this.finish();
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    if (!this.failure && !this.reachedEnd) this.failure = toNetworkError(err, this.job.url);
    this.finish();
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(this.reachedEnd && !(this.failure instanceof AbortedError) ? undefined : this.failure);
  }

  /** Decides, before a single body byte is read, whether this response may be written. */
  private check(status: number, headers: IncomingHttpHeaders): Error | undefined {
    const encoding = headerValue(headers, 'content-encoding')?.toLowerCase();
    if (encoding && encoding !== 'identity') {
      return new ProtocolError(`the server sent a ${encoding}-encoded body despite accept-encoding: identity`);
    }
    if ((status === 200 || status === 206) && this.otherVersion(headers)) return new RemoteChangedError();
    if (status === 200 && this.job.ranged) return new RangeIgnoredError();
    if (status === 200 && !this.job.ranged) return this.requested.start === 0 ? undefined : new ProtocolError('a 200 body can only be written at offset 0');
    if (status !== 206) return new HttpError(status, this.job.url);
    if (!this.job.ranged) return new ProtocolError('the server sent 206 to a request without Range');
    return this.checkContentRange(headerValue(headers, 'content-range'));
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
    if (got && got.range.start === start && got.range.end === end && got.total === this.job.size) return undefined;
    return new ProtocolError(
      `the server answered bytes ${start}-${end - 1}/${this.job.size} with Content-Range '${value ?? '(none)'}'`,
    );
  }
}
