/**
 * Issue 14 (enqueue p99): WAL checkpoints run on a worker thread (store/checkpointer.ts), not
 * inside the main connection's commits. Observed through the WAL index itself (the -shm file
 * SQLite maps: mxFrame, the last frame in the WAL, and nBackfill, the frames copied back into
 * the database), so the test does not checkpoint anything by looking.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../../src-main/core/store/checkpointer';
import { DB_FILE } from '../../../src-main/core/store/db';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function open(): Store {
  const t = tmpDir('outbox-checkpointer-');
  const store = Store.open(t.dir);
  cleanups.push(t.cleanup, () => store.db.open && store.close());
  store.db.exec('CREATE TABLE filler (x BLOB)');
  return store;
}

/** The WAL index header (sqlite3 wal.c: WalIndexHdr.mxFrame at 16, WalCkptInfo.nBackfill at 96; native byte order). */
function walIndex(store: Store): { mxFrame: number; nBackfill: number } {
  const shm = fs.readFileSync(path.join(store.dataDir, `${DB_FILE}-shm`)).subarray(0, 136);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const u32 = (at: number) => (le ? shm.readUInt32LE(at) : shm.readUInt32BE(at));
  return { mxFrame: u32(16), nBackfill: u32(96) };
}

/** Commits `n` small transactions, each a page or two of the WAL, as enqueues do. */
function commits(store: Store, n: number): void {
  const ins = store.db.prepare('INSERT INTO filler VALUES (randomblob(3000))');
  for (let i = 0; i < n; i++) store.db.transaction(() => ins.run())();
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('WAL checkpoints off the main thread', () => {
  it('the worker copies the WAL back without the main connection checkpointing; the next commit starts the WAL over', async () => {
    const store = open();
    await until(() => store.checkpointsOffThread);
    // The main connection checkpoints by itself only far past SQLite's 1000 pages.
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
    commits(store, 200);
    const written = walIndex(store);
    expect(written.mxFrame).toBeGreaterThan(200);
    await until(() => walIndex(store).nBackfill === walIndex(store).mxFrame);
    expect(walIndex(store).mxFrame).toBe(written.mxFrame);
    commits(store, 1);
    expect(walIndex(store).mxFrame).toBeLessThan(10);
  });

  it('close() closes the worker’s connection first: the store’s own close removes the WAL as before', async () => {
    const store = open();
    await until(() => store.checkpointsOffThread);
    commits(store, 50);
    store.close();
    expect(fs.readdirSync(store.dataDir).filter((n) => n.startsWith(DB_FILE)).sort()).toEqual([DB_FILE]);
    const again = Store.open(store.dataDir);
    expect(again.db.prepare('SELECT count(*) FROM filler').pluck().get()).toBe(50);
    again.close();
  });

  it('a worker that cannot work gives the main connection SQLite’s default checkpoint back', async () => {
    const store = open();
    const broken = Checkpointer.start(store.db, path.join(store.dataDir, 'no-such-dir', DB_FILE));
    cleanups.push(() => broken.close());
    await until(() => !broken.running);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('a read-only store starts no worker', () => {
    const store = open();
    store.close();
    const ro = Store.open(store.dataDir, { readonly: true });
    cleanups.push(() => ro.close());
    expect(ro.checkpointsOffThread).toBe(false);
  });
});
