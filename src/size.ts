import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i;

/**
 * Parses a byte count such as `1048576`, `512K`, `4M`, `1MiB` or `2GB`.
 * All units are binary (K = 1024) — for segment sizes the distinction never matters.
 */
export function parseSize(text: string, what = 'size'): number {
  const match = SIZE.exec(text.trim());
  const bytes = match ? Math.round(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new UsageError(`invalid ${what} '${text}': use a byte count like 1048576, 512K, 4M or 1MiB`);
  }
  return bytes;
}

/** `1536` → `1.5 KiB`; for human-facing output only. Rates may be fractional: bytes are rounded. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(bytes)} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** `budget` shared among `parts` (at least one), rounded down to a multiple of `min`, within `min` and `max`. */
export function shareOf(budget: number, parts: number, min: number, max: number): number {
  const share = Math.floor(budget / Math.max(1, parts) / min) * min;
  return Math.min(max, Math.max(min, share));
}
