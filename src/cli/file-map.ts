/** What a progress event says about one segment, enough to draw the file's map. */
export interface SegmentView {
  start: number;
  end: number;
  /** Bytes from `start` on disk. */
  written: number;
  /** A connection is fetching the rest now. */
  active: boolean;
}

export type CellState = 'done' | 'active' | 'missing';

/**
 * The file as `width` cells: done when every byte in it is written, active when a connection is
 * fetching into it, missing otherwise. The shape of a segmented download at a glance.
 */
export function fileMap(total: number, segments: readonly SegmentView[], width: number): CellState[] {
  if (total <= 0 || width <= 0) return [];
  return Array.from({ length: width }, (_, i) => {
    const from = Math.floor((i * total) / width);
    const to = Math.max(from + 1, Math.floor(((i + 1) * total) / width));
    let done = true;
    let active = false;
    for (const s of segments) {
      if (s.end <= from || s.start >= to) continue;
      if (s.start + s.written < Math.min(to, s.end)) done = false;
      if (s.active && s.start + s.written < Math.min(to, s.end)) active = true;
    }
    return done ? 'done' : active ? 'active' : 'missing';
  });
}
