/**
 * Opens the SQLite database of a data folder: WAL, foreign keys enforced, a busy timeout so the
 * CLI and the app can share a folder.
 *
 * Durability where it is promised: the connection runs with synchronous=NORMAL (in WAL mode a
 * commit survives a crash of the process, and the database never corrupts, but the last
 * commits can roll back on power loss), and the one write that acknowledges something to the
 * user — queuing a message — runs with synchronous=FULL (see durableTransaction). Losing a
 * queue bookkeeping commit on power loss at worst repeats a delivery: at-least-once holds.
 *
 * better-sqlite3 is a native addon: under Node (tests, CLI) the build in node_modules is used;
 * inside Electron the caller passes `nativeBinding`, the path of a build for Electron's ABI kept
 * apart (see scripts/electron-native.mjs), so switching between `npm test` and `npm start` never
 * needs a rebuild.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations';

export type Db = Database.Database;

export interface OpenDbOptions {
  nativeBinding?: string | undefined;
  /** Stop at this schema version (tests of migrations only). */
  migrateTo?: number | undefined;
  readonly?: boolean;
}

export const DB_FILE = 'outbox.sqlite3';

export function openDb(dataDir: string, opts: OpenDbOptions = {}): Db {
  const file = path.join(dataDir, DB_FILE);
  if (!opts.readonly) privateFiles(dataDir, file);
  const db = new Database(file, {
    nativeBinding: opts.nativeBinding,
    readonly: opts.readonly ?? false,
  });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) migrate(db, opts.migrateTo);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/**
 * The disk (or the user's quota) is full: SQLite's SQLITE_FULL or the OS's ENOSPC/EDQUOT,
 * possibly wrapped as the cause of another error. A full disk is an expected condition, not a
 * crash: the queue pauses and a send is refused with a clear error.
 */
export function isDiskFull(e: unknown): boolean {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}

/** SQLite says the file is not a database or is corrupt (not: busy, read-only, disk full). */
export function isDamagedDatabase(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'));
}

/**
 * The database holds mail, recipients and DKIM private keys: the folder is the owner's only
 * (0700) and the database is created 0600 before SQLite opens it — SQLite gives its -wal and
 * -shm files the database file's mode. Folders and files of older versions are tightened too.
 * (POSIX modes; on Windows the user profile's ACL already keeps other users out.)
 */
export function privateFiles(dataDir: string, file: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dataDir, 0o700);
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      fs.chmodSync(f, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/**
 * Runs `fn` in an IMMEDIATE transaction whose commit is fsync'd before returning (WAL with
 * synchronous=FULL also flushes every earlier commit). better-sqlite3 is synchronous, so no
 * other statement of this connection can run while the pragma is raised.
 */
export function durableTransaction<T>(db: Db, fn: () => T): T {
  // Inside a caller's transaction (bulk imports) the outer commit decides; the pragma cannot
  // change there anyway.
  if (db.inTransaction) return db.transaction(fn)();
  db.pragma('synchronous = FULL');
  try {
    return db.transaction(fn).immediate();
  } finally {
    db.pragma('synchronous = NORMAL');
  }
}
