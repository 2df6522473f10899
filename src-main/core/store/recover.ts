/**
 * Recovery of a data folder whose database is missing, empty or damaged while messages/ still
 * holds queued messages (see message-files.ts). A damaged database is set aside (renamed with
 * its -wal/-shm, never deleted), a new one is created, and every pending envelope whose .eml
 * still matches its size and SHA-256 is queued again, due at once. Files that cannot be
 * trusted are reported and moved, never deleted, to `unrecovered-<time>/` beside messages/:
 * left in messages/ they would look like an enqueue that never committed at the next start,
 * and that clean-up removes such files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DB_FILE } from './db';
import { DataDirError, pendingEnvelopeIds, readQueuedFile, removeTemporaryFiles, type RecoveryProblem } from './message-files';
import { Store, type StoreOpenOptions } from './store';

export interface RecoveryReport {
  /** Ids of the messages queued again. */
  requeued: string[];
  /** Queued files that could not be recovered, why, and the folder (relative) they were moved to. */
  problems: (RecoveryProblem & { keptIn: string })[];
  /** Where the damaged database was moved (relative to the data dir), when it was. */
  movedAside: string | null;
}

export async function recoverQueuedFiles(dataDir: string, opts: StoreOpenOptions & { now?: number } = {}): Promise<RecoveryReport> {
  const now = opts.now ?? Date.now();
  let movedAside: string | null = null;
  let store: Store;
  try {
    store = Store.open(dataDir, { ...opts, checkQueuedFiles: false });
  } catch (e) {
    if (!(e instanceof DataDirError && e.reason === 'damaged')) throw e;
    movedAside = `${DB_FILE}.damaged-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) {
      const from = path.join(dataDir, `${DB_FILE}${suffix}`);
      if (fs.existsSync(from)) fs.renameSync(from, path.join(dataDir, `${movedAside}${suffix}`));
    }
    store = Store.open(dataDir, { ...opts, checkQueuedFiles: false });
  }
  const requeued: string[] = [];
  const problems: (RecoveryProblem & { keptIn: string })[] = [];
  const asideDir = `unrecovered-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
  try {
    removeTemporaryFiles(store.messagesDir);
    for (const id of pendingEnvelopeIds(store.messagesDir).sort()) {
      if (store.messageRow(id)) continue;
      const read = await readQueuedFile(store.messagesDir, id);
      if (!read.ok) {
        keepAside(store.messagesDir, path.join(dataDir, asideDir), id);
        problems.push({ ...read.problem, keptIn: asideDir });
        continue;
      }
      const env = read.envelope;
      store.insertMessage({ ...env, rawPath: path.join('messages', `${id}.eml`), identityId: null, nextAttemptAt: now });
      store.addEvent(id, null, now, 'recovered', 're-queued from its files after the database was lost');
      requeued.push(id);
    }
  } finally {
    store.close();
  }
  return { requeued, problems, movedAside };
}

/** Moves a message's .eml and envelope out of messages/ into `dir` (created owner-only). */
function keepAside(messagesDir: string, dir: string, id: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of [`${id}.eml`, `${id}.json`]) {
    const from = path.join(messagesDir, name);
    if (fs.existsSync(from)) fs.renameSync(from, path.join(dir, name));
  }
}
