import type { Segment } from './scheduler.js';

/** The wait after connections retire before one tries again: a spike of load may be over by then. */
export const REJOIN_FIRST_MS = 2000;
/** The shortest wait, after tries served in a row: a limit that lifted takes back 14 connections in about 6 s, not 28. */
export const REJOIN_MIN_MS = 250;
/** The longest wait between tries: against a lasting limit, one refused request a minute. */
export const REJOIN_MAX_MS = 60_000;

/**
 * Retired connections trying again. Connections retire when the server refuses them, or leaves
 * them unanswered, while it serves the others; that may pass, and a download would otherwise end
 * on fewer connections than the server allows by then. One tries at a time, while every
 * connection left has its response (the server serves them all and may serve one more), after a
 * wait that doubles with each try refused and halves with each one served (from the first wait at
 * most, and never below it after a retirement). A try is one request.
 * Pure bookkeeping: the caller says what the connections do and when.
 */
export class Rejoins {
  /** Connections retired and not back. */
  private retired = 0;
  private waitMs = REJOIN_FIRST_MS;
  private nextAt = Infinity;
  /** The try under way: its range, and the server it asks. */
  private trying: { segment: Segment; host: string } | undefined;

  /** A connection retired: the next try waits from `now`. */
  retire(now: number): void {
    this.retired++;
    this.waitMs = Math.max(this.waitMs, REJOIN_FIRST_MS);
    this.wait(now);
  }

  /** Whether a retired connection tries again now, `flowing` of the `workers` left having their response. */
  due(now: number, flowing: number, workers: number): boolean {
    return this.retired > 0 && this.trying === undefined && flowing >= workers && now >= this.nextAt;
  }

  /** The try claimed a range of `host`'s, or nothing (undefined): then it goes, and the next waits. */
  start(trying: { segment: Segment; host: string } | undefined, now: number): void {
    this.trying = trying;
    if (!trying) this.wait(now);
  }

  /** Whether `segment` is the try's, still under way. */
  isTry(segment: Segment): boolean {
    return this.trying?.segment === segment;
  }

  /**
   * The try's host once it is served while every other connection has its response too (`flowing`
   * of `workers`, the try's own among them): the connection is back. An answer alone proves less:
   * behind a limit of connections it may come on a connection let in as another closed, which then
   * waits in its place.
   */
  confirm(now: number, flowing: number, workers: number): string | undefined {
    const trying = this.trying;
    if (trying === undefined || flowing < workers) return undefined;
    this.trying = undefined;
    this.retired--;
    this.waitMs = Math.max(REJOIN_MIN_MS, Math.min(this.waitMs, REJOIN_FIRST_MS) / 2);
    this.wait(now);
    return trying.host;
  }

  /** The try was refused, left unanswered, or ended before it was confirmed: the next waits twice as long. */
  refused(now: number): void {
    this.trying = undefined;
    this.waitMs = Math.min(this.waitMs * 2, REJOIN_MAX_MS);
    this.wait(now);
  }

  private wait(now: number): void {
    this.nextAt = now + this.waitMs;
  }
}
