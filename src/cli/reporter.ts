import { basename } from 'node:path';
import type { DownloadResult } from '../download.js';
import type { RangegetError } from '../errors.js';
import type { DownloadEvent } from '../events.js';
import { redact } from '../options.js';
import { formatBytes } from '../size.js';
import { TurnBatch } from '../turn-batch.js';
import { LiveDownload, paint, progressFigures } from './live-view.js';

export type Mode = 'tty' | 'plain' | 'quiet' | 'json';

/** How one of several downloads ended. */
export interface Outcome {
  url: string;
  result?: DownloadResult;
  error?: RangegetError;
  /** The output that existed and was left as it is (--skip-existing). */
  skipped?: string;
}

export interface ReporterOptions {
  /** One row per connection in the live display (-v). */
  verbose?: boolean;
  /** Escape codes for colour: FORCE_COLOR, else NO_COLOR, else whether stderr is a terminal. */
  color?: boolean;
  stderr?: NodeJS.WriteStream;
  stdout?: NodeJS.WritableStream;
  /** Off a terminal, how often a download's progress line is printed (default 5 s). */
  plainIntervalMs?: number;
}

type Timed = DownloadEvent & { time: string };
type Retry = Extract<DownloadEvent, { type: 'retry' }>;
/** Ranges named in a line that says several are retried at once. */
const NAMED_RANGES = 3;

const PLAIN_INTERVAL_MS = 5000;
const REDRAW_INTERVAL_MS = 100;

function downloadKey(url: string, output: string | undefined): string {
  return `${url} ${output ?? ''}`;
}

/** The speed of this run: bytes already on disk from an earlier one do not count. */
function averageSpeed(run: { bytes: number; resumedBytes: number; seconds: number }): string {
  return run.seconds > 0 ? `${formatBytes((run.bytes - run.resumedBytes) / run.seconds)}/s` : '-';
}

/** FORCE_COLOR wins (0 turns colour off), then NO_COLOR, then whether the stream is a terminal. */
export function colorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0';
  if (env.NO_COLOR) return false;
  return Boolean(stream.isTTY);
}

/**
 * Shows download events: on a terminal a live block per download redrawn in place (status, file
 * map, -v connections), elsewhere a plain line every few seconds, or NDJSON for programs.
 * Errors are always shown.
 */
export class Reporter {
  private readonly live = new Map<string, LiveDownload>();
  private readonly lastPlain = new Map<string, number>();
  /** Each download's output path, from its start event on (--json). */
  private readonly paths = new Map<string, string>();
  private drawnLines = 0;
  /**
   * Requests cut together (12 silent ones behind a server's connection limit) would print 12 lines
   * that differ only in the range: retries of one download that say the same make one line.
   */
  private readonly retries = new TurnBatch<Retry>((events) => this.printRetries(events));
  private lastDraw = 0;
  private readonly stderr: NodeJS.WriteStream;
  private readonly stdout: NodeJS.WritableStream;
  private readonly verbose: boolean;
  private readonly color: boolean;
  private readonly plainIntervalMs: number;

  constructor(private readonly mode: Mode, options: ReporterOptions = {}) {
    this.stderr = options.stderr ?? process.stderr;
    this.stdout = options.stdout ?? process.stdout;
    this.verbose = options.verbose ?? false;
    this.color = options.color ?? colorWanted(this.stderr);
    this.plainIntervalMs = options.plainIntervalMs ?? PLAIN_INTERVAL_MS;
    if (mode === 'tty') this.stderr.on('resize', () => this.draw(true));
  }

  /** The listener for one download's events; its URL and output name tell concurrent downloads apart. */
  listener(url: string, output?: string): (event: Timed) => void {
    const key = downloadKey(url, output);
    return (event) => this.event(key, redact(url), event);
  }

  private event(key: string, url: string, event: Timed): void {
    if (this.mode === 'json') return this.json(key, url, event);
    if (this.mode === 'quiet') return;
    switch (event.type) {
      case 'start':
        if (event.resumedBytes > 0) this.line(`rangeget: resuming ${event.path} with ${formatBytes(event.resumedBytes)} already on disk`);
        if (this.mode === 'tty') this.live.set(key, new LiveDownload(event.path));
        // The first plain line comes one interval in, when the speed and ETA mean something.
        this.lastPlain.set(key, performance.now());
        return this.draw(true);
      case 'progress':
        return this.progress(key, event);
      case 'notice':
        return this.line(`rangeget: ${event.message}`);
      case 'retry':
        return this.retries.add(`${key} ${event.attempt} ${event.delayMs} ${event.reason}`, event);
      case 'done':
        this.live.delete(key);
        return this.line(`${paint(this.color, '32', 'saved')} ${event.path} (${formatBytes(event.bytes)}) in ${event.seconds.toFixed(event.seconds < 1 ? 2 : 1)} s, ${averageSpeed(event)}, ${event.connections} connection${event.connections === 1 ? '' : 's'}, ${event.retries} ${event.retries === 1 ? 'retry' : 'retries'}`);
    }
  }

  /** One NDJSON line per event, each naming its download: the URL, and the path once known. */
  private json(key: string, url: string, event: Timed): void {
    if (event.type === 'start') this.paths.set(key, event.path);
    const { segments: _omitted, ...rest } = event as Timed & { segments?: unknown };
    this.stdout.write(`${JSON.stringify({ ...(event.type === 'progress' ? rest : event), url, path: this.paths.get(key) })}\n`);
  }

  /** A notice line (an event with --json), about the download at `url` when there is one. */
  notice(message: string, url?: string, output?: string): void {
    if (url !== undefined) return this.listener(url, output)({ type: 'notice', message, time: new Date().toISOString() });
    if (this.mode === 'json') this.stdout.write(`${JSON.stringify({ type: 'notice', time: new Date().toISOString(), message })}\n`);
    else if (this.mode !== 'quiet') this.line(`rangeget: ${message}`);
  }

  /** Reports a failure, of the download at `url` (and `output`) when it stopped one. */
  error(err: { message: string; code?: string; keptPart?: string }, url?: string, output?: string): void {
    const message = redact(err.message);
    const { keptPart } = err;
    if (this.mode === 'json') {
      const source = url === undefined ? {} : { url: redact(url), path: this.paths.get(downloadKey(url, output)) };
      this.stdout.write(`${JSON.stringify({ type: 'error', time: new Date().toISOString(), code: err.code, message, keptPart, ...source })}\n`);
    }
    const resume = keptPart ? `; the part downloaded so far is kept in ${keptPart}: run the same command again to resume` : '';
    this.line(`${paint(this.color, '31', 'rangeget:')} ${message}${resume}`);
  }

  /** The results table after several downloads: name, size, status, average speed. */
  summary(outcomes: Outcome[]): void {
    if (this.mode === 'quiet' || this.mode === 'json') return;
    const rows = outcomes.map(({ url, result, error, skipped }) => [
      result ? basename(result.path) : skipped ? basename(skipped) : url,
      result ? formatBytes(result.bytes) : '-',
      result ? 'done' : skipped ? 'exists, skipped' : `failed (${error!.code})`,
      result ? averageSpeed(result) : '-',
    ]);
    const table = [['name', 'size', 'status', 'average speed'], ...rows];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) this.line(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  }

  private progress(key: string, event: Extract<DownloadEvent, { type: 'progress' }>): void {
    const now = performance.now();
    if (this.mode === 'tty') {
      this.live.get(key)?.update(event, now);
      return this.draw(false);
    }
    if (now - (this.lastPlain.get(key) ?? 0) < this.plainIntervalMs) return;
    this.lastPlain.set(key, now);
    const { percent, size, speed, eta } = progressFigures(event);
    this.stderr.write(`${[percent, size, speed, eta, `${event.connections} conn`].filter(Boolean).join('  ')}\n`);
  }

  /** Redraws every live block in place, at most 10 times a second unless `now`. */
  private draw(now: boolean): void {
    if (this.mode !== 'tty') return;
    const at = performance.now();
    if (!now && at - this.lastDraw < REDRAW_INTERVAL_MS) return;
    this.lastDraw = at;
    const columns = this.stderr.columns || 80;
    const lines = [...this.live.values()].flatMap((d) => d.render(columns, this.verbose, this.color));
    this.stderr.write(`${this.clearBlock()}${lines.map((l) => `${l}\n`).join('')}`);
    this.drawnLines = lines.length;
  }

  /** Escape codes that move up over the live block and erase it. */
  private clearBlock(): string {
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : '';
    this.drawnLines = 0;
    return `${up}\x1b[J`;
  }

  /** One line for retries that say the same, naming the first few ranges. */
  private printRetries(events: Retry[]): void {
    const { attempt, delayMs, reason } = events[0]!;
    const named = events.slice(0, NAMED_RANGES).map((e) => `${e.range.start}-`).join(', ');
    const ranges = events.length === 1 ? `bytes ${named}` : `${events.length} ranges (bytes ${named}${events.length > NAMED_RANGES ? ', …' : ''})`;
    this.line(`rangeget: retrying ${ranges} in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt}): ${reason}`);
  }

  /** Prints a line above the live block (after the retries waiting to be printed), then redraws the block. */
  private line(text: string): void {
    this.retries.flush();
    this.stderr.write(`${this.mode === 'tty' ? this.clearBlock() : ''}${text}\n`);
    this.draw(true);
  }
}
