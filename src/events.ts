import type { ByteRange } from './range.js';

export interface SegmentProgress {
  start: number;
  /** One past the last byte; Infinity while the length is unknown. */
  end: number;
  received: number;
  written: number;
  active: boolean;
  retries: number;
}

/** Everything a download reports while it runs; `--json` prints these as NDJSON. */
export type DownloadEvent =
  | {
      type: 'start';
      url: string;
      path: string;
      /** Total bytes, or null when the server does not say. */
      total: number | null;
      /** Split into ranges (true) or one streaming connection (false). */
      segmented: boolean;
      connections: number;
      /** Bytes already on disk from an earlier run. */
      resumedBytes: number;
    }
  | {
      type: 'progress';
      bytes: number;
      total: number | null;
      speed: number;
      connections: number;
      /** Every range with its progress, for drawing the file map (left out of --json output). */
      segments: SegmentProgress[];
    }
  | { type: 'notice'; message: string }
  | { type: 'retry'; range: ByteRange; attempt: number; delayMs: number; reason: string }
  | { type: 'done'; path: string; bytes: number; seconds: number; connections: number; retries: number; resumedBytes: number };

export type EventListener = (event: DownloadEvent & { time: string }) => void;

/** The caller's listener, made safe to call from rangeget's timers and I/O callbacks. */
export interface GuardedListener {
  listener: EventListener | undefined;
  /** Aborted by the caller's signal, or when the listener throws. */
  signal: AbortSignal;
  /** What the listener threw, if it did: what the download rejects with. */
  failure: { error: unknown } | undefined;
}

/**
 * A throwing listener (or an async one that rejects) would crash the host process from inside a
 * timer. Instead its error stops the download like an abort (the state stays resumable) and
 * becomes the download's error.
 */
export function guardListener(listener: EventListener | undefined, signal: AbortSignal | undefined): GuardedListener {
  const thrown = new AbortController();
  const guarded: GuardedListener = {
    listener: undefined,
    signal: signal ? AbortSignal.any([signal, thrown.signal]) : thrown.signal,
    failure: undefined,
  };
  const fail = (error: unknown) => {
    guarded.failure ??= { error };
    thrown.abort();
  };
  guarded.listener = listener && ((event) => {
    try {
      const returned: unknown = listener(event);
      if (returned instanceof Promise) returned.catch(fail);
    } catch (error) {
      fail(error);
    }
  });
  return guarded;
}

/** Bytes per second over the last few seconds, from samples of a growing byte count. */
export class SpeedMeter {
  private samples: Array<[ms: number, bytes: number]> = [];

  constructor(private readonly windowMs = 3000) {}

  sample(nowMs: number, bytes: number): number {
    this.samples.push([nowMs, bytes]);
    while (this.samples.length > 2 && nowMs - this.samples[0]![0] > this.windowMs) this.samples.shift();
    const [firstMs, firstBytes] = this.samples[0]!;
    return nowMs > firstMs ? ((bytes - firstBytes) * 1000) / (nowMs - firstMs) : 0;
  }
}
