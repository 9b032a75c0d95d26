/** Paces bytes to an average rate: how long to wait before the next chunk may go. */
export class Pacer {
  private readonly started = performance.now();
  private sent = 0;

  /**
   * `maxBurstSeconds` caps the idle time banked as credit: a long-lived, shared pacer must not turn an
   * idle minute into a burst; a per-response one keeps its exact average (catching up after a hiccup).
   */
  constructor(readonly bytesPerSecond: number, private readonly maxBurstSeconds = Infinity) {}

  waitMs(): number {
    return (this.sent * 1000) / this.bytesPerSecond - (performance.now() - this.started);
  }

  count(bytes: number): void {
    const allowed = ((performance.now() - this.started) / 1000) * this.bytesPerSecond;
    this.sent = Math.max(this.sent, allowed - this.maxBurstSeconds * this.bytesPerSecond) + bytes;
  }
}
