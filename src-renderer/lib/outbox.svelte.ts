/**
 * Outbox state for a virtualized list over any number of messages: only `total` and the pages
 * around what is visible are held. Pages (PAGE_SIZE rows, outbox.list offset/limit) load on
 * demand when the list reports its visible range. Main's batched events trigger a throttled
 * refresh of the visible pages only; pages out of view are dropped, so scrolling back reloads
 * them fresh. Progress events update the sending bar without any reload.
 */
import type { EventPayload } from '../../shared/contract';
import type { MessageSummary, RecipientState } from '../../shared/domain';
import { call, subscribe } from './api';
import { throttle } from './debounce';
import { errorText } from './format';

export const PAGE_SIZE = 200;
const REFRESH_MS = 400;

export interface OutboxFilter {
  status: RecipientState | '';
  domain: string;
  text: string;
  sort: 'newest' | 'oldest';
}

export type OutboxAction = 'hold' | 'resume' | 'retry' | 'cancel';

export class OutboxStore {
  #pages = new Map<number, MessageSummary[]>();
  /** Bumped whenever #pages changes: the one reactive signal for all rows. */
  #version = $state(0);
  #total = $state.raw(0);
  #unsent = $state.raw(0);
  #loaded = $state.raw(false);
  #error = $state.raw<string | null>(null);
  #filter = $state.raw<OutboxFilter>({ status: '', domain: '', text: '', sort: 'newest' });
  #progress = $state.raw<ReadonlyMap<string, { bytesSent: number; size: number }>>(new Map());
  #actionErrors = $state.raw<ReadonlyMap<string, string>>(new Map());
  #busy = $state.raw<ReadonlySet<string>>(new Set());
  #range = { start: 0, end: 0 };
  #generation = 0;
  #inflight = new Map<number, Promise<void>>();
  /** Where the list was scrolled, so returning from a message keeps the place. */
  scrollTop = 0;
  selected = $state(0);

  #refreshSoon = throttle(() => void this.refresh(), REFRESH_MS);

  get total() {
    return this.#total;
  }
  /** Messages not yet delivered to every recipient (queued, sending, retrying or held). */
  get unsent() {
    return this.#unsent;
  }
  get loaded() {
    return this.#loaded;
  }
  get error() {
    return this.#error;
  }
  get filter() {
    return this.#filter;
  }
  progress(messageId: string) {
    return this.#progress.get(messageId);
  }
  actionError(messageId: string) {
    return this.#actionErrors.get(messageId);
  }
  isBusy(messageId: string) {
    return this.#busy.has(messageId);
  }

  /** The message at a list index, or undefined while its page loads. */
  at(index: number): MessageSummary | undefined {
    void this.#version;
    return this.#pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  setFilter(patch: Partial<OutboxFilter>): void {
    this.#filter = { ...this.#filter, ...patch };
    this.#generation++;
    this.#pages = new Map();
    this.#inflight.clear();
    this.#version++;
    this.selected = 0;
    this.scrollTop = 0;
    void this.refresh();
  }

  /** Called by the list with the rows it renders (overscan included). */
  setRange(start: number, end: number): void {
    this.#range = { start, end };
    for (const p of this.#pagesIn(start, end)) if (!this.#pages.has(p)) void this.#load(p);
  }

  #pagesIn(start: number, end: number): number[] {
    const out: number[] = [];
    const last = Math.max(start, end - 1);
    for (let p = Math.floor(start / PAGE_SIZE); p <= Math.floor(last / PAGE_SIZE); p++) out.push(p);
    return out;
  }

  #query(page: number) {
    const f = this.#filter;
    return {
      ...(f.status ? { status: f.status } : {}),
      ...(f.domain.trim() ? { domain: f.domain.trim() } : {}),
      ...(f.text.trim() ? { text: f.text.trim() } : {}),
      sort: f.sort,
      offset: page * PAGE_SIZE,
      limit: PAGE_SIZE,
    };
  }

  #load(page: number): Promise<void> {
    const existing = this.#inflight.get(page);
    if (existing) return existing;
    const gen = this.#generation;
    const p = call('outbox.list', this.#query(page))
      .then((r) => {
        if (gen !== this.#generation) return;
        this.#pages.set(page, r.items);
        this.#total = r.total;
        this.#unsent = r.unsent;
        this.#loaded = true;
        this.#error = null;
        this.#version++;
      })
      .catch((e: unknown) => {
        if (gen === this.#generation) this.#error = errorText(e);
      })
      .finally(() => {
        if (this.#inflight.get(page) === p) this.#inflight.delete(page);
      });
    this.#inflight.set(page, p);
    return p;
  }

  /** Reloads the visible pages (and total); drops the rest. */
  async refresh(): Promise<void> {
    const wanted = this.#pagesIn(this.#range.start, this.#range.end);
    if (wanted.length === 0) wanted.push(0);
    const gen = ++this.#generation;
    this.#inflight.clear();
    try {
      const results = await Promise.all(wanted.map((p) => call('outbox.list', this.#query(p)).then((r) => [p, r] as const)));
      if (gen !== this.#generation) return;
      const pages = new Map<number, MessageSummary[]>();
      for (const [p, r] of results) {
        pages.set(p, r.items);
        this.#total = r.total;
        this.#unsent = r.unsent;
      }
      this.#pages = pages;
      this.#loaded = true;
      this.#error = null;
      this.#version++;
    } catch (e) {
      if (gen === this.#generation) this.#error = errorText(e);
    }
  }

  async act(messageId: string, action: OutboxAction, recipientId?: number): Promise<void> {
    this.#busy = new Set([...this.#busy, messageId]);
    const errors = new Map(this.#actionErrors);
    errors.delete(messageId);
    try {
      const { changed } = await call('outbox.action', { messageId, action, ...(recipientId !== undefined ? { recipientId } : {}) });
      if (changed.length === 0) errors.set(messageId, `Nothing to ${action === 'retry' ? 'retry' : action}: no recipient is in a state that allows it.`);
    } catch (e) {
      errors.set(messageId, errorText(e));
    } finally {
      this.#actionErrors = errors;
      const busy = new Set(this.#busy);
      busy.delete(messageId);
      this.#busy = busy;
    }
    await this.refresh();
  }

  #onEvents(batch: EventPayload<'outbox.events'>): void {
    let progress: Map<string, { bytesSent: number; size: number }> | undefined;
    let structural = false;
    for (const e of batch) {
      if (e.type === 'readiness') continue; // the readiness panel's business
      if (e.type === 'progress') {
        progress ??= new Map(this.#progress);
        progress.set(e.messageId, { bytesSent: e.bytesSent, size: e.size });
      } else {
        structural = true;
        if (e.type === 'recipient-state' && e.state !== 'sending') {
          progress ??= new Map(this.#progress);
          progress.delete(e.messageId);
        }
      }
    }
    if (progress) this.#progress = progress;
    if (structural) this.#refreshSoon();
  }

  /** Subscribes to main's events; returns the unsubscribe function. */
  connect(): () => void {
    void this.refresh();
    const off = subscribe('outbox.events', (batch) => this.#onEvents(batch));
    return () => {
      off();
      this.#refreshSoon.cancel();
    };
  }
}
