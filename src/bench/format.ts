import { formatBytes } from '../size.js';
import type { BenchReport, BenchResult } from './sweep.js';

const rate = (bytesPerSecond: number) => `${formatBytes(bytesPerSecond)}/s`;
const mib = (bytesPerSecond: number) => (bytesPerSecond / 2 ** 20).toFixed(1);
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(value < 10 ? 1 : 0) : '-');

/** A table for people: one row per connection count, then the knee in a sentence. */
export function formatTable(report: BenchReport): string {
  const header = ['conns', 'aggregate', 'per connection min / median / max MiB/s', 'TTFB p50 / p90 / p99 ms', 'first / last done', 'retries'];
  const rows = report.results.map((r) => [
    String(r.connections),
    rate(r.throughput) + (r.runs.throughput.length > 1 ? ` (${mib(r.runs.min)}-${mib(r.runs.max)})` : ''),
    `${mib(r.perConnection.min)} / ${mib(r.perConnection.median)} / ${mib(r.perConnection.max)}`,
    `${ms(r.ttfbMs.p50)} / ${ms(r.ttfbMs.p90)} / ${ms(r.ttfbMs.p99)}`,
    `${r.firstDoneSeconds.toFixed(2)} / ${r.lastDoneSeconds.toFixed(2)} s`,
    String(r.retries),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    `${report.url}: ${formatBytes(report.bytesPerRun)} per run${report.durationSeconds === null ? '' : `, or ${report.durationSeconds} s, whichever comes first`}`,
    line(header),
    ...rows.map(line),
    '',
    `knee: ${report.summary}`,
  ].join('\n');
}

export const CSV_COLUMNS = [
  'connections', 'bytes', 'seconds', 'throughput', 'perConnectionMin', 'perConnectionMedian', 'perConnectionMax',
  'ttfbP50Ms', 'ttfbP90Ms', 'ttfbP99Ms', 'connectP50Ms', 'firstDoneSeconds', 'lastDoneSeconds', 'retries', 'errors',
] as const;

/** CSV with a header row; rates in bytes per second, times as named. */
export function formatCsv(report: BenchReport): string {
  const row = (r: BenchResult) => [
    r.connections, r.bytes, r.seconds, r.throughput, r.perConnection.min, r.perConnection.median, r.perConnection.max,
    r.ttfbMs.p50, r.ttfbMs.p90, r.ttfbMs.p99, r.connectMs.p50, r.firstDoneSeconds, r.lastDoneSeconds, r.retries, r.errors,
  ].map((v) => (Number.isFinite(v) ? String(Math.round(v * 1000) / 1000) : '')).join(',');
  return [CSV_COLUMNS.join(','), ...report.results.map(row)].join('\n') + '\n';
}
