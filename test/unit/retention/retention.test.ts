/**
 * History retention on a real SQLite file with real .eml files: old finished messages go with
 * every row that hangs off them and their file; waiting ones stay however old; the queue keeps
 * delivering while the pass runs (it yields between batches).
 */
import fs from 'node:fs';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import type { DeliveryJob, DeliveryOutcome } from '../../../src-main/core/delivery/types';
import { Outbox } from '../../../src-main/core/outbox';
import { pruneHistory } from '../../../src-main/core/retention/retention';
import { newMessageId } from '../../../src-main/core/submit';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../store/fixtures';

const DAY = 24 * 3600_000;
let dir: string;
let cleanup: () => void;
let clock: ManualClock;
let core: Outbox;
const delivered: number[] = [];

async function deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
  await new Promise((r) => setImmediate(r));
  delivered.push(Date.now());
  return {
    recipients: job.recipients.map((r) => ({ recipientId: r.id, status: 'delivered' as const, code: 250, enhancedCode: '2.0.0', reply: 'ok', host: 'mx', errorCode: null })),
    attempts: [], dialedIps: [], hint: null,
  };
}

beforeEach(() => {
  ({ dir, cleanup } = tmpDir('outbox-retention-'));
  clock = new ManualClock(Date.UTC(2026, 11, 1));
  delivered.length = 0;
  core = new Outbox({ dataDir: dir, clock, deliver, network: { ehloName: 'h.example' } });
});
afterEach(async () => {
  await core.close();
  cleanup();
});

/** n messages created `ageDays` ago, each with a file, an attempt, its result, an event and a notice; state per recipient. */
function seed(n: number, ageDays: number, state: 'delivered' | 'failed' | 'deferred' | 'held'): string[] {
  const at = clock.now() - ageDays * DAY;
  const ids: string[] = [];
  const db = core.store.db;
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = newMessageId(at + i);
      const m = newMessage(id, at + i, [`r${i}@dest.example`]);
      fs.writeFileSync(core.store.absolutePath(m.rawPath), 'Subject: old\r\n\r\nbody\r\n');
      core.store.insertMessage(m);
      db.prepare('UPDATE recipients SET state = ?, next_attempt_at = ? WHERE message_id = ?').run(state, state === 'deferred' ? clock.now() + DAY : null, id);
      const rcpt = (db.prepare('SELECT id FROM recipients WHERE message_id = ?').get(id) as { id: number }).id;
      const att = db.prepare("INSERT INTO attempts (message_id, started_at, domain, transcript) VALUES (?, ?, 'dest.example', '[]')").run(id, at + i).lastInsertRowid;
      db.prepare("INSERT INTO attempt_results (attempt_id, recipient_id, status) VALUES (?, ?, 'delivered')").run(att, rcpt);
      db.prepare("INSERT INTO notices (message_id, recipient_id, kind, at, text) VALUES (?, ?, 'failure', ?, 'x')").run(id, rcpt, at + i);
      ids.push(id);
    }
  })();
  return ids;
}

const count = (table: string) => (core.store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

test('removes finished messages older than N days with their files and rows; keeps waiting ones and recent ones', async () => {
  const old = seed(30, 100, 'delivered');
  const oldFailed = seed(5, 95, 'failed');
  const oldWaiting = seed(3, 100, 'deferred');
  const oldHeld = seed(2, 100, 'held');
  const recent = seed(4, 10, 'delivered');
  expect(core.store.getSettings().historyDays).toBe(90);
  const r = await core.retention.run();
  expect(r).toMatchObject({ messages: 35, files: 35 });
  const left = new Set((core.store.db.prepare('SELECT id FROM messages').all() as { id: string }[]).map((x) => x.id));
  expect([...left].sort()).toEqual([...oldWaiting, ...oldHeld, ...recent].sort());
  for (const id of [...old, ...oldFailed]) expect(fs.existsSync(core.store.absolutePath(`messages/${id}.eml`))).toBe(false);
  for (const id of left) expect(fs.existsSync(core.store.absolutePath(`messages/${id}.eml`))).toBe(true);
  // Nothing hangs off a removed message.
  for (const t of ['recipients', 'attempts', 'attempt_results', 'notices']) expect(count(t)).toBe(9);
  expect((core.store.db.prepare('SELECT count(*) AS n FROM message_events WHERE message_id NOT IN (SELECT id FROM messages)').get() as { n: number }).n).toBe(0);
  expect(core.store.db.pragma('foreign_key_check')).toEqual([]);
  // A shorter period, as `history prune --older-than 5` asks.
  expect((await core.retention.run(5)).messages).toBe(4);
});

test('an orphan file left by a crash between commit and unlink is removed by the next pass', async () => {
  const [id] = seed(1, 100, 'delivered');
  core.store.db.prepare('DELETE FROM messages WHERE id = ?').run(id);
  const recentOrphan = newMessageId(clock.now());
  fs.writeFileSync(core.store.absolutePath(`messages/${recentOrphan}.eml`), 'x'); // being queued right now: not ours to touch
  expect((await core.retention.run()).files).toBe(1);
  expect(fs.existsSync(core.store.absolutePath(`messages/${id}.eml`))).toBe(false);
  expect(fs.existsSync(core.store.absolutePath(`messages/${recentOrphan}.eml`))).toBe(true);
});

test('the queue keeps delivering while a pass runs', async () => {
  seed(2000, 100, 'delivered');
  core.queue.start();
  for (let i = 0; i < 20; i++) {
    const r = await core.submit({ from: 'me@sender.example', to: [`new${i}@dest.example`], cc: [], bcc: [], subject: 'new', text: 't', attachments: [], tlsMode: 'default' });
    expect(r.ok).toBe(true);
  }
  const pass = pruneHistory(core.store, { cutoff: clock.now() - 90 * DAY, batch: 50 });
  let passDone = false;
  void pass.then(() => (passDone = true));
  let deliveredDuringPass = 0;
  while (!passDone) {
    await new Promise((r) => setImmediate(r));
    if (!passDone) deliveredDuringPass = delivered.length;
  }
  expect((await pass).messages).toBe(2000);
  expect(deliveredDuringPass).toBeGreaterThan(0);
  await core.queue.drain();
  expect(core.store.listMessages({ status: 'delivered', limit: 500 }).total).toBe(20);
});
