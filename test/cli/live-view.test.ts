import { describe, expect, it } from 'vitest';
import { LiveDownload } from '../../src/cli/live-view.js';

const visible = (line: string) => line.replace(/\x1b\[[0-9;]*m/g, '');

describe('LiveDownload', () => {
  it.each([20, 40, 80, 200])('keeps every line within a terminal %i columns wide (a wrapped line breaks the redraw)', (columns) => {
    const live = new LiveDownload('/data/a-rather-long-file-name-for-a-download.iso');
    const segments = [0, 1, 2, 3].map((i) => ({ start: i * 1000, end: (i + 1) * 1000, received: 400, written: 300, active: true, retries: 0 }));
    live.update({ type: 'progress', bytes: 1600, total: 4000, speed: 123_456, connections: 4, segments }, 1000);
    const lines = live.render(columns, true, true);
    expect(lines).toHaveLength(6);
    for (const line of lines) expect(visible(line).length).toBeLessThan(columns);
  });
});
