/**
 * Issue 11 §1: the IPC handlers driven as a compromised renderer would drive them. The renderer
 * never names a file for main to read: paths in any request are refused by the contract,
 * forged tokens are unknown, and even files "chosen" in the dialog are refused when they are
 * the app's own data (the database holds the DKIM private keys), symlinks into it, /proc files
 * or FIFOs. Every refusal leaves nothing queued and nothing read.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { Outbox } from '../../../src-main/core/outbox';
import { attachmentGrantsFor, createHandlers, dispatch, dropHandler, type DroppedFile, type HandlerTable } from '../../../src-main/ipc-handlers';
import type { AttachmentGrants } from '../../../src-main/attachment-grants';
import { tmpDir } from '../../helpers/tmp';

let core: Outbox;
let table: HandlerTable;
let grants: AttachmentGrants;
let dir: string;
let outside: string;
let cleanup: () => void;
let chosen: string[] = [];

const SECRET = 'SECRET-CONTENT-5f1c';

beforeAll(() => {
  const t = tmpDir('outbox-hostile-');
  cleanup = t.cleanup;
  dir = path.join(t.dir, 'data');
  outside = path.join(t.dir, 'home');
  fs.mkdirSync(outside);
  core = new Outbox({ dataDir: dir, logDir: path.join(t.dir, 'logs') });
  fs.mkdirSync(path.join(t.dir, 'logs'));
  fs.writeFileSync(path.join(t.dir, 'logs', 'main.log'), SECRET);
  grants = attachmentGrantsFor(core);
  table = createHandlers(core, { chooseFiles: async () => chosen, chooseSavePath: async () => null, openPath: async () => {} }, grants);
  fs.writeFileSync(path.join(outside, 'id_rsa'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRET}\n`);
  fs.writeFileSync(path.join(outside, 'report.txt'), 'quarterly report\n');
});
afterAll(async () => {
  await core.close();
  cleanup();
});
beforeEach(() => {
  chosen = [];
});

const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;

/** Nothing of SECRET reached a queued message file, and nothing was queued. */
function nothingSent(before: number) {
  expect(core.store.listMessages({}).total).toBe(before);
  for (const f of fs.readdirSync(core.store.messagesDir)) expect(fs.readFileSync(path.join(core.store.messagesDir, f), 'utf8')).not.toContain(SECRET);
}

const sendWith = (attachments: unknown) => call('outbox.send', { from: 'me@example.org', to: ['you@example.net'], subject: 'x', attachments });

test('a path in outbox.send, drafts.save or compose.statAttachments is refused by the contract', async () => {
  const before = core.store.listMessages({}).total;
  for (const p of [path.join(outside, 'id_rsa'), path.join(dir, 'outbox.sqlite3'), '/proc/self/environ', '/etc/passwd']) {
    const sent = await sendWith([{ path: p }]);
    expect(sent.error.code).toBe('VALIDATION');
    expect(sent.error.fields.map((f: { path: string }) => f.path)).toContain('attachments.0');
    const saved = await call('drafts.save', { subject: 'd', attachments: [{ path: p }] });
    expect(saved.error.code).toBe('VALIDATION');
    expect((await call('compose.statAttachments', { paths: [p] })).error.code).toBe('VALIDATION');
    // A token field holding a path is not a token either.
    expect((await sendWith([{ token: p }])).error.code).toBe('VALIDATION');
  }
  nothingSent(before);
  expect(core.store.listDrafts()).toEqual([]);
});

test('a forged token is unknown: send and drafts.save refuse it with a field error; stat says so', async () => {
  const before = core.store.listMessages({}).total;
  const forged = 'AAAAAAAAAAAAAAAAAAAAAAAA';
  const sent = await sendWith([{ token: forged }]);
  expect(sent.error).toMatchObject({ code: 'VALIDATION', fields: [{ path: 'attachments.0' }] });
  expect((await call('drafts.save', { subject: 'd', attachments: [{ token: forged }] })).error).toMatchObject({ code: 'VALIDATION', fields: [{ path: 'attachments.0' }] });
  const stat = await call('compose.statAttachments', { tokens: [forged] });
  expect(stat.value).toEqual([{ token: null, filename: '', size: null, error: expect.stringMatching(/unknown/) }]);
  nothingSent(before);
});

test('files of the app, symlinks into its data, /proc files and FIFOs are refused even when chosen or dropped; nothing is opened', async () => {
  const before = core.store.listMessages({}).total;
  const link = path.join(outside, 'innocent.txt');
  fs.symlinkSync(path.join(dir, 'outbox.sqlite3'), link);
  const dirLink = path.join(outside, 'data-link');
  fs.symlinkSync(dir, dirLink);
  const fifo = path.join(outside, 'pipe');
  execFileSync('mkfifo', [fifo]);
  const hostile = [
    path.join(dir, 'outbox.sqlite3'),
    path.join(dir, 'outbox.sqlite3-wal'),
    path.join(dir, 'messages'),
    path.join(path.dirname(dir), 'logs', 'main.log'),
    link,
    path.join(dirLink, 'outbox.sqlite3'),
    '/proc/self/pagemap',
    '/proc/self/environ',
    '/dev/zero',
    fifo,
    outside, // a directory
    'relative/path.txt',
    path.join(outside, 'missing.txt'),
  ];
  chosen = hostile;
  const picked = await call('compose.pickAttachments', {});
  const asked: DroppedFile[][] = [];
  const dropped = await dropHandler(grants, async (files) => (asked.push(files), true))(hostile);
  // Nothing acceptable: the user is not even asked.
  expect(asked).toEqual([]);
  for (const infos of [picked.value, (dropped as { value: any[] }).value]) {
    expect(infos).toHaveLength(hostile.length);
    for (const [i, info] of infos.entries()) {
      expect(info, hostile[i]).toMatchObject({ token: null, size: null, error: expect.any(String) });
    }
  }
  nothingSent(before);
});

test('a chosen ordinary file gets a token that sends it; the token survives in a draft across a restart as main\'s own path', async () => {
  chosen = [path.join(outside, 'report.txt')];
  const [info] = (await call('compose.pickAttachments', {})).value;
  expect(info).toMatchObject({ filename: 'report.txt', size: 17, error: null, token: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/) });
  expect(JSON.stringify(info)).not.toContain(outside); // the renderer never sees the path
  const saved = await call('drafts.save', { subject: 'with file', attachments: [{ token: info.token, filename: 'report.txt' }] });
  expect(saved.ok).toBe(true);

  // A new session (restart): new grants; the draft's stored path is granted again by main.
  const fresh = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
  const loaded = (await dispatch(fresh, 'drafts.load', { id: saved.value.id })) as { ok: true; value: any };
  expect(loaded.value.attachments).toEqual([{ token: expect.any(String), filename: 'report.txt', size: 17 }]);
  expect(loaded.value.attachments[0].token).not.toBe(info.token);
  expect(loaded.value.unavailableAttachments).toEqual([]);
  // The old session's token means nothing to the new one.
  expect(((await dispatch(fresh, 'compose.statAttachments', { tokens: [info.token] })) as any).value[0].token).toBeNull();

  const sent = (await dispatch(fresh, 'outbox.send', { from: 'me@example.org', to: ['you@example.net'], subject: 'x', attachments: loaded.value.attachments })) as any;
  expect(sent.ok).toBe(true);
  const raw = fs.readFileSync(core.store.absolutePath(core.store.messageRow(sent.value.messageId)!.raw_path), 'utf8');
  expect(raw).toContain(Buffer.from('quarterly report\n').toString('base64'));
});

test('a stored draft whose file became a symlink into the data directory is not granted again', async () => {
  const file = path.join(outside, 'later.txt');
  fs.writeFileSync(file, 'fine\n');
  chosen = [file];
  const [info] = (await call('compose.pickAttachments', {})).value;
  const saved = await call('drafts.save', { subject: 'swap', attachments: [{ token: info.token }] });
  fs.rmSync(file);
  fs.symlinkSync(path.join(dir, 'outbox.sqlite3'), file);
  const loaded = await call('drafts.load', { id: saved.value.id });
  expect(loaded.value.attachments).toEqual([]);
  expect(loaded.value.unavailableAttachments).toEqual([{ filename: 'later.txt', error: expect.any(String) }]);
});

test('a drop is granted only after the user confirms the real paths in main\'s dialog: a compromised renderer\'s forged drop of ~/.ssh/id_rsa gets nothing', async () => {
  const before = core.store.listMessages({}).total;
  const key = path.join(outside, 'id_rsa');
  const disguised = path.join(outside, 'holiday.jpg');
  fs.symlinkSync(key, disguised);
  const asked: DroppedFile[][] = [];
  // The user sees main's dialog naming the key (the symlink resolved) and declines.
  const declined = await dropHandler(grants, async (files) => (asked.push(files), false))([key, disguised, null]);
  expect(asked).toEqual([[{ path: fs.realpathSync(key), size: fs.statSync(key).size }, { path: fs.realpathSync(key), size: fs.statSync(key).size }]]);
  expect(declined).toMatchObject({ ok: true, value: [{ token: null, error: /not confirmed/ }, { token: null, filename: 'holiday.jpg', error: /not confirmed/ }, { token: null }] });
  // A failing dialog is a refusal too.
  expect(await dropHandler(grants, async () => { throw new Error('no window'); })([key])).toMatchObject({ ok: true, value: [{ token: null, error: /not confirmed/ }] });
  nothingSent(before);

  // A file the user really dropped and confirms is granted, under its dropped name.
  const report = path.join(outside, 'report.txt');
  const accepted = (await dropHandler(grants, async () => true)([report])) as { ok: true; value: { token: string | null; filename: string; size: number | null }[] };
  expect(accepted.value).toEqual([{ token: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/), filename: 'report.txt', size: 17, error: null }]);
  expect(JSON.stringify(accepted)).not.toContain(outside);
});

test('one drop confirmation at a time: a hostile page cannot stack dialogs', async () => {
  let release!: (v: boolean) => void;
  let dialogs = 0;
  const drop = dropHandler(grants, () => (dialogs++, new Promise<boolean>((r) => (release = r))));
  const first = drop([path.join(outside, 'report.txt')]);
  const second = await drop([path.join(outside, 'report.txt')]);
  expect(second).toMatchObject({ ok: true, value: [{ token: null, error: /another drop is waiting/ }] });
  release(false);
  expect(await first).toMatchObject({ ok: true, value: [{ token: null, error: /not confirmed/ }] });
  expect(dialogs).toBe(1);
  expect(await drop('not a list')).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
});
