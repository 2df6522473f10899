/**
 * The queue's pending work in memory (issue 14 item 1): every recipient in 'queued' or
 * 'deferred' with its next-attempt time, grouped as deliveries are made — one group per message
 * and recipient domain — so that picking the next work costs O(log n) instead of a query over
 * the queue (Postfix's qmgr keeps its active queue the same way: per destination, in memory).
 *
 *   groups of a domain:  a min-heap by (earliest next attempt, lowest recipient id)
 *   domains:             a min-heap of the domains that may start work now, by their top group;
 *                        a domain at its concurrency limit is "blocked" and leaves the heap
 *                        until a delivery of it ends (no polling of work that cannot start).
 *
 * Built from the store at start (rebuild) and changed only through apply(), fed by the store's
 * PendingFeed after each commit; take()/restore() hold groups while their claim commits.
 */
import type { PendingChange } from '../store/pending-feed';
import { Heap, type HeapItem } from './heap';

export interface DueRecipientRef {
  id: number;
  at: number;
}

interface Group extends HeapItem {
  messageId: string;
  domain: string;
  rcpts: DueRecipientRef[];
  /** Earliest next attempt of rcpts, and the lowest id among those (tie-break: queue order). */
  at: number;
  firstId: number;
}

interface DomainQueue extends HeapItem {
  domain: string;
  groups: Map<string, Group>;
  heap: Heap<Group>;
}

/** Recipients of one group taken out of the set for a claim. */
export interface TakenGroup {
  messageId: string;
  domain: string;
  rcpts: DueRecipientRef[];
}

const groupLess = (a: Group, b: Group) => a.at < b.at || (a.at === b.at && a.firstId < b.firstId);
const domainLess = (a: DomainQueue, b: DomainQueue) => groupLess(a.heap.peek()!, b.heap.peek()!);

export class DueSet {
  readonly #byId = new Map<number, Group>();
  readonly #domains = new Map<string, DomainQueue>();
  readonly #ready = new Heap<DomainQueue>(domainLess);
  readonly #blocked = new Set<string>();

  /** Pending recipients held. */
  get size(): number {
    return this.#byId.size;
  }

  /** Replaces the contents with the store's pending rows. */
  rebuild(rows: Iterable<PendingChange>): void {
    this.#byId.clear();
    this.#domains.clear();
    this.#ready.clear();
    for (const r of rows) this.apply(r);
  }

  apply(c: PendingChange): void {
    const old = this.#byId.get(c.id);
    if (old) this.#removeRecipient(old, c.id);
    if (c.at !== null) this.#add(c.messageId, c.domain, { id: c.id, at: c.at });
  }

  /** The earliest next attempt among domains that may start work (null: nothing). */
  nextAt(): number | null {
    return this.#ready.peek()?.heap.peek()?.at ?? null;
  }

  /** The domain (not blocked) whose work has been due longest, if any is due at `now`. */
  readyDomain(now: number): string | null {
    const d = this.#ready.peek();
    return d && d.heap.peek()!.at <= now ? d.domain : null;
  }

  hasDue(domain: string, now: number): boolean {
    const top = this.#domains.get(domain)?.heap.peek();
    return top !== undefined && top.at <= now;
  }

  /** Takes out the recipients due at `now` of the domain's earliest group (or of one message's group). */
  take(domain: string, now: number, messageId?: string): TakenGroup | null {
    const dq = this.#domains.get(domain);
    if (!dq) return null;
    const g = messageId === undefined ? dq.heap.peek() : dq.groups.get(messageId);
    if (!g || g.at > now) return null;
    const due = g.rcpts.filter((r) => r.at <= now);
    for (const r of due) this.#removeRecipient(g, r.id);
    return { messageId: g.messageId, domain: g.domain, rcpts: due };
  }

  /** Puts taken recipients back (their claim did not commit). */
  restore(t: TakenGroup): void {
    for (const r of t.rcpts) if (!this.#byId.has(r.id)) this.#add(t.messageId, t.domain, r);
  }

  /** A domain at its limit: its work waits, out of the ready heap, until unblock(). */
  block(domain: string): void {
    if (this.#blocked.has(domain)) return;
    this.#blocked.add(domain);
    const dq = this.#domains.get(domain);
    if (dq) this.#ready.remove(dq);
  }

  unblock(domain: string): void {
    if (!this.#blocked.delete(domain)) return;
    const dq = this.#domains.get(domain);
    if (dq && dq.heap.size > 0) this.#ready.update(dq);
  }

  isBlocked(domain: string): boolean {
    return this.#blocked.has(domain);
  }

  /** Every pending recipient, ordered by id (tests compare it with the store). */
  snapshot(): PendingChange[] {
    const out: PendingChange[] = [];
    for (const [id, g] of this.#byId) out.push({ id, messageId: g.messageId, domain: g.domain, at: g.rcpts.find((r) => r.id === id)!.at });
    return out.sort((a, b) => a.id - b.id);
  }

  #add(messageId: string, domain: string, ref: DueRecipientRef): void {
    let dq = this.#domains.get(domain);
    if (!dq) {
      dq = { domain, groups: new Map(), heap: new Heap(groupLess), heapIndex: -1 };
      this.#domains.set(domain, dq);
    }
    let g = dq.groups.get(messageId);
    if (!g) {
      g = { messageId, domain, rcpts: [], at: Infinity, firstId: Infinity, heapIndex: -1 };
      dq.groups.set(messageId, g);
    }
    g.rcpts.push(ref);
    this.#byId.set(ref.id, g);
    if (ref.at < g.at || (ref.at === g.at && ref.id < g.firstId)) {
      g.at = ref.at;
      g.firstId = ref.id;
    }
    dq.heap.update(g);
    this.#domainChanged(dq);
  }

  #removeRecipient(g: Group, id: number): void {
    this.#byId.delete(id);
    const i = g.rcpts.findIndex((r) => r.id === id);
    if (i >= 0) g.rcpts.splice(i, 1);
    const dq = this.#domains.get(g.domain)!;
    if (g.rcpts.length === 0) {
      dq.heap.remove(g);
      dq.groups.delete(g.messageId);
    } else if (g.firstId === id) {
      g.at = Infinity;
      g.firstId = Infinity;
      for (const r of g.rcpts) {
        if (r.at < g.at || (r.at === g.at && r.id < g.firstId)) {
          g.at = r.at;
          g.firstId = r.id;
        }
      }
      dq.heap.update(g);
    }
    if (dq.heap.size === 0) {
      this.#ready.remove(dq);
      this.#domains.delete(g.domain);
    } else this.#domainChanged(dq);
  }

  #domainChanged(dq: DomainQueue): void {
    if (!this.#blocked.has(dq.domain)) this.#ready.update(dq);
  }
}
