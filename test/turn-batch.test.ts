import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TurnBatch } from '../src/turn-batch.js';

describe('TurnBatch', () => {
  it('hands on the items added under one key in one turn together, at its end', async () => {
    const handed: number[][] = [];
    const batch = new TurnBatch<number>((items) => handed.push(items));
    batch.add('a', 1);
    batch.add('a', 2);
    expect(handed).toEqual([]);
    await nextTurn();
    batch.add('a', 3);
    await nextTurn();
    expect(handed).toEqual([[1, 2], [3]]);
  });

  it('hands on the pending items first when another key comes, or at flush', () => {
    const handed: string[][] = [];
    const batch = new TurnBatch<string>((items) => handed.push(items));
    batch.add('a', 'x');
    batch.add('b', 'y');
    batch.flush();
    batch.flush();
    expect(handed).toEqual([['x'], ['y']]);
  });

  it('with a window, hands on the items added within it of the first together, at its end', async () => {
    const handed: number[][] = [];
    const batch = new TurnBatch<number>((items) => handed.push(items), 200);
    batch.add('a', 1);
    await nextTurn();
    batch.add('a', 2);
    expect(handed).toEqual([]);
    await sleep(400);
    expect(handed).toEqual([[1, 2]]);
  });
});
