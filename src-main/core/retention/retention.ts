/**
 * History retention: delivered, failed and canceled messages keep their history (attempts,
 * transcripts, events, notices, the .eml) for N days (setting historyDays, default 90); then
 * one pass removes them, files and rows. A message with any recipient still waiting (queued,
 * sending, deferred, held) is never touched, however old: nothing acknowledged as queued is
 * lost to retention.
 *
 * Not blocking the queue: the pass deletes in small batches, each one short transaction (the
 * foreign keys cascade to recipients, attempts, attempt_results, message_events and notices
 * through indexes — migration 5), and yields to the event loop between batches, so deliveries
 * record their outcomes in between. Files go after their rows are committed; a crash between
 * the two leaves an orphan file, which the next pass removes (ids are time-ordered, so only
 * names older than the cutoff are looked at).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../clock';
import { envelopePath } from '../store/message-files';
import type { Store } from '../store/store';

const DAY = 24 * 3600_000;
const PENDING = "('queued', 'sending', 'deferred', 'held')";

export interface PruneResult {
  messages: number;
  files: number;
  /** Oldest creation time kept (the cutoff). */
  cutoff: number;
  ms: number;
}

export interface PruneOptions {
  /** Remove messages created before this (ms epoch). */
  cutoff: number;
  /** Messages per transaction. */
  batch?: number;
  /** After each batch: how many messages, and how long its transaction held the database. */
  onBatch?: (messages: number, ms: number) => void;
}

/** The time-ordered id prefix of `ms` (see submit.ts newMessageId). */
function idPrefix(ms: number): string {
  return ms.toString(36).padStart(9, '0');
}

export async function pruneHistory(store: Store, opts: PruneOptions, now: () => number = Date.now): Promise<PruneResult> {
  const started = now();
  const batch = opts.batch ?? 200;
  const pick = store.db.prepare(
    `SELECT id, raw_path FROM messages m WHERE created_at < ?
       AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.state IN ${PENDING})
     ORDER BY created_at LIMIT ?`,
  );
  const del = store.db.prepare('DELETE FROM messages WHERE id = ?');
  let messages = 0;
  let files = 0;
  for (;;) {
    const rows = pick.all(opts.cutoff, batch) as { id: string; raw_path: string }[];
    if (rows.length === 0) break;
    const t0 = performance.now();
    store.db.transaction(() => {
      for (const r of rows) del.run(r.id);
    }).immediate();
    opts.onBatch?.(rows.length, performance.now() - t0);
    messages += rows.length;
    // Unlinking is the slow part on most disks: done asynchronously, so deliveries and IPC run
    // meanwhile (a synchronous unlink of 200 files blocks the event loop for a noticeable time).
    const removed = await Promise.all(
      rows.map((r) =>
        fs.promises.unlink(store.absolutePath(r.raw_path)).then(
          () => 1,
          (e: NodeJS.ErrnoException) => {
            if (e.code === 'ENOENT') return 0;
            throw e;
          },
        ),
      ),
    );
    files += removed.reduce((a: number, n) => a + n, 0);
    // Their envelope files (store/message-files.ts) go with them.
    for (const r of rows) for (const settled of [true, false]) fs.rmSync(envelopePath(store.messagesDir, r.id, settled), { force: true });
    // Let deliveries and IPC run between batches.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  files += removeOrphans(store, opts.cutoff);
  return { messages, files, cutoff: opts.cutoff, ms: now() - started };
}

/** .eml files older than the cutoff with no message row (a crash between commit and unlink). */
function removeOrphans(store: Store, cutoff: number): number {
  const limit = idPrefix(cutoff);
  const has = store.db.prepare('SELECT 1 FROM messages WHERE id = ?');
  let n = 0;
  let names: string[];
  try {
    names = fs.readdirSync(store.messagesDir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^([0-9a-z]{9}-[0-9a-f]+)\.(?:eml|json|done\.json)$/.exec(name);
    if (!m || m[1]! >= limit || has.get(m[1]!)) continue;
    fs.rmSync(path.join(store.messagesDir, name), { force: true });
    n++;
  }
  return n;
}

/** Runs the pass in the background: soon after start, then every few hours. */
export class HistoryRetention {
  #timer: TimerHandle | undefined;
  #running: Promise<PruneResult> | null = null;
  #stopped = true;

  constructor(
    private readonly deps: { store: Store; clock: Clock; everyMs?: number; firstAfterMs?: number; onError?: (e: unknown) => void },
  ) {}

  /** The cutoff for a number of days kept (the setting when not given). */
  cutoff(days = this.deps.store.getSettings().historyDays): number {
    return this.deps.clock.now() - days * DAY;
  }

  /** One pass now (`outbox history prune`); a pass already running is joined, not doubled. */
  run(days?: number): Promise<PruneResult> {
    if (this.#running && days === undefined) return this.#running;
    const p = pruneHistory(this.deps.store, { cutoff: this.cutoff(days) }, () => this.deps.clock.now()).finally(() => {
      if (this.#running === p) this.#running = null;
    });
    this.#running = p;
    return p;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#arm(this.deps.firstAfterMs ?? 60_000);
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.deps.clock.setTimer(ms, () => {
      this.run()
        .catch((e: unknown) => (this.deps.onError ?? ((err) => console.error('retention:', err)))(e))
        .finally(() => this.#arm(this.deps.everyMs ?? 6 * 3600_000));
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
