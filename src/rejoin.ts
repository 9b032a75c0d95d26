/** The wait after connections retire before one tries again: a spike of load may be over by then. */
export const REJOIN_FIRST_MS = 2000;
/** The longest wait between tries: against a lasting limit, one refused request a minute. */
export const REJOIN_MAX_MS = 60_000;

/**
 * When a retired connection tries again. Connections retire when the server refuses them, or
 * leaves them unanswered, while it serves the others; that may pass, and a download would
 * otherwise end on fewer connections than the server allows by then. Each try that is refused
 * doubles the wait for the next; one that is served brings the first wait back.
 */
export class RejoinClock {
  private waitMs = REJOIN_FIRST_MS;
  private nextAt = Infinity;

  /** Connections retired, or a try found nothing to take: the next try waits from `now`. */
  wait(now: number): void {
    this.nextAt = now + this.waitMs;
  }

  /** A try was refused or left unanswered. */
  refused(now: number): void {
    this.waitMs = Math.min(this.waitMs * 2, REJOIN_MAX_MS);
    this.wait(now);
  }

  /** A try was served: the next one, if any connection is still retired, comes as soon as the first. */
  served(now: number): void {
    this.waitMs = REJOIN_FIRST_MS;
    this.wait(now);
  }

  due(now: number): boolean {
    return now >= this.nextAt;
  }
}
