import { expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { EventBatcher } from '../../../src-main/core/events';
import type { OutboxEvent } from '../../../shared/contract';

test('thousands of events become at most one batch per 50 ms (≤ 20 batches a second)', () => {
  const clock = new ManualClock(0);
  const batcher = new EventBatcher(clock, 50);
  const batches: OutboxEvent[][] = [];
  batcher.subscribe((b) => batches.push(b));
  // 10,000 state changes spread over one second of engine time.
  for (let i = 0; i < 10_000; i++) {
    batcher.emit({ type: 'recipient-state', messageId: `m${i}`, recipientId: i, state: 'delivered' });
    if (i % 100 === 99) clock.advance(10);
  }
  clock.advance(100);
  expect(batches.length).toBeLessThanOrEqual(21);
  expect(batches.length).toBeGreaterThanOrEqual(19);
  expect(batches.flat()).toHaveLength(10_000);
});

test('progress events of one message are coalesced to the latest value', () => {
  const clock = new ManualClock(0);
  const batcher = new EventBatcher(clock, 50);
  const batches: OutboxEvent[][] = [];
  batcher.subscribe((b) => batches.push(b));
  for (let bytes = 0; bytes <= 1000; bytes += 100) batcher.emit({ type: 'progress', messageId: 'm1', bytesSent: bytes, size: 1000 });
  batcher.emit({ type: 'progress', messageId: 'm2', bytesSent: 5, size: 10 });
  clock.advance(60);
  expect(batches).toEqual([
    [
      { type: 'progress', messageId: 'm1', bytesSent: 1000, size: 1000 },
      { type: 'progress', messageId: 'm2', bytesSent: 5, size: 10 },
    ],
  ]);
});

test('an idle batcher emits nothing', () => {
  const clock = new ManualClock(0);
  const batcher = new EventBatcher(clock, 50);
  let n = 0;
  batcher.subscribe(() => n++);
  clock.advance(10_000);
  batcher.flush();
  expect(n).toBe(0);
});
