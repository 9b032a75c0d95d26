import type { DownloadResult } from '../download.js';
import type { RangegetError } from '../errors.js';
import type { DownloadEvent } from '../events.js';
import { basename } from 'node:path';
import { redact } from '../options.js';
import { formatBytes } from '../size.js';

export type Mode = 'tty' | 'plain' | 'quiet' | 'json';

/** How one of several downloads ended. */
export interface Outcome {
  url: string;
  result?: DownloadResult;
  error?: RangegetError;
}

const PLAIN_INTERVAL_MS = 5000;
const TTY_INTERVAL_MS = 100;

/**
 * Shows download events to a person (a live line on a TTY, a line every few seconds
 * elsewhere), or as NDJSON for programs. Errors are always shown.
 */
export class Reporter {
  private lastLine = 0;
  private liveLine = false;

  constructor(
    private readonly mode: Mode,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
  ) {}

  event(event: DownloadEvent & { time: string }): void {
    if (this.mode === 'json') {
      this.stdout.write(`${JSON.stringify(event)}\n`);
      return;
    }
    if (this.mode === 'quiet') return;
    if (event.type === 'progress') this.progress(event);
    else if (event.type === 'notice') this.line(`rangeget: ${event.message}`);
    else if (event.type === 'retry') this.line(`rangeget: retrying bytes ${event.range.start}- in ${(event.delayMs / 1000).toFixed(1)} s (attempt ${event.attempt}): ${event.reason}`);
    else if (event.type === 'start' && event.resumedBytes > 0) this.line(`rangeget: resuming ${event.path} with ${formatBytes(event.resumedBytes)} already on disk`);
    else if (event.type === 'done') {
      const speed = event.seconds > 0 ? formatBytes(event.bytes / event.seconds) : '-';
      this.line(`saved ${event.path} (${formatBytes(event.bytes)}) in ${event.seconds.toFixed(1)} s, ${speed}/s, ${event.connections} connection${event.connections === 1 ? '' : 's'}`);
    }
  }

  error(err: { message: string; code?: string }): void {
    const message = redact(err.message);
    if (this.mode === 'json') this.stdout.write(`${JSON.stringify({ type: 'error', time: new Date().toISOString(), code: err.code, message })}\n`);
    this.line(`rangeget: ${message}`);
  }

  /** The results table after several downloads: name, size, status, average speed. */
  summary(outcomes: Outcome[]): void {
    if (this.mode === 'quiet' || this.mode === 'json') return;
    const rows = outcomes.map(({ url, result, error }) => [
      result ? basename(result.path) : url,
      result ? formatBytes(result.bytes) : '-',
      result ? 'done' : `failed (${error!.code})`,
      result && result.seconds > 0 ? `${formatBytes(result.bytes / result.seconds)}/s` : '-',
    ]);
    const table = [['name', 'size', 'status', 'average speed'], ...rows];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) this.line(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  }

  private progress(event: Extract<DownloadEvent, { type: 'progress' }>): void {
    const now = performance.now();
    const interval = this.mode === 'tty' ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS;
    if (now - this.lastLine < interval) return;
    this.lastLine = now;
    const text = progressLine(event);
    if (this.mode === 'tty') {
      this.stderr.write(`\r\x1b[K${text}`);
      this.liveLine = true;
    } else this.stderr.write(`${text}\n`);
  }

  private line(text: string): void {
    if (this.liveLine) this.stderr.write('\r\x1b[K');
    this.liveLine = false;
    this.stderr.write(`${text}\n`);
  }
}

function progressLine(p: { bytes: number; total: number | null; speed: number; connections: number }): string {
  const percent = p.total ? `${((100 * p.bytes) / p.total).toFixed(1).padStart(5)}%` : '    ?%';
  const size = p.total === null ? formatBytes(p.bytes) : `${formatBytes(p.bytes)} / ${formatBytes(p.total)}`;
  const eta = p.total !== null && p.speed > 0 ? formatDuration((p.total - p.bytes) / p.speed) : '--:--';
  return `${percent}  ${size}  ${formatBytes(p.speed)}/s  ETA ${eta}  ${p.connections} conn`;
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const mmss = `${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return hours > 0 ? `${hours}:${mmss}` : mmss;
}
