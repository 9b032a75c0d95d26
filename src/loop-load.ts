import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** Event-loop utilisation that counts as saturated, SATURATED_WINDOWS windows in a row. */
const SATURATED = 0.95;
/**
 * A download's start fills the loop for up to half a second on its own (its requests, the servers'
 * first bursts, code compiled on first use): measured on 2 cores, judging after two windows made
 * the capped benchmark 0.06 s slower.
 */
const SATURATED_WINDOWS = 3;
/** Utilisation below which a saturated loop no longer counts as one. */
const NO_LONGER_SATURATED = 0.8;
/** One measurement window. */
export const LOAD_WINDOW_MS = 250;

/**
 * Whether the event loop counts as saturated after a window of `latest` utilisation (0-1), given
 * how many windows in a row were busy before it and the verdict so far.
 */
export function stillSaturated(saturated: boolean, busyBefore: number, latest: number): boolean {
  return saturated ? latest >= NO_LONGER_SATURATED : latest >= SATURATED && busyBefore + 1 >= SATURATED_WINDOWS;
}

/** The event loop's utilisation over each window that has ended, or undefined while one runs. */
export type UtilizationWindows = () => number | undefined;

/** Windows of `windowMs` over Node's own measure of the event loop, taken when asked: no timer. */
export function eventLoopWindows(windowMs = LOAD_WINDOW_MS): UtilizationWindows {
  let since: EventLoopUtilization = performance.eventLoopUtilization();
  let sinceMs = performance.now();
  return () => {
    const now = performance.now();
    if (now - sinceMs < windowMs) return undefined;
    const at = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(at, since).utilization;
    [since, sinceMs] = [at, now];
    return utilization;
  };
}

/** Answers whether the event loop is saturated: without spare time for anything handed to it. */
export class LoopLoad {
  private saturated = false;
  /** Busy windows in a row, up to the last one. */
  private busyWindows = 0;

  constructor(private readonly windows: UtilizationWindows = eventLoopWindows()) {}

  get isSaturated(): boolean {
    const latest = this.windows();
    if (latest !== undefined) {
      this.saturated = stillSaturated(this.saturated, this.busyWindows, latest);
      this.busyWindows = latest >= SATURATED ? this.busyWindows + 1 : 0;
    }
    return this.saturated;
  }
}
