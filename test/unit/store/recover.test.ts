/**
 * Issue 10 item 8: a data folder whose database is missing, zero-length or damaged while
 * messages/ still holds queued messages never starts as an empty outbox. Opening refuses with
 * an error naming the files (core and CLI); the recovery re-queues every queued file with the
 * envelope stored beside it, so nothing acknowledged as queued is lost.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { LocalDraft as DraftSchema } from '../../../shared/domain';
import { DataDirError, Outbox } from '../../../src-main/core/outbox';
import type { DeliverFn } from '../../../src-main/core/delivery/types';
import { tmpDir } from '../../helpers/tmp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let dir: string;
let cleanup: () => void;
const db = () => path.join(dir, 'outbox.sqlite3');

beforeEach(() => {
  ({ dir, cleanup } = tmpDir('outbox-recover-'));
});
afterEach(() => cleanup());

/** A deliver function that delivers everything (no network). */
const delivers: DeliverFn = async (job) => ({
  recipients: job.recipients.map((r) => ({ recipientId: r.id, status: 'delivered', code: 250, enhancedCode: '2.0.0', reply: 'ok', host: 'mx', errorCode: null })),
  attempts: [],
  dialedIps: [],
  hint: null,
});

/** Queues `n` messages (to two recipients each) and returns their ids; `deliverFirst` sends the first. */
async function seed(n: number, deliverFirst = false): Promise<string[]> {
  const core = new Outbox({ dataDir: dir, deliver: delivers });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await core.submit(DraftSchema.parse({ from: 'Me <me@sender.test>', to: [`a${i}@dest.test`, `b${i}@other.test`], subject: `queued ${i}`, text: 'body', tlsMode: i === 1 ? 'requiretls' : 'default' }));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    ids.push(r.messageId);
  }
  if (deliverFirst) {
    core.queue.onlyMessage(ids[0]!);
    core.queue.start();
    await core.queue.firstAttemptsDone(ids[0]!);
    await core.queue.stop();
  }
  await core.close();
  return ids;
}

function openError(): DataDirError {
  try {
    new Outbox({ dataDir: dir }).store.close();
  } catch (e) {
    if (e instanceof DataDirError) return e;
    throw e;
  }
  throw new Error('the outbox opened');
}

test.each([
  ['zero-length', 'empty', () => fs.writeFileSync(db(), '')],
  ['missing', 'missing', () => fs.rmSync(db())],
  ['damaged', 'damaged', () => fs.writeFileSync(db(), Buffer.alloc(8192, 0x5a))],
] as const)('start-up with a %s database and queued files refuses to start empty and names the files', async (_name, reason, damage) => {
  const ids = await seed(3);
  damage();
  const files = fs.readdirSync(path.join(dir, 'messages')).sort();
  const err = openError();
  expect(err.reason).toBe(reason);
  expect(err.files.sort()).toEqual(ids.map((id) => path.join('messages', `${id}.eml`)).sort());
  for (const id of ids) expect(err.message).toContain(`${id}.eml`);
  expect(err.message).toMatch(/outbox recover/);
  // Nothing was removed or changed.
  expect(fs.readdirSync(path.join(dir, 'messages')).sort()).toEqual(files);
});

test('recovery re-queues every queued file with its envelope; finished messages are not sent again', async () => {
  const ids = await seed(3, true);
  const before = new Outbox({ dataDir: dir });
  const originals = ids.map((id) => before.store.getMessage(id)!);
  before.store.close();
  fs.writeFileSync(db(), Buffer.alloc(8192, 0x5a));

  const report = await Outbox.recover(dir, { now: Date.UTC(2026, 5, 1) });
  // The first message had been delivered to both recipients: its envelope says so.
  expect(report.requeued.sort()).toEqual(ids.slice(1).sort());
  expect(report.problems).toEqual([]);
  expect(report.movedAside).toMatch(/^outbox\.sqlite3\.damaged-/);
  expect(fs.existsSync(path.join(dir, report.movedAside!))).toBe(true);

  const core = new Outbox({ dataDir: dir, deliver: delivers });
  try {
    for (const [i, id] of ids.slice(1).entries()) {
      const m = core.store.getMessage(id)!;
      const o = originals[i + 1]!;
      expect(m).toMatchObject({ mailFrom: o.mailFrom, fromHeader: o.fromHeader, subject: o.subject, size: o.size, tlsMode: o.tlsMode, createdAt: o.createdAt });
      expect(m.recipients.map((r) => [r.address, r.envelope, r.domain, r.kind, r.state])).toEqual(o.recipients.map((r) => [r.address, r.envelope, r.domain, r.kind, 'queued']));
      expect(m.events.map((e) => e.kind)).toContain('recovered');
    }
    expect(core.store.getMessage(ids[1]!)!.tlsMode).toBe('requiretls');
  } finally {
    await core.close();
  }
});

test('a stop between an outcome\'s commit and its envelope rename: start-up settles the envelope, so a later recovery does not send the finished message again', async () => {
  const ids = await seed(3, true);
  const messages = path.join(dir, 'messages');
  // The state a kill leaves between the commit that finished the first message and the rename
  // that follows it (off the delivery's path): the database says delivered, the envelope pending.
  fs.renameSync(path.join(messages, `${ids[0]}.done.json`), path.join(messages, `${ids[0]}.json`));
  const core = new Outbox({ dataDir: dir });
  expect(core.store.getMessage(ids[0]!)!.recipients.every((r) => r.state === 'delivered')).toBe(true);
  await core.close();
  expect(fs.existsSync(path.join(messages, `${ids[0]}.done.json`))).toBe(true);
  expect(fs.existsSync(path.join(messages, `${ids[0]}.json`))).toBe(false);
  // The unfinished messages' envelopes stay pending.
  for (const id of ids.slice(1)) expect(fs.existsSync(path.join(messages, `${id}.json`))).toBe(true);

  fs.writeFileSync(db(), Buffer.alloc(8192, 0x5a));
  const report = await Outbox.recover(dir, { now: Date.UTC(2026, 5, 1) });
  expect(report.requeued.sort()).toEqual(ids.slice(1).sort());
});

test('recovery reports a queued file that no longer matches its envelope and keeps it aside, where the next start leaves it', async () => {
  const ids = await seed(2);
  fs.rmSync(db());
  const changed = path.join(dir, 'messages', `${ids[0]}.eml`);
  fs.appendFileSync(changed, 'tampered');
  const report = await Outbox.recover(dir);
  expect(report.requeued).toEqual([ids[1]]);
  expect(report.problems).toEqual([{ file: path.join('messages', `${ids[0]}.eml`), reason: expect.stringMatching(/does not match/), keptIn: expect.stringMatching(/^unrecovered-/) }]);
  // Moved aside, not deleted: left in messages/ the next start would remove it as an enqueue
  // that never committed.
  expect(fs.existsSync(changed)).toBe(false);
  expect(fs.readFileSync(path.join(dir, report.problems[0]!.keptIn, `${ids[0]}.eml`), 'utf8')).toMatch(/tampered$/);
  new Outbox({ dataDir: dir }).store.close();
  expect(fs.existsSync(path.join(dir, report.problems[0]!.keptIn, `${ids[0]}.eml`))).toBe(true);
  expect(report.movedAside).toBeNull();
});

test('CLI: a zero-length database over queued files exits with an error naming them; outbox recover re-queues them', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin/outbox.mjs'), ...args, '--data-dir', dir], { cwd: root, encoding: 'utf8' });
  const sent = run(['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--subject', 'keep me', '--json']);
  expect(sent.status).toBe(0);
  const { messageId } = JSON.parse(sent.stdout) as { messageId: string };
  fs.writeFileSync(db(), '');
  for (const f of ['-wal', '-shm']) fs.rmSync(`${db()}${f}`, { force: true });

  const q = run(['queue', '--json']);
  expect(q.status).toBe(1);
  expect(q.stdout).toBe('');
  expect(q.stderr).toContain(`messages/${messageId}.eml`);
  expect(q.stderr).toMatch(/outbox recover/);

  const rec = run(['recover', '--json']);
  expect(rec.status).toBe(0);
  expect(JSON.parse(rec.stdout)).toMatchObject({ requeued: [messageId], problems: [] });
  const after = JSON.parse(run(['queue', '--json']).stdout) as { messages: { id: string; subject: string; recipients: { state: string }[] }[] };
  expect(after.messages).toMatchObject([{ id: messageId, subject: 'keep me', recipients: [{ state: 'queued' }] }]);
}, 120_000);
