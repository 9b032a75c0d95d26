/** Paces bytes to an average rate: how long to wait before the next chunk may go. */
export class Pacer {
  private started = performance.now();
  private sent = 0;

  /**
   * `maxBurstSeconds` caps the idle time banked as credit: a long-lived, shared pacer must not turn an
   * idle minute into a burst; a per-response one keeps its exact average (catching up after a hiccup).
   */
  constructor(private rate: number, private readonly maxBurstSeconds = Infinity) {}

  get bytesPerSecond(): number {
    return this.rate;
  }

  /** Paces at `bytesPerSecond` from now on; what was sent ahead of the old pace still waits, at the new one. */
  setRate(bytesPerSecond: number): void {
    const now = performance.now();
    const ahead = this.sent - ((now - this.started) / 1000) * this.rate;
    this.started = now;
    this.sent = Math.max(0, ahead);
    this.rate = bytesPerSecond;
  }

  waitMs(): number {
    return (this.sent * 1000) / this.rate - (performance.now() - this.started);
  }

  count(bytes: number): void {
    const allowed = ((performance.now() - this.started) / 1000) * this.rate;
    this.sent = Math.max(this.sent, allowed - this.maxBurstSeconds * this.rate) + bytes;
  }
}
