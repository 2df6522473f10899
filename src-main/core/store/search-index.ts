/**
 * The outbox list's text-search index (FTS5 trigram tables messages_fts / recipients_fts,
 * migration 9) filled in batches (migration 15, issue 14): an insert only records its row in
 * fts_backlog, in its own transaction; `flush` moves the whole backlog into the FTS tables in
 * one transaction, where FTS5 writes one segment for all of it (≈ 0.05 ms a message at 100k
 * messages, against ≈ 0.46 ms and 14 WAL pages a message indexed inside its enqueue).
 *
 * When: before every text search (Store.listMessages; so a search never misses a row, whoever
 * wrote it), when the writes pause (DEBOUNCE_MS after the last one), when the backlog reaches
 * MAX_BACKLOG rows (so a search after a long burst does not pay for all of it), and at
 * start-up (quietly: the index never stops the app from starting). Nothing here decides what
 * is durable: the backlog row commits with the row it names, so a killed process leaves a
 * backlog that the next search or start-up indexes. A damaged index is rebuilt from the tables.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db';

const DEBOUNCE_MS = 250;
const MAX_BACKLOG = 256;

export class SearchIndex {
  #flush: Statement[] | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Backlog rows this connection added since the last flush (one per message and per recipient). */
  #added = 0;

  constructor(private readonly db: Db) {}

  /**
   * Indexes every row in the backlog, in one transaction; returns how many there were. A
   * damaged index (SQLITE_CORRUPT_VTAB: its FTS5 pages garbled) is rebuilt from the tables it
   * indexes instead — it holds nothing else — so a search never fails or misses rows for it.
   */
  flush(): number {
    try {
      return this.#flushBacklog();
    } catch (e) {
      if (!String((e as { code?: unknown }).code).startsWith('SQLITE_CORRUPT')) throw e;
      return this.#rebuild();
    }
  }

  #rebuild(): number {
    const run = () => {
      this.db.prepare("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')").run();
      this.db.prepare("INSERT INTO recipients_fts(recipients_fts) VALUES ('rebuild')").run();
      return this.db.prepare('DELETE FROM fts_backlog').run().changes;
    };
    return this.db.transaction(run).immediate();
  }

  #flushBacklog(): number {
    this.#cancel();
    this.#added = 0;
    const [messages, recipients, clear] = (this.#flush ??= [
      this.db.prepare(
        `INSERT INTO messages_fts(rowid, subject, from_header)
         SELECT m.rowid, m.subject, m.from_header FROM fts_backlog b JOIN messages m ON m.rowid = b.id WHERE b.kind = 'message'`,
      ),
      this.db.prepare(
        `INSERT INTO recipients_fts(rowid, address)
         SELECT r.id, r.address FROM fts_backlog b JOIN recipients r ON r.id = b.id WHERE b.kind = 'recipient'`,
      ),
      this.db.prepare('DELETE FROM fts_backlog'),
    ]) as [Statement, Statement, Statement];
    const run = () => {
      const n = messages.run().changes + recipients.run().changes;
      clear.run();
      return n;
    };
    // BEGIN IMMEDIATE, or a savepoint inside a caller's transaction (better-sqlite3 nests them).
    return this.db.transaction(run).immediate();
  }

  /**
   * A committed write added `rows` rows to the backlog: indexed now when the backlog is long,
   * else once the writes pause. Never throws: the write it follows has committed, and what
   * could not be indexed now is indexed by the next search or start-up.
   */
  added(rows: number): void {
    this.#added += rows;
    if (this.#added >= MAX_BACKLOG) {
      this.flushQuietly();
      return;
    }
    this.#cancel();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flushQuietly();
    }, DEBOUNCE_MS);
    // Pending indexing never keeps the process alive: the next start-up does it.
    this.#timer.unref();
  }

  close(): void {
    this.#cancel();
  }

  /** flush() for places that must not fail for the index (start-up, timers). */
  flushQuietly(): void {
    try {
      if (this.db.open) this.flush();
    } catch {
      // Busy or full disk: the backlog stays, and the next search or start-up indexes it.
    }
  }

  #cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
