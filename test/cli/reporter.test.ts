import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Reporter } from '../../src/cli/reporter.js';
import type { DownloadEvent } from '../../src/events.js';

const time = new Date().toISOString();
const start: DownloadEvent = { type: 'start', url: 'http://x/f', path: '/tmp/f', total: 1000, segmented: true, connections: 2, resumedBytes: 0 };
const progress = (bytes: number, speed: number): DownloadEvent => ({ type: 'progress', bytes, total: 1000, speed, connections: 2, segments: [] });

describe('Reporter off a terminal', () => {
  it('prints the first progress line one interval after the start, then one per interval', async () => {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (chunk: Buffer) => (text += chunk));
    const listener = new Reporter('plain', { stderr: stderr as unknown as NodeJS.WriteStream, plainIntervalMs: 100 }).listener('f');
    listener({ ...start, time });
    listener({ ...progress(10, 0), time });
    expect(text).toBe('');
    await sleep(150);
    listener({ ...progress(500, 250), time });
    listener({ ...progress(600, 250), time });
    expect(text).toBe('50.0%  500 B/1000 B  250 B/s  ETA 00:02  2 conn\n');
  });
});
