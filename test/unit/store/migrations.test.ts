import Database from 'better-sqlite3';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { DB_FILE, durableTransaction, openDb } from '../../../src-main/core/store/db';
import { latestVersion, migrate, migrations } from '../../../src-main/core/store/migrations';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from './fixtures';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function dir() {
  const t = tmpDir('outbox-store-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function schema(db: Database.Database): string {
  return JSON.stringify(db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all());
}

test('versions are consecutive from 1', () => {
  expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
});

test('a fresh database gets the latest schema, WAL and foreign keys; queuing commits are fsync\'d', () => {
  const db = openDb(dir());
  expect(db.pragma('user_version', { simple: true })).toBe(latestVersion);
  expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
  expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL for bookkeeping
  let inside = -1;
  durableTransaction(db, () => {
    inside = db.pragma('synchronous', { simple: true }) as number;
  });
  expect(inside).toBe(2); // FULL while acknowledging a queued message
  expect(db.pragma('synchronous', { simple: true })).toBe(1);
  db.close();
});

test('migrations are idempotent: running them again changes nothing', () => {
  const d = dir();
  const db = openDb(d);
  const before = schema(db);
  expect(migrate(db)).toEqual({ from: latestVersion, to: latestVersion });
  expect(schema(db)).toBe(before);
  db.close();
  const again = openDb(d);
  expect(schema(again)).toBe(before);
  again.close();
});

test('a store created at an older schema version is migrated with its data kept', () => {
  const d = dir();
  // Build a v1 database and fill it through v1's tables only.
  const v1 = openDb(d, { migrateTo: 1 });
  expect(v1.pragma('user_version', { simple: true })).toBe(1);
  v1.prepare(
    `INSERT INTO messages (id, created_at, mail_from, from_header, subject, size, raw_path) VALUES ('m1', 1000, 'a@x.example', 'A <a@x.example>', 'hello', 10, 'messages/m1.eml')`,
  ).run();
  v1.prepare(
    `INSERT INTO recipients (message_id, address, envelope, domain, state, attempts, updated_at) VALUES ('m1', 'b@y.example', 'b@y.example', 'y.example', 'deferred', 2, 1000)`,
  ).run();
  v1.prepare(`INSERT INTO settings (key, value) VALUES ('ehloName', '"desk.example"')`).run();
  v1.close();

  const store = Store.open(d);
  expect(store.db.pragma('user_version', { simple: true })).toBe(latestVersion);
  const m = store.getMessage('m1');
  expect(m?.subject).toBe('hello');
  expect(m?.recipients).toHaveLength(1);
  expect(m?.recipients[0]).toMatchObject({ address: 'b@y.example', state: 'deferred', attempts: 2 });
  expect(store.getSettings().ehloName).toBe('desk.example');
  // v2's additions work on the migrated data.
  store.addEvent('m1', null, 2000, 'hold', 'by user');
  expect(store.getMessage('m1')?.events.map((e) => e.kind)).toEqual(['hold']);
  store.close();
});

test('v4 moves an identity\'s single DKIM key into dkim_keys and drops the old columns', () => {
  const d = dir();
  const v3 = openDb(d, { migrateTo: 3 });
  v3.prepare(
    `INSERT INTO identities (address, display_name, dkim_selector, dkim_algorithm, dkim_private_key, dkim_public_key, is_default, created_at)
     VALUES ('a@x.example', 'A', 'sel', 'ed25519-sha256', 'PRIV', 'PUB', 1, 1000), ('b@x.example', 'B', NULL, NULL, NULL, NULL, 0, 1000)`,
  ).run();
  v3.close();
  const store = Store.open(d);
  expect(store.listIdentities().map((i) => [i.address, i.keys])).toEqual([
    ['a@x.example', [{ algorithm: 'ed25519-sha256', selector: 'sel', privateKey: 'PRIV', publicKey: 'PUB' }]],
    ['b@x.example', []],
  ]);
  const cols = (store.db.prepare('PRAGMA table_info(identities)').all() as { name: string }[]).map((c) => c.name);
  expect(cols.filter((c) => c.startsWith('dkim'))).toEqual([]);
  store.close();
});

test('a database from a newer app version is refused, not damaged', () => {
  const d = dir();
  const db = new Database(path.join(d, DB_FILE));
  db.pragma(`user_version = ${latestVersion + 1}`);
  db.close();
  expect(() => openDb(d)).toThrow(/newer than this app/);
});

test('foreign keys cascade: deleting a message deletes its recipients', () => {
  const store = Store.open(dir());
  store.insertMessage(newMessage('m1', 1000));
  store.db.prepare("DELETE FROM messages WHERE id = 'm1'").run();
  expect(store.db.prepare('SELECT count(*) AS n FROM recipients').get()).toEqual({ n: 0 });
  store.close();
});
