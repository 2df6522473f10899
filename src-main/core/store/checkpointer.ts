/**
 * WAL checkpoints off the main thread (issue 14: enqueue p99). In WAL mode every commit appends
 * the pages it changed to outbox.sqlite3-wal; a checkpoint copies them back into the database
 * file and fsyncs it, so the WAL can start over. SQLite's default runs that checkpoint inside
 * the commit that crosses 1000 pages — on the connection's thread, which here is the main
 * thread: about one enqueue in 30 paid ≈ 6 ms more for it (≈ 30 pages per enqueue), which is
 * the queue's p99.
 *
 * So the main connection's automatic checkpoint is raised to a backstop (BACKSTOP_PAGES) and a
 * worker thread with its own connection checkpoints instead: every INTERVAL_MS, when another
 * connection committed since its last look (PRAGMA data_version), it runs PASSIVE checkpoints
 * (they never take the write lock, so the main thread's commits never wait for them) until the
 * WAL is copied through or a pass is blocked, so the next commit can restart the WAL.
 *
 * Durability is not touched: a checkpoint only moves pages that are already durable in the WAL
 * (each commit is durable on its own, synchronous=FULL for the acknowledgments); a crash in the
 * middle of one is SQLite's own recovery case (the WAL is replayed at the next open). If the
 * worker cannot start or fails, the main connection gets SQLite's default back (1000 pages),
 * the behaviour before this module. close() is synchronous (Atomics.wait for the worker's
 * connection to close) so that the main connection's close stays the last one: it checkpoints
 * and removes the WAL as before.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from './db';

/** SQLite's default automatic checkpoint, restored when the worker is not there. */
const DEFAULT_PAGES = 1000;
/** The main connection checkpoints by itself only past this (the worker fell far behind). */
const BACKSTOP_PAGES = 10_000;
const INTERVAL_MS = 100;
/** PASSIVE passes per look: a commit during a pass leaves new frames; a few more catch up. */
const MAX_PASSES = 4;
/** How long close() waits for the worker's connection to close. */
const CLOSE_WAIT_MS = 2000;

// The worker's program (CommonJS, evaluated): better-sqlite3 is passed as a resolved path
// because an evaluated worker resolves nothing relative to this file.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const done = new Int32Array(workerData.done);
let db;
let timer;
function closeDb() {
  clearInterval(timer);
  try { db?.close(); } catch {}
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
}
try {
  const Database = require(workerData.module);
  db = new Database(workerData.file, { fileMustExist: true, nativeBinding: workerData.nativeBinding });
  db.pragma('busy_timeout = 0');
  db.pragma('synchronous = NORMAL');
  const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  const version = db.prepare('PRAGMA data_version').pluck();
  // The first look always checkpoints: commits made before this connection opened count too.
  let seen = -1;
  timer = setInterval(() => {
    try {
      const now = version.get();
      if (now === seen) return;
      seen = now;
      for (let i = 0; i < workerData.maxPasses; i++) {
        const r = checkpoint.get();
        if (r.busy !== 0 || r.log === r.checkpointed) break;
      }
    } catch (e) {
      parentPort.postMessage({ failed: String(e && e.message || e) });
      closeDb();
    }
  }, workerData.intervalMs);
  parentPort.postMessage({ ready: true });
} catch (e) {
  parentPort.postMessage({ failed: String(e && e.message || e) });
  closeDb();
}
parentPort.on('message', (m) => { if (m === 'close') { closeDb(); parentPort.close(); } });
`;

export class Checkpointer {
  #worker: Worker | null;
  readonly #done = new Int32Array(new SharedArrayBuffer(4));

  private constructor(
    private readonly db: Db,
    file: string,
    nativeBinding: string | undefined,
  ) {
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    let worker: Worker;
    try {
      const module = createRequire(import.meta.url).resolve('better-sqlite3');
      worker = new Worker(WORKER, {
        eval: true,
        workerData: { module, file, nativeBinding, done: this.#done.buffer, intervalMs: INTERVAL_MS, maxPasses: MAX_PASSES },
      });
    } catch {
      this.#worker = null;
      this.#fallBack();
      return;
    }
    this.#worker = worker;
    // It never keeps the process alive: the main connection's close ends it.
    worker.unref();
    worker.on('message', (m: { failed?: string }) => {
      if (m.failed !== undefined) this.#fallBack();
    });
    worker.on('error', () => this.#fallBack());
    worker.on('exit', () => {
      if (this.#worker) this.#fallBack();
    });
  }

  /** Starts checkpointing `db` (the database file `file`) from a worker thread. */
  static start(db: Db, file: string, nativeBinding?: string): Checkpointer {
    return new Checkpointer(db, file, nativeBinding);
  }

  /** Whether the worker is checkpointing (false once it failed and SQLite's default is back). */
  get running(): boolean {
    return this.#worker !== null;
  }

  /** Stops the worker and waits (briefly) until its connection is closed. */
  close(): void {
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = null;
    worker.postMessage('close');
    Atomics.wait(this.#done, 0, 0, CLOSE_WAIT_MS);
    void worker.terminate();
  }

  #fallBack(): void {
    const worker = this.#worker;
    this.#worker = null;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
    void worker?.terminate();
  }
}
