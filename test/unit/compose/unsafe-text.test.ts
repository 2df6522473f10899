/**
 * Issue 10 item 10: bidi controls, C0/C1 controls and U+2028/U+2029 are refused with a field
 * error in display names, subject, attachment file names and identity names (one rule,
 * shared/text.ts, at the IPC contract and in the core); a subject of any length up to the draft
 * limit is folded (RFC 5322 §2.2.3, RFC 2047 encoded-words where a word is too long to fold)
 * and reads back unchanged.
 */
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildMessage } from '../../../src-main/core/compose/build';
import { MAX_SUBJECT_CHARS, validateDraft, type Draft } from '../../../src-main/core/compose/draft';
import { Outbox } from '../../../src-main/core/outbox';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { tmpDir } from '../../helpers/tmp';

const UNSAFE = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u0007', '\u001b', '\u0085', '\u009b', '\u2028', '\u2029', '\t'];
const hex = (c: string) => `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`;

const tmp = tmpDir('compose-unsafe-');
let core: Outbox;
let table: HandlerTable;
let file: string;
beforeAll(() => {
  core = new Outbox({ dataDir: path.join(tmp.dir, 'data') });
  table = createHandlers(core, { chooseFiles: async () => [file], chooseSavePath: async () => null, openPath: async () => {} });
  file = path.join(tmp.dir, 'report.txt');
  fs.writeFileSync(file, 'report\n');
});
afterAll(async () => {
  await core.close();
  tmp.cleanup();
});

const base = (over: Partial<Draft> = {}): Draft => ({ from: { address: 'me@example.org', name: 'Me' }, to: ['you@example.com'], cc: [], bcc: [], subject: 'hi', text: 'x', attachments: [], tlsMode: 'default', ...over });
const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;

test.each(UNSAFE.map((c) => [hex(c), c]))('%s is refused in the subject, display names and attachment file names (core)', async (_name, c) => {
  const fields = async (d: Draft) => (await validateDraft(d)).map((e) => (e.index === undefined ? e.field : `${e.field}.${e.index}`));
  expect(await fields(base({ subject: `Invoice ${c}fdp.exe` }))).toEqual(['subject']);
  expect(await fields(base({ from: { address: 'me@example.org', name: `Me${c}` } }))).toEqual(['from']);
  expect(await fields(base({ to: [`"Bob${c}" <bob@example.com>`] }))).toEqual(['to.0']);
  expect(await fields(base({ cc: [`Carol${c} <carol@example.com>`] }))).toEqual(['cc.0']);
  expect(await fields(base({ attachments: [{ path: file, filename: `invoice${c}gpj.exe` }] }))).toEqual(['attachments.0']);
});

test.each(UNSAFE.map((c) => [hex(c), c]))('%s is refused over IPC with VALIDATION and the field, and nothing is queued or stored', async (_name, c) => {
  const before = core.store.listMessages({}).total;
  const send = (over: object) => call('outbox.send', { from: 'me@example.org', to: ['you@example.com'], subject: 'hi', ...over });
  const pathsOf = (r: { error?: { code: string; fields?: { path: string }[] } }) => {
    expect(r.error?.code).toBe('VALIDATION');
    return r.error!.fields!.map((f) => f.path);
  };
  expect(pathsOf(await send({ subject: `a${c}b` }))).toEqual(['subject']);
  expect(pathsOf(await send({ to: [`Bob${c} <bob@example.com>`] }))).toEqual(['to.0']);
  const [info] = (await call('compose.pickAttachments', {})).value;
  expect(pathsOf(await send({ attachments: [{ token: info.token, filename: `x${c}.txt` }] }))).toEqual(['attachments.0.filename']);
  expect(pathsOf(await call('identities.create', { address: 'id@example.org', displayName: `Name${c}`, algorithms: [] }))).toEqual(['displayName']);
  expect(core.store.listMessages({}).total).toBe(before);
  expect(core.store.listIdentities().map((i) => i.address)).not.toContain('id@example.org');
});

test('ordinary names and subjects in any script still pass (RTL text without controls, emoji, CJK)', async () => {
  expect(await validateDraft(base({ subject: 'שלום — مرحبا — 你好 👋', to: ['"דנה כהן" <dana@example.com>'] }))).toEqual([]);
});

test.each([
  [998, 'ascii'],
  [999, 'ascii'],
  [1500, 'ascii'],
  [MAX_SUBJECT_CHARS, 'ascii'],
  [998, 'utf-8'],
  [MAX_SUBJECT_CHARS, 'utf-8'],
])('a subject of %i characters (%s) with a word too long to fold is folded and reads back unchanged', async (n, kind) => {
  const subject = kind === 'ascii' ? 'x'.repeat(n) : 'x'.repeat(n - 10) + ' ' + 'ü'.repeat(9);
  const out = path.join(tmp.dir, `long-${n}.eml`);
  await buildMessage(base({ subject }), { date: new Date() }, out);
  const raw = fs.readFileSync(out, 'utf8');
  const header = raw.slice(0, raw.indexOf('\r\n\r\n'));
  expect(Math.max(...header.split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(78);
  expect((await simpleParser(raw)).subject).toBe(subject);
});

test('a subject longer than the draft limit is refused with a field error', async () => {
  const errors = await validateDraft(base({ subject: 'x'.repeat(MAX_SUBJECT_CHARS + 1) }));
  expect(errors.map((e) => e.field)).toEqual(['subject']);
  expect((await call('outbox.send', { from: 'me@example.org', to: ['you@example.com'], subject: 'x'.repeat(MAX_SUBJECT_CHARS + 1) })).error.code).toBe('VALIDATION');
  // The IPC contract admits what the core admits.
  expect((await call('outbox.send', { from: 'me@example.org', to: ['you@example.com'], subject: 'x'.repeat(MAX_SUBJECT_CHARS) })).ok).toBe(true);
});
