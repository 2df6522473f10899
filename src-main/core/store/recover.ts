/**
 * Recovery of a data folder whose database is missing, empty or damaged while messages/ still
 * holds queued messages (see message-files.ts). A damaged database is set aside (renamed with
 * its -wal/-shm, never deleted), a new one is created, and every pending envelope whose .eml
 * still matches its size and SHA-256 is queued again, due at once. Files that cannot be
 * trusted are reported and left where they are.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DB_FILE } from './db';
import { DataDirError, pendingEnvelopeIds, readQueuedFile, removeTemporaryFiles, type RecoveryProblem } from './message-files';
import { Store, type StoreOpenOptions } from './store';

export interface RecoveryReport {
  /** Ids of the messages queued again. */
  requeued: string[];
  /** Queued files that could not be recovered, and why. */
  problems: RecoveryProblem[];
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
  const problems: RecoveryProblem[] = [];
  try {
    removeTemporaryFiles(store.messagesDir);
    for (const id of pendingEnvelopeIds(store.messagesDir).sort()) {
      if (store.messageRow(id)) continue;
      const read = await readQueuedFile(store.messagesDir, id);
      if (!read.ok) {
        problems.push(read.problem);
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
