/**
 * The feed of changes to the set of pending recipients (state 'queued' or 'deferred' with a
 * next-attempt time: the rows of the recipients_pending index). Every statement that moves a
 * recipient into, out of or within that set reports the change here, and the feed hands the
 * changes to its listeners (the queue's in-memory due set) only after the outermost
 * transaction has committed — a rolled-back write changes nothing in memory either, so memory
 * and disk cannot disagree.
 *
 * A change made inside a transaction the feed does not own (a raw db.transaction around a
 * queue write, as a bulk import does) cannot be delivered at its commit, which the feed does
 * not see: the feed marks the listeners' copy stale instead, and they reload it from the store
 * before using it again (consumeStale) — never a silent divergence.
 */
import { durableTransaction, type Db } from './db';

export interface PendingChange {
  id: number;
  messageId: string;
  domain: string;
  /** The next-attempt time while pending; null once the recipient left the set. */
  at: number | null;
}

export type PendingListener = (changes: readonly PendingChange[]) => void;

export class PendingFeed {
  readonly #listeners = new Set<PendingListener>();
  #journal: PendingChange[] = [];
  #depth = 0;
  #stale = false;

  constructor(private readonly db: Db) {}

  /** Subscribes; returns the unsubscribe function. */
  listen(listener: PendingListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  /**
   * Runs `fn` in a transaction (IMMEDIATE when outermost; `durable`: fsync'd, see
   * durableTransaction); the changes it reported reach the listeners after the commit, or are
   * dropped with a rollback.
   *
   * Nested inside a transaction of this feed, `fn` joins it: no savepoint of its own (a group
   * commit of 5 results paid three nested savepoints per result). An error thrown by `fn` then
   * rolls back whatever the outermost transaction did, unless some caller in between catches it
   * and goes on: such a caller asks for `savepoint`, so that exactly `fn`'s writes (and the
   * changes it reported) are undone and the rest of the transaction stands.
   */
  atomically<T>(fn: () => T, opts: { durable?: boolean; savepoint?: boolean } = {}): T {
    const outer = !this.db.inTransaction;
    if (!outer && this.#depth === 0) {
      // Inside a foreign transaction: its commit decides, and the listeners reload afterwards.
      const result = opts.durable ? durableTransaction(this.db, fn) : this.db.transaction(fn)();
      if (this.#listeners.size > 0) this.#stale = true;
      return result;
    }
    const mark = this.#journal.length;
    this.#depth++;
    let result: T;
    try {
      if (!outer) result = opts.savepoint ? this.db.transaction(fn)() : fn();
      else result = opts.durable ? durableTransaction(this.db, fn) : this.db.transaction(fn).immediate();
    } catch (e) {
      this.#journal.length = mark;
      throw e;
    } finally {
      this.#depth--;
    }
    if (outer) this.#deliver();
    return result;
  }

  /** Reports changes made by the running transaction (or just committed, outside one). */
  report(changes: PendingChange | readonly PendingChange[]): void {
    if (this.#listeners.size === 0) return;
    const list = Array.isArray(changes) ? changes : [changes as PendingChange];
    if (list.length === 0) return;
    if (!this.db.inTransaction) {
      for (const l of this.#listeners) l(list);
      return;
    }
    if (this.#depth === 0) {
      this.#stale = true;
      return;
    }
    for (const c of list) this.#journal.push(c);
  }

  /** Whether changes were made that the listeners did not get (they must reload); resets. */
  consumeStale(): boolean {
    const stale = this.#stale;
    this.#stale = false;
    return stale;
  }

  #deliver(): void {
    if (this.#journal.length === 0) return;
    const changes = this.#journal;
    this.#journal = [];
    for (const l of this.#listeners) l(changes);
  }
}
