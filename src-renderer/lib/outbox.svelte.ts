/**
 * Outbox state for the views: the current page of messages, refreshed when main reports
 * changes (events arrive batched; one refresh per batch at most).
 */
import type { MessageSummary } from '../../shared/domain';
import { call, subscribe } from './api';

export class OutboxStore {
  #items = $state.raw<MessageSummary[]>([]);
  #total = $state(0);
  #error = $state<string | null>(null);
  #loading = $state(false);

  get items() {
    return this.#items;
  }
  get total() {
    return this.#total;
  }
  get error() {
    return this.#error;
  }
  get loading() {
    return this.#loading;
  }

  readonly counts = $derived.by(() => {
    const c = { queued: 0, sending: 0, delivered: 0, deferred: 0, failed: 0, held: 0, canceled: 0 };
    for (const m of this.#items) for (const r of m.recipients) c[r.state]++;
    return c;
  });

  async refresh(): Promise<void> {
    this.#loading = true;
    try {
      const page = await call('outbox.list', { limit: 200 });
      this.#items = page.items;
      this.#total = page.total;
      this.#error = null;
    } catch (e) {
      this.#error = e instanceof Error ? e.message : String(e);
    } finally {
      this.#loading = false;
    }
  }

  /** Subscribes to main's events; returns the unsubscribe function. */
  connect(): () => void {
    void this.refresh();
    return subscribe('outbox.events', () => void this.refresh());
  }
}
