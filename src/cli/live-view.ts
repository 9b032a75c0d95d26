import { basename } from 'node:path';
import type { DownloadEvent, SegmentProgress } from '../events.js';
import { formatBytes } from '../size.js';
import { fileMap, type CellState } from './file-map.js';

type Progress = Extract<DownloadEvent, { type: 'progress' }>;

const CELLS: Record<CellState, { char: string; color: string }> = {
  done: { char: '█', color: '32' },
  active: { char: '▒', color: '33' },
  missing: { char: '░', color: '2' },
};
const BAR_MAX = 30;

export const paint = (color: boolean, code: string, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);

/** One download as shown on a terminal: its latest progress and the speeds of its connections. */
export class LiveDownload {
  private progress: Progress | undefined;
  private previous = new Map<number, { received: number; at: number }>();
  private speeds = new Map<number, number>();

  constructor(readonly name: string) {}

  update(progress: Progress, now: number): void {
    for (const s of progress.segments) {
      const before = this.previous.get(s.start);
      if (before && now > before.at) this.speeds.set(s.start, ((s.received - before.received) * 1000) / (now - before.at));
      this.previous.set(s.start, { received: s.received, at: now });
    }
    this.progress = progress;
  }

  /** The lines for a terminal `columns` wide: status, file map, and with `verbose` one row per connection. */
  render(columns: number, verbose: boolean, color: boolean): string[] {
    const p = this.progress;
    if (!p) return [clip(`${this.name}  starting…`, columns)];
    const lines = [statusLine(this.name, p, columns, color)];
    if (p.total) lines.push(mapLine(p.total, p.segments, columns, color));
    if (verbose) lines.push(...p.segments.filter((s) => s.active).map((s) => clip(connectionRow(s, this.speeds.get(s.start) ?? 0), columns)));
    return lines;
  }
}

/** Percent (or bytes when the total is unknown), bytes done/total, speed and ETA as people read them. */
export function progressFigures(p: Pick<Progress, 'bytes' | 'total' | 'speed'>) {
  return {
    percent: p.total ? `${((100 * p.bytes) / p.total).toFixed(1)}%` : formatBytes(p.bytes),
    size: p.total === null ? '' : `${formatBytes(p.bytes)}/${formatBytes(p.total)}`,
    speed: `${formatBytes(p.speed)}/s`,
    eta: `ETA ${p.total !== null && p.speed > 0 ? formatDuration((p.total - p.bytes) / p.speed) : '--:--'}`,
  };
}

/**
 * Name, percent, bar, bytes, speed, ETA, connections, fitted to the width: percent, speed and ETA
 * while they fit (cut short on a very narrow terminal: a wrapped line would break the redraw); then
 * connections, bytes, the name and the bar while they fit.
 */
function statusLine(name: string, p: Progress, columns: number, color: boolean): string {
  const { percent, size, speed, eta } = progressFigures(p);
  const parts = [percent, speed, eta];
  const used = () => parts.join('  ').length;
  for (const optional of [`${p.connections} conn`, size]) {
    if (optional && used() + 2 + optional.length < columns) parts.push(optional);
  }
  const label = truncate(basename(name), Math.min(30, columns - used() - 3));
  if (label.length >= 4) parts.unshift(label);
  const barWidth = Math.min(BAR_MAX, columns - used() - 4);
  if (p.total && barWidth >= 5) {
    const at = parts.indexOf(percent);
    parts[at] = `${percent} ${progressBar(p.bytes / p.total, barWidth, color)}`;
  }
  return clip(parts.join('  '), columns);
}

function progressBar(fraction: number, width: number, color: boolean): string {
  const filled = Math.round(Math.min(1, fraction) * width);
  return `[${paint(color, '32', '█'.repeat(filled))}${'░'.repeat(width - filled)}]`;
}

function mapLine(total: number, segments: SegmentProgress[], columns: number, color: boolean): string {
  const width = Math.max(0, Math.min(columns - 10, 120));
  const cells = fileMap(total, segments, width);
  let drawn = '';
  for (let i = 0, j = 0; i < cells.length; i = j) {
    while (j < cells.length && cells[j] === cells[i]) j++;
    const { char, color: code } = CELLS[cells[i]!];
    drawn += paint(color, code, char.repeat(j - i));
  }
  return `  map [${drawn}]`;
}

function connectionRow(s: SegmentProgress, speed: number): string {
  const at = s.start + s.received;
  return `    ${s.start}-${s.end - 1}  at ${formatBytes(at - s.start)}  ${formatBytes(speed)}/s  retries ${s.retries}`;
}

/** Cuts `text` to `columns - 1` visible characters (escape sequences take no room). */
function clip(text: string, columns: number): string {
  const visible = text.replace(/\x1b\[[0-9;]*m/g, '');
  return visible.length < columns ? text : truncate(visible, columns - 1);
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const mmss = `${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return hours > 0 ? `${hours}:${mmss}` : mmss;
}
