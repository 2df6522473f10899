/**
 * Undo send (issue 13 item 2) on the real core through the IPC handler table: a real SQLite
 * file, the real queue and its timers on a manual clock; only the delivery answers are scripted,
 * so every delivery is counted. The window is the setting undoSendSeconds (0 = off).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import type { DeliveryJob, DeliveryOutcome } from '../../../src-main/core/delivery/types';
import { Outbox } from '../../../src-main/core/outbox';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { ALREADY_BEING_SENT, UNDO_WINDOW_PASSED } from '../../../src-main/core/undo-send';
import { tmpDir } from '../../helpers/tmp';

let root: string;
let dataDir: string;
let cleanup: () => void;
let clock: ManualClock;
let jobs: DeliveryJob[];
let core: Outbox;
let table: HandlerTable;
let attachment: string;

/** While set, deliveries wait for it (an attempt on the wire). */
let gate: Promise<void> | null = null;

async function deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
  jobs.push(job);
  if (gate) await gate;
  return {
    recipients: job.recipients.map((r) => ({ recipientId: r.id, status: 'delivered' as const, code: 250, enhancedCode: '2.0.0', reply: '250 2.0.0 ok', host: `mx.${job.domain}`, errorCode: null })),
    attempts: [],
    dialedIps: [],
    hint: null,
  };
}

function open(): void {
  core = new Outbox({ dataDir, clock, deliver, network: { ehloName: 'h.example' }, random: () => 0.5 });
  table = createHandlers(core, { chooseFiles: async () => [attachment], chooseSavePath: async () => null, openPath: async () => {} });
  core.queue.start();
}

const call = async (channel: string, payload: unknown) => (await dispatch(table, channel, payload)) as { ok: boolean; value?: any; error?: any };

beforeEach(() => {
  ({ dir: root, cleanup } = tmpDir('outbox-undo-'));
  dataDir = path.join(root, 'data');
  fs.mkdirSync(dataDir);
  attachment = path.join(root, 'report.pdf');
  fs.writeFileSync(attachment, Buffer.alloc(3000, 7));
  clock = new ManualClock(Date.UTC(2026, 11, 2));
  jobs = [];
  gate = null;
  open();
});
afterEach(async () => {
  await core.close();
  cleanup();
});

/** Lets the queue's deferred pumps and deliveries run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  await core.queue.drain();
}

/** A compose state with everything Undo must bring back. */
async function composeState() {
  const identity = await call('identities.create', { address: 'me@sender.example', displayName: 'Me', algorithms: [] });
  const [picked] = (await call('compose.pickAttachments', {})).value;
  return {
    identityId: identity.value.id as number,
    to: ['Bob <bob@dest.example>', 'carol@dest.example'],
    cc: ['dave@other.example'],
    bcc: ['erin@other.example'],
    subject: 'Quarterly report',
    text: 'Hello Bob,\n\nthe report.\n',
    html: '<p>Hello <strong>Bob</strong>,</p><p>the report.</p>',
    attachments: [{ token: picked.token, filename: 'report.pdf', size: 3000 }],
    tlsMode: 'requiretls' as const,
  };
}

test('with the window on, Send queues the message not before now+N and keeps the draft; Undo before the first attempt returns the exact compose state and delivers nothing', async () => {
  expect((await call('settings.get', {})).value.undoSendSeconds).toBe(10);
  const state = await composeState();
  const sent = await call('outbox.send', state);
  expect(sent.ok).toBe(true);
  const { messageId, undoUntil } = sent.value;
  expect(undoUntil).toBe(clock.now() + 10_000);
  const detail = (await call('outbox.get', { id: messageId })).value;
  expect(detail.undoUntil).toBe(undoUntil);
  expect(detail.recipients.map((r: any) => [r.state, r.nextAttemptAt])).toEqual(Array(4).fill(['queued', undoUntil]));
  expect((await call('outbox.list', {})).value.items[0].undoUntil).toBe(undoUntil);
  // The kept copy is not one of the user's drafts.
  expect((await call('drafts.list', {})).value).toEqual([]);

  clock.advance(7_000);
  await settle();
  expect(jobs).toHaveLength(0);
  const undone = await call('outbox.undoSend', { messageId });
  expect(undone.ok).toBe(true);
  expect((await call('outbox.get', { id: messageId })).error.code).toBe('NOT_FOUND');
  expect(fs.readdirSync(core.store.messagesDir).filter((f) => f.startsWith(messageId))).toEqual([]);
  expect(core.queue.dueSnapshot()).toEqual([]);

  // The draft is the compose state as it was sent, attachments granted again (new tokens).
  const { draftId } = undone.value;
  expect((await call('drafts.list', {})).value.map((d: any) => d.id)).toEqual([draftId]);
  const loaded = (await call('drafts.load', { id: draftId })).value;
  const { attachments, ...rest } = state;
  expect(loaded).toMatchObject({ ...rest, id: draftId, unavailableAttachments: [] });
  expect(loaded.attachments).toEqual([{ token: expect.any(String), filename: 'report.pdf', size: 3000 }]);
  expect(loaded.attachments[0].token).not.toBe(attachments[0]!.token);

  // Nothing is sent later either.
  clock.advance(60_000);
  await settle();
  expect(jobs).toHaveLength(0);
  // A second Undo: the message is gone.
  expect((await call('outbox.undoSend', { messageId })).error.code).toBe('NOT_FOUND');
});

test('Undo once an attempt has started is refused ("already being sent") and changes nothing', async () => {
  const { messageId } = (await call('outbox.send', await composeState())).value;
  let release!: () => void;
  gate = new Promise<void>((r) => (release = r));
  // "Retry now" during the window starts the first attempt early; it stays on the wire.
  expect(core.queue.act('retry', messageId)).toHaveLength(4);
  await new Promise((r) => setImmediate(r));
  expect(jobs.length).toBeGreaterThan(0);
  const before = (await call('outbox.get', { id: messageId })).value;
  expect(before.recipients.some((r: any) => r.state === 'sending')).toBe(true);
  const r = await call('outbox.undoSend', { messageId });
  expect(r.error).toMatchObject({ code: 'CONFLICT', message: ALREADY_BEING_SENT });
  expect((await call('outbox.get', { id: messageId })).value).toEqual(before);
  expect(core.store.undoDraftOf(messageId)).toBeDefined();
  release();
  await settle();
  expect((await call('outbox.get', { id: messageId })).value.recipients.every((x: any) => x.state === 'delivered')).toBe(true);
});

test('the window passes with no Undo: delivered at its end, the draft copy deleted, Undo then refused', async () => {
  const { messageId, undoUntil } = (await call('outbox.send', await composeState())).value;
  clock.advance(9_999);
  await settle();
  expect(jobs).toHaveLength(0);
  expect(core.store.undoDraftOf(messageId)).toBeDefined();
  clock.advance(1);
  await settle();
  expect(jobs.length).toBe(2); // one delivery per recipient domain
  expect(core.store.undoDraftOf(messageId)).toBeUndefined();
  expect(core.store.db.prepare('SELECT count(*) AS n FROM drafts').get()).toEqual({ n: 0 });
  const m = (await call('outbox.get', { id: messageId })).value;
  expect(m.undoUntil).toBeNull();
  expect(m.recipients.every((x: any) => x.state === 'delivered')).toBe(true);
  expect(clock.now()).toBe(undoUntil);
  expect((await call('outbox.undoSend', { messageId })).error).toMatchObject({ code: 'CONFLICT', message: UNDO_WINDOW_PASSED });
});

test('a restart within the window keeps the countdown and the draft: Undo after the restart restores it', async () => {
  const state = await composeState();
  const { messageId, undoUntil } = (await call('outbox.send', state)).value;
  clock.advance(4_000);
  await core.close();
  clock.advance(2_000);
  open();
  await settle();
  expect(jobs).toHaveLength(0);
  expect((await call('outbox.get', { id: messageId })).value.undoUntil).toBe(undoUntil);
  const { draftId } = (await call('outbox.undoSend', { messageId })).value;
  const loaded = (await call('drafts.load', { id: draftId })).value;
  expect(loaded).toMatchObject({ subject: state.subject, html: state.html, to: state.to, cc: state.cc, bcc: state.bcc, identityId: state.identityId, tlsMode: 'requiretls' });
  expect(loaded.attachments.map((a: any) => a.filename)).toEqual(['report.pdf']);
  clock.advance(60_000);
  await settle();
  expect(jobs).toHaveLength(0);
});

test('a restart after the window ended while the app was closed: the copy is deleted at start and the message delivered', async () => {
  const { messageId } = (await call('outbox.send', await composeState())).value;
  await core.close();
  clock.advance(30_000);
  open();
  await settle();
  expect(core.store.undoDraftOf(messageId)).toBeUndefined();
  expect((await call('outbox.get', { id: messageId })).value.recipients.every((x: any) => x.state === 'delivered')).toBe(true);
  expect((await call('outbox.undoSend', { messageId })).error.message).toBe(UNDO_WINDOW_PASSED);
});

test('undoSendSeconds 0 sends at once and keeps no copy', async () => {
  expect((await call('settings.set', { undoSendSeconds: 0 })).ok).toBe(true);
  const { messageId, undoUntil } = (await call('outbox.send', await composeState())).value;
  expect(undoUntil).toBeNull();
  await settle();
  expect(jobs.length).toBe(2);
  expect(core.store.undoDraftOf(messageId)).toBeUndefined();
  expect((await call('outbox.get', { id: messageId })).value.undoUntil).toBeNull();
  expect((await call('outbox.undoSend', { messageId })).error.code).toBe('CONFLICT');
});

test('the CLI path (core.submit without a window) sends at once whatever the setting', async () => {
  const r = await core.submit({ from: 'me@sender.example', to: ['x@dest.example'], cc: [], bcc: [], subject: 's', text: 't', attachments: [], tlsMode: 'default' });
  expect(r.ok && r.undoUntil).toBe(null);
  await settle();
  expect(jobs).toHaveLength(1);
});

test('drafts.save and drafts.delete over the kept copy of a message in its window are refused (CONFLICT / NOT_FOUND), and the copy is unchanged', async () => {
  const state = await composeState();
  const { messageId } = (await call('outbox.send', state)).value;
  const copy = core.store.undoDraftOf(messageId)!;
  const before = core.store.db.prepare('SELECT updated_at, data FROM drafts WHERE id = ?').get(copy.id);
  const saved = await call('drafts.save', { id: copy.id, to: ['mallory@evil.example'], subject: 'overwritten' });
  expect(saved.ok).toBe(false);
  expect(saved.error.code).toBe('CONFLICT');
  expect((await call('drafts.delete', { id: copy.id })).error.code).toBe('NOT_FOUND');
  expect(core.store.db.prepare('SELECT updated_at, data FROM drafts WHERE id = ?').get(copy.id)).toEqual(before);
  // Undo still restores what was sent.
  const { draftId } = (await call('outbox.undoSend', { messageId })).value;
  expect((await call('drafts.load', { id: draftId })).value).toMatchObject({ subject: 'Quarterly report', to: state.to });
});
