/**
 * Opens the SQLite database of a data folder. Durability first: WAL with synchronous=FULL so a
 * committed transaction survives power loss (with NORMAL, WAL commits can roll back on power
 * failure), foreign keys enforced, a busy timeout so the CLI and the app can share a folder.
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
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, DB_FILE), {
    nativeBinding: opts.nativeBinding,
    readonly: opts.readonly ?? false,
  });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  if (!opts.readonly) migrate(db, opts.migrateTo);
  return db;
}
