import { CrawlingError } from './errors.js';
import { SpeedMeter } from './events.js';
import { findCrawlers, isSilent, pastSlowStart, typicalSpeed, type PaceSample, type Paces, type Segment } from './scheduler.js';
import { median } from './stats.js';

/** How often connections' paces are measured, to find crawlers and to steal from them. */
export const PACE_CHECK_MS = 100;
/** A pace is the speed over about this long, so one late packet does not make a crawler. */
const PACE_WINDOW_MS = 500;
/**
 * Crawl restarts one range may have before it is left to its pace (or its retries). With
 * MAX_FUTILE_RESTARTS at 2 no range gets past 2; this stays as the guard that a cut never reaches
 * a range out of restarts, whose CrawlingError would fail the download.
 */
const MAX_CRAWL_RESTARTS = 3;
/**
 * Re-requested ranges found crawling again before the watch stops cutting crawlers for the rest of
 * the download. A fresh request that crawls too shows the slowness is not that connection's: over a
 * link the connections share (16 of them on 200 Mbit/s here), TCP gives some far less than others,
 * by turns, and cutting them re-fetched what was in flight for no gain (11-26 cuts, the server
 * sending 1.04-1.06 x the file, against none and 1.003-1.01 x at 8 connections, the same time).
 */
const MAX_FUTILE_RESTARTS = 2;
/** The server's usual time to first byte is the median of the latest this many requests'. */
const FIRST_BYTE_HISTORY = 32;

/** A request to cut, and its error: made only when it is cut (a range out of restarts is judged at every check). */
type Cut = [Segment, () => CrawlingError];

/** One request for a segment's missing bytes. */
export interface Attempt {
  /** Cuts the request (with a CrawlingError when it crawls). */
  controller: AbortController;
  sentAt: number;
  /** Whether it has gone out on a connection (it may wait for one). */
  sent?: boolean;
  /** From its response headers on, its pace (not while it waits for a reply). */
  flowing?: { since: number; meter: SpeedMeter };
  /** Bytes per second at the last check: how long it has left, and what a steal from it gains. */
  rate?: number;
  /** The same, once past slow start: whether it crawls. */
  pace?: number;
}

/**
 * Watches the running requests of a download: their paces, which work stealing reads, and the ones
 * that crawl far behind the others or get no response, which it cuts so that their workers
 * re-request at once.
 */
export class PaceWatch {
  /** Each running request, so a crawling one can be cut and re-requested. */
  private readonly attempts = new Map<Segment, Attempt>();
  private readonly crawlRestarts = new Map<Segment, number>();
  private futileRestarts = 0;
  /** Off once cuts prove futile. */
  private cutting = true;
  /** The latest requests' times to first byte, oldest first. */
  private readonly firstBytesMs: number[] = [];
  /** Requests with their response now. */
  private flowingNow = 0;
  private latestResponseAt = -Infinity;
  /** When the latest request that had its response ended, leaving its connection free. */
  private latestEndAt = -Infinity;
  private mostFlowing = 0;
  readonly paces: Paces = {
    of: (segment) => this.attempts.get(segment)?.pace,
    rateOf: (segment) => this.attempts.get(segment)?.rate,
    typical: undefined,
  };

  /**
   * `connections`: how many the download runs, to tell when enough run for a typical pace.
   * `judgesPaces`: false under --limit-rate, which sets the connections' paces itself: one it holds
   * back while others read is not crawling. (It holds back no response: silent requests are still cut.)
   */
  constructor(private readonly connections: number, private readonly judgesPaces = true) {}

  /** A request for `segment` goes out now. */
  start(segment: Segment): Attempt {
    const attempt = { controller: new AbortController(), sentAt: performance.now() };
    this.attempts.set(segment, attempt);
    return attempt;
  }

  /** The request's response headers arrived: its pace counts from here. */
  flowing(segment: Segment, attempt: Attempt): void {
    const meter = new SpeedMeter(PACE_WINDOW_MS);
    const since = performance.now();
    meter.sample(since, segment.received);
    attempt.flowing = { since, meter };
    this.mostFlowing = Math.max(this.mostFlowing, ++this.flowingNow);
    this.latestResponseAt = since;
    if (this.firstBytesMs.push(since - attempt.sentAt) > FIRST_BYTE_HISTORY) this.firstBytesMs.shift();
  }

  end(segment: Segment): void {
    if (this.attempts.get(segment)?.flowing) {
      this.flowingNow--;
      this.latestEndAt = performance.now();
    }
    this.attempts.delete(segment);
  }

  /** The most requests that had their response at once: how many connections the server has served together. */
  get peakFlowing(): number {
    return this.mostFlowing;
  }

  /** How many running requests have their response. */
  get flowingRequests(): number {
    return this.flowingNow;
  }

  /**
   * Measures each running request's pace, and cuts the ones that crawl far behind the others or
   * still wait for a response the server gives others at once.
   */
  check(): void {
    const now = performance.now();
    const samples = this.measure(now);
    this.paces.typical = typicalSpeed(samples, this.connections, this.paces.typical);
    // Silence is the connection's, not a shared link's: cut even once crawl cuts proved futile.
    for (const [segment, error] of this.silent(now)) this.abort(segment, error);
    if (!this.cutting || !this.judgesPaces) return;
    const crawlers = findCrawlers(samples, this.paces.typical);
    for (const segment of crawlers) if (!this.cut(segment, () => CrawlingError.pace(this.attempts.get(segment)!.pace!))) return;
  }

  /** The pace of each request whose body has flowed a pace check's time; notes each one's rate and pace. */
  private measure(now: number): PaceSample[] {
    const samples: PaceSample[] = [];
    for (const [segment, attempt] of this.attempts) {
      const { flowing, sentAt } = attempt;
      if (!flowing) continue;
      const bytesPerSecond = flowing.meter.sample(now, segment.received);
      const ageMs = now - flowing.since;
      if (ageMs < PACE_CHECK_MS) continue;
      const sample = { segment, bytesPerSecond, ageMs, firstByteMs: flowing.since - sentAt };
      samples.push(sample);
      attempt.rate = bytesPerSecond;
      if (pastSlowStart(sample)) attempt.pace = bytesPerSecond;
    }
    return samples;
  }

  /**
   * The requests still waiting for a response long after the server's usual time to first byte,
   * while it answers others: one has its response now, or got it after they were sent. One sent on
   * a connection counts against its range's restarts; one that never had a connection, against
   * none (Connections.restartCrawler). That one is also cut when a request that had its response
   * ended after it was sent: the connection that request leaves may carry it at once, where its own
   * may wait (behind a limit of connections, until a connection held open idle closes).
   */
  private silent(now: number): Cut[] {
    if (this.firstBytesMs.length === 0) return [];
    const usualMs = median(this.firstBytesMs);
    const answeredSince = (attempt: Attempt) => this.flowingNow > 0 || this.latestResponseAt > attempt.sentAt
      || (!attempt.sent && this.latestEndAt > attempt.sentAt);
    const waiting = [...this.attempts].filter(([segment, attempt]) => !attempt.flowing && isSilent(now - attempt.sentAt, usualMs)
      && answeredSince(attempt) && !(attempt.sent && this.outOfRestarts(segment)));
    return waiting.map(([segment, attempt]) => [segment, () => CrawlingError.silence(now - attempt.sentAt, usualMs, attempt.sent ?? false)]);
  }

  /** Cuts `segment`'s crawling request, unless the range is out of restarts. False once cuts prove futile. */
  private cut(segment: Segment, error: () => CrawlingError): boolean {
    // A range out of crawl restarts is left to its pace: cut again, it would fail the download.
    if (this.outOfRestarts(segment)) return true;
    if (this.crawlRestarts.has(segment) && ++this.futileRestarts >= MAX_FUTILE_RESTARTS) {
      this.cutting = false;
      return false;
    }
    this.abort(segment, error);
    return true;
  }

  private abort(segment: Segment, error: () => CrawlingError): void {
    this.attempts.get(segment)!.controller.abort(error());
  }

  /** Counts a crawl restart of `segment`: its number, or undefined once the range has had too many. */
  countRestart(segment: Segment): number | undefined {
    if (this.outOfRestarts(segment)) return undefined;
    const restarts = (this.crawlRestarts.get(segment) ?? 0) + 1;
    this.crawlRestarts.set(segment, restarts);
    return restarts;
  }

  private outOfRestarts(segment: Segment): boolean {
    return (this.crawlRestarts.get(segment) ?? 0) >= MAX_CRAWL_RESTARTS;
  }
}
