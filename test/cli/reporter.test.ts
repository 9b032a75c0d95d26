import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/errors.js';
import { Reporter } from '../../src/cli/reporter.js';
import type { DownloadEvent } from '../../src/events.js';

const time = new Date().toISOString();
const start: DownloadEvent = { type: 'start', url: 'http://x/f', path: '/tmp/f', total: 1000, segmented: true, connections: 2, resumedBytes: 0 };
const progress = (bytes: number, speed: number): DownloadEvent => ({ type: 'progress', bytes, total: 1000, speed, connections: 2, segments: [] });

/** A plain (off-terminal) reporter's listener for one download, and what it printed so far. */
function plainReporter(plainIntervalMs?: number) {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (chunk: Buffer) => (text += chunk));
  const listener = new Reporter('plain', { stderr: stderr as unknown as NodeJS.WriteStream, plainIntervalMs }).listener('http://x/f');
  return { listener, printed: () => text };
}

describe('Reporter off a terminal', () => {
  it('prints the first progress line one interval after the start, then one per interval', async () => {
    const { listener, printed } = plainReporter(100);
    listener({ ...start, time });
    listener({ ...progress(10, 0), time });
    expect(printed()).toBe('');
    await sleep(150);
    listener({ ...progress(500, 250), time });
    listener({ ...progress(600, 250), time });
    expect(printed()).toBe('50.0%  500 B/1000 B  250 B/s  ETA 00:02  2 conn\n');
  });

  it('says how long a download took in hundredths of a second under one second', () => {
    const { listener, printed } = plainReporter();
    listener({ type: 'done', path: '/tmp/f', bytes: 1000, seconds: 0.04, connections: 1, retries: 0, resumedBytes: 0, time });
    listener({ type: 'done', path: '/tmp/g', bytes: 1000, seconds: 12.34, connections: 2, retries: 1, resumedBytes: 0, time });
    expect(printed()).toBe('saved /tmp/f (1000 B) in 0.04 s, 24.4 KiB/s, 1 connection, 0 retries\nsaved /tmp/g (1000 B) in 12.3 s, 81 B/s, 2 connections, 1 retry\n');
  });

  it('prints the retries that say the same at once as one line, naming the first ranges', async () => {
    const { listener, printed } = plainReporter();
    const retry = (start: number, reason = 'no connection after 0.6 s; re-requesting'): DownloadEvent => (
      { type: 'retry', range: { start, end: start + 10 }, attempt: 1, delayMs: 0, reason });
    for (const at of [0, 10, 20, 30]) listener({ ...retry(at), time });
    listener({ ...retry(40, 'reset the connection'), time });
    await sleep(10);
    listener({ ...retry(50), time });
    await sleep(10);
    expect(printed()).toBe([
      'rangeget: retrying 4 ranges (bytes 0-, 10-, 20-, …) in 0.0 s (attempt 1): no connection after 0.6 s; re-requesting',
      'rangeget: retrying bytes 40- in 0.0 s (attempt 1): reset the connection',
      'rangeget: retrying bytes 50- in 0.0 s (attempt 1): no connection after 0.6 s; re-requesting',
      '',
    ].join('\n'));
  });

  it('counts only the bytes of this run in its speed, not those resumed from an earlier one', () => {
    const { listener, printed } = plainReporter();
    listener({ type: 'done', path: '/tmp/f', bytes: 3072, seconds: 2, connections: 1, retries: 0, resumedBytes: 1024, time });
    expect(printed()).toBe('saved /tmp/f (3.00 KiB) in 2.0 s, 1.00 KiB/s, 1 connection, 0 retries\n');
  });
});

describe('Reporter with --json', () => {
  it('names the download of every line: its URL (without a password), and its path once known', () => {
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (chunk: Buffer) => (text += chunk));
    const reporter = new Reporter('json', { stdout });
    const a = reporter.listener('http://u:secret@x/a', 'a.bin');
    const b = reporter.listener('http://x/b');
    a({ type: 'notice', message: 'HEAD refused', time });
    a({ ...start, path: '/tmp/a.bin', time });
    b({ ...start, path: '/tmp/b', time });
    b({ ...progress(10, 5), time });
    a({ ...progress(20, 5), time });
    reporter.error(new HttpError(404, 'http://x/b'), 'http://x/b');
    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => [l.type, l.url, l.path])).toEqual([
      ['notice', 'http://u:***@x/a', undefined],
      ['start', 'http://u:***@x/a', '/tmp/a.bin'],
      ['start', 'http://x/b', '/tmp/b'],
      ['progress', 'http://x/b', '/tmp/b'],
      ['progress', 'http://u:***@x/a', '/tmp/a.bin'],
      ['error', 'http://x/b', '/tmp/b'],
    ]);
    expect(lines[3]).not.toHaveProperty('segments');
    expect(text).not.toMatch(/secret/);
  });
});
