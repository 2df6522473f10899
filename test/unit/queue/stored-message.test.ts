/**
 * The message detail's body preview and "Edit & resend" (issue 13 items 3 and 4), on the real
 * core through the IPC handler table: the message is built and stored as the app sends it,
 * the scripted "server" refuses some recipients, and both features read what was stored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import type { DeliveryJob, DeliveryOutcome } from '../../../src-main/core/delivery/types';
import { Outbox } from '../../../src-main/core/outbox';
import { PREVIEW_MAX_CHARS } from '../../../src-main/core/stored-message';
import { keptAttachmentsDir } from '../../../src-main/core/kept-attachments';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { tmpDir } from '../../helpers/tmp';

let root: string;
let dataDir: string;
let cleanup: () => void;
let core: Outbox;
let table: HandlerTable;
let files: string[];
let jobs: DeliveryJob[];

/** Local part "refuse…" gets a 554 5.7.1 (a policy refusal: not one that suppresses the address) while `refusing`. */
let refusing = true;
async function deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
  jobs.push(job);
  return {
    recipients: job.recipients.map((r) => {
      const refuse = refusing && r.envelope.startsWith('refuse');
      return { recipientId: r.id, status: refuse ? ('failed' as const) : ('delivered' as const), code: refuse ? 554 : 250, enhancedCode: refuse ? '5.7.1' : '2.0.0', reply: refuse ? '554 5.7.1 rejected by policy' : '250 ok', host: `mx.${job.domain}`, errorCode: refuse ? ('SMTP_REPLY' as const) : null };
    }),
    attempts: [],
    dialedIps: [],
    hint: null,
  };
}

beforeEach(async () => {
  ({ dir: root, cleanup } = tmpDir('outbox-stored-'));
  dataDir = path.join(root, 'data');
  fs.mkdirSync(dataDir);
  files = [path.join(root, 'report.pdf'), path.join(root, 'notes.txt')];
  fs.writeFileSync(files[0]!, Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251)));
  fs.writeFileSync(files[1]!, 'line one\nline two\n');
  jobs = [];
  refusing = true;
  core = new Outbox({ dataDir, clock: new ManualClock(Date.UTC(2026, 11, 2)), deliver, network: { ehloName: 'h.example' } });
  table = createHandlers(core, { chooseFiles: async () => files, chooseSavePath: async () => null, openPath: async () => {} });
  core.store.setSettings({ undoSendSeconds: 0 });
  core.queue.start();
});
afterEach(async () => {
  await core.close();
  cleanup();
});

const call = async (channel: string, payload: unknown) => (await dispatch(table, channel, payload)) as { ok: boolean; value?: any; error?: any };

async function send(draft: Record<string, unknown>): Promise<string> {
  const r = await call('outbox.send', draft);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  for (let i = 0; i < 5; i++) await new Promise((res) => setImmediate(res));
  await core.queue.drain();
  return r.value.messageId;
}

async function richMessage() {
  const identity = (await call('identities.create', { address: 'me@sender.example', displayName: 'Me', algorithms: [] })).value;
  const picked = (await call('compose.pickAttachments', {})).value as { token: string; filename: string; size: number }[];
  const draft = {
    identityId: identity.id,
    to: ['ok@dest.example', 'refuse-a@dest.example'],
    cc: ['refuse-b@other.example'],
    bcc: ['fine@other.example'],
    subject: 'Plans for Tuesday',
    text: 'ignored: the text part is generated from the HTML',
    html: '<p>Hello <strong>team</strong>,</p><ul><li>agenda</li><li>room <a href="https://example.org/r">B</a></li></ul>',
    attachments: picked.map((p) => ({ token: p.token, filename: p.filename, size: p.size })),
    tlsMode: 'requiretls',
  };
  return { id: await send(draft), identity, draft };
}

test('preview: the text rendering of a rich message (never its HTML) and the attachments with their sizes', async () => {
  const { id } = await richMessage();
  const r = await call('outbox.preview', { messageId: id });
  expect(r.ok).toBe(true);
  expect(r.value).toMatchObject({ rich: true, truncated: false, attachments: [{ filename: 'report.pdf', size: 5000 }, { filename: 'notes.txt', size: 18, contentType: 'text/plain' }] });
  expect(r.value.text).toContain('Hello team,');
  expect(r.value.text).toMatch(/\* agenda/);
  expect(r.value.text).not.toMatch(/<[a-z/]/i);
});

test('preview: a plain message is shown as written; a long one is cut at a line end and says so', async () => {
  const short = await send({ from: 'me@sender.example', to: ['ok@dest.example'], subject: 's', text: 'Hi,\r\nsee you.\n' });
  expect((await call('outbox.preview', { messageId: short })).value).toEqual({ text: 'Hi,\nsee you.', truncated: false, rich: false, attachments: [] });
  const line = 'All work and no play makes Jack a dull boy.\n';
  const long = await send({ from: 'me@sender.example', to: ['ok@dest.example'], subject: 's', text: line.repeat(1000) });
  const p = (await call('outbox.preview', { messageId: long })).value;
  expect(p.truncated).toBe(true);
  expect(p.text.length).toBeLessThanOrEqual(PREVIEW_MAX_CHARS);
  expect(p.text.length).toBeGreaterThan(PREVIEW_MAX_CHARS * 0.8);
  expect(p.text.endsWith('dull boy.')).toBe(true);
});

test('preview and edit & resend: a stored file that is gone or damaged is a clear error, nothing created', async () => {
  const { id } = await richMessage();
  const eml = core.store.absolutePath(core.store.messageRow(id)!.raw_path);
  fs.appendFileSync(eml, 'tampered');
  expect((await call('outbox.preview', { messageId: id })).error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('is damaged') });
  fs.rmSync(eml);
  expect((await call('outbox.preview', { messageId: id })).error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('the stored message file is gone') });
  expect((await call('outbox.editAndResend', { messageId: id })).error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('the stored message file is gone') });
  expect((await call('drafts.list', {})).value).toEqual([]);
  expect(fs.existsSync(keptAttachmentsDir(dataDir)) ? fs.readdirSync(keptAttachmentsDir(dataDir)) : []).toEqual([]);
  expect((await call('outbox.preview', { messageId: 'nope' })).error.code).toBe('NOT_FOUND');
});

test('edit & resend: a draft of the same message (identity, subject, rich text, attachments granted by main, TLS mode) to the failed recipients only', async () => {
  const { id, identity, draft } = await richMessage();
  const m = (await call('outbox.get', { id })).value;
  expect(m.recipients.filter((r: any) => r.state === 'failed').map((r: any) => r.address).sort()).toEqual(['refuse-a@dest.example', 'refuse-b@other.example']);
  const r = await call('outbox.editAndResend', { messageId: id });
  expect(r.ok).toBe(true);
  const loaded = (await call('drafts.load', { id: r.value.draftId })).value;
  expect(loaded).toMatchObject({ identityId: identity.id, to: ['refuse-a@dest.example'], cc: ['refuse-b@other.example'], bcc: [], subject: draft.subject, tlsMode: 'requiretls', unavailableAttachments: [] });
  expect(loaded.html).toBe('<p>Hello <strong>team</strong>,</p><ul><li>agenda</li><li>room <a href="https://example.org/r">B</a></li></ul>');
  expect(loaded.attachments).toEqual([
    { token: expect.any(String), filename: 'report.pdf', contentType: 'application/pdf', size: 5000 },
    { token: expect.any(String), filename: 'notes.txt', contentType: 'text/plain', size: 18 },
  ]);
  // Main kept the files in its own folder (the renderer named none) — the same bytes.
  const kept = fs.readdirSync(keptAttachmentsDir(dataDir));
  expect(kept).toHaveLength(1);
  expect(fs.readFileSync(path.join(keptAttachmentsDir(dataDir), kept[0]!, 'report.pdf'))).toEqual(fs.readFileSync(files[0]!));

  // Sent again (the server accepts now): the same content, to the failed recipients only.
  jobs = [];
  refusing = false;
  const { id: _draftId, unavailableAttachments: _u, ...resend } = loaded;
  const again = await send(resend);
  expect(jobs.flatMap((j) => j.recipients.map((x) => x.envelope)).sort()).toEqual(['refuse-a@dest.example', 'refuse-b@other.example']);
  const p = (await call('outbox.preview', { messageId: again })).value;
  expect(p.attachments.map((a: any) => [a.filename, a.size])).toEqual([['report.pdf', 5000], ['notes.txt', 18]]);
  expect(p.text).toContain('Hello team,');
  expect((await call('outbox.get', { id: again })).value.recipients.map((x: any) => x.state)).toEqual(['delivered', 'delivered']);

  // Once no draft names the kept folder, it goes.
  await call('drafts.delete', { id: r.value.draftId });
  expect(fs.readdirSync(keptAttachmentsDir(dataDir))).toEqual([]);
});

test('edit & resend: a plain message from a typed sender stays plain; a message with no failed recipient is refused', async () => {
  const id = await send({ from: 'Someone <someone@sender.example>', to: ['refuse@dest.example'], cc: [], subject: 'plain', text: 'just text\n-- \nsig\n' });
  const loaded = (await call('drafts.load', { id: (await call('outbox.editAndResend', { messageId: id })).value.draftId })).value;
  expect(loaded).toMatchObject({ identityId: null, from: 'Someone <someone@sender.example>', to: ['refuse@dest.example'], text: 'just text\n-- \nsig\n', attachments: [] });
  expect(loaded.html).toBeUndefined();
  const fine = await send({ from: 'me@sender.example', to: ['ok@dest.example'], subject: 'ok', text: 'x' });
  expect((await call('outbox.editAndResend', { messageId: fine })).error).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('no recipient of this message failed') });
});

test('grants: a link placed in the kept folder to the database is still refused', async () => {
  const { id } = await richMessage();
  const { draftId } = (await call('outbox.editAndResend', { messageId: id })).value;
  const [folder] = fs.readdirSync(keptAttachmentsDir(dataDir));
  fs.rmSync(path.join(keptAttachmentsDir(dataDir), folder!, 'report.pdf'));
  fs.symlinkSync(path.join(dataDir, 'outbox.sqlite3'), path.join(keptAttachmentsDir(dataDir), folder!, 'report.pdf'));
  const loaded = (await call('drafts.load', { id: draftId })).value;
  expect(loaded.attachments.map((a: any) => a.filename)).toEqual(['notes.txt']);
  expect(loaded.unavailableAttachments).toEqual([{ filename: 'report.pdf', error: expect.stringContaining('belongs to the app') }]);
});
