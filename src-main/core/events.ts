/**
 * Engine events for the UI, batched: thousands of recipients changing state must not flood the
 * renderer with thousands of IPC messages. Events are collected and flushed at most once per
 * interval (50 ms → at most 20 batches a second); progress events for the same message are
 * coalesced to the latest value.
 */
import type { OutboxEvent } from '../../shared/contract';
import type { Clock, TimerHandle } from './clock';

export type BatchListener = (batch: OutboxEvent[]) => void;

export class EventBatcher {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #listeners = new Set<BatchListener>();
  #pending: OutboxEvent[] = [];
  #progressIndex = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #lastFlush = -Infinity;

  constructor(clock: Clock, intervalMs = 50) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
  }

  subscribe(listener: BatchListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: OutboxEvent): void {
    if (event.type === 'progress') {
      const at = this.#progressIndex.get(event.messageId);
      if (at !== undefined) {
        this.#pending[at] = event;
        return;
      }
      this.#progressIndex.set(event.messageId, this.#pending.length);
    }
    this.#pending.push(event);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastFlush + this.#intervalMs - this.#clock.now());
    this.#timer = this.#clock.setTimer(wait, () => this.flush());
  }

  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#progressIndex.clear();
    this.#lastFlush = this.#clock.now();
    for (const l of this.#listeners) l(batch);
  }
}
