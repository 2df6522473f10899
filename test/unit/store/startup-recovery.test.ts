/**
 * Issue 10 item 8 in the app: start-up over a missing, zero-length or damaged database while
 * messages/ holds queued files says what is wrong and which files it found, and offers
 * "Recover N queued messages" or Quit — never an empty outbox. The flow (core/startup.ts) is
 * driven here with a scripted user in place of main.ts's native message box.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { LocalDraft as DraftSchema } from '../../../shared/domain';
import { Outbox } from '../../../src-main/core/outbox';
import { openOutboxForApp, type StartupAction, type StartupPrompt } from '../../../src-main/core/startup';
import { tmpDir } from '../../helpers/tmp';

let dir: string;
let cleanup: () => void;
const db = () => path.join(dir, 'outbox.sqlite3');

beforeEach(() => {
  ({ dir, cleanup } = tmpDir('outbox-startup-'));
});
afterEach(() => cleanup());

async function seed(n: number): Promise<string[]> {
  const core = new Outbox({ dataDir: dir });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await core.submit(DraftSchema.parse({ from: 'Me <me@sender.test>', to: [`a${i}@dest.test`, `b${i}@other.test`], subject: `Invoice ${i}`, text: 'body' }));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    ids.push(r.messageId);
  }
  await core.close();
  return ids;
}

/** A user who answers each prompt with the next action of the script; records what they saw. */
function user(...script: StartupAction[]) {
  const seen: StartupPrompt[] = [];
  const folders: string[] = [];
  return {
    seen,
    folders,
    ui: {
      async ask(p: StartupPrompt) {
        seen.push(p);
        const want = script.shift();
        if (!want) throw new Error(`unexpected prompt: ${p.message}`);
        const i = p.choices.findIndex((c) => c.action === want);
        if (i < 0) throw new Error(`no "${want}" in ${JSON.stringify(p.choices)}`);
        return i;
      },
      async showFolder(d: string) {
        folders.push(d);
      },
    },
  };
}

const snapshot = () => Object.fromEntries(fs.readdirSync(dir, { recursive: true, withFileTypes: false }).map((f) => [String(f), fs.statSync(path.join(dir, String(f))).isFile() ? fs.readFileSync(path.join(dir, String(f))).toString('base64') : 'dir']));

test.each([
  ['zero-length', 'is empty (zero bytes)', () => fs.writeFileSync(db(), '')],
  ['missing', 'is missing', () => fs.rmSync(db())],
  ['damaged', 'is damaged', () => fs.writeFileSync(db(), Buffer.alloc(8192, 0x5a))],
] as const)('a %s database over queued files: the app says so, names the files, and "Recover 3 queued messages" re-queues them', async (_name, what, damage) => {
  const ids = await seed(3);
  damage();
  for (const f of ['-wal', '-shm']) fs.rmSync(`${db()}${f}`, { force: true });
  const u = user('show-files', 'recover', 'continue');
  const core = await openOutboxForApp({ dataDir: dir }, u.ui);
  expect(core).not.toBeNull();
  try {
    const [ask, again, done] = u.seen;
    expect(ask!.message).toBe(`The outbox database ${what}, but 3 queued messages are waiting to be sent.`);
    expect(ask!.choices.map((c) => c.label)).toEqual(['Recover 3 queued messages', 'Show the files', 'Quit']);
    for (const [i, id] of ids.entries()) expect(ask!.detail).toContain(`messages/${id}.eml — “Invoice ${i}” to a${i}@dest.test and 1 more`);
    expect(ask!.detail).toContain('Nothing was sent or changed');
    // "Show the files" opens messages/ and asks again.
    expect(u.folders).toEqual([path.join(dir, 'messages')]);
    expect(again).toEqual(ask);
    expect(done!.message).toBe('3 queued messages were recovered and will be sent.');

    const queued = core!.store.listMessages({}).items.map((m) => [m.id, m.subject]);
    expect(queued.sort()).toEqual(ids.map((id, i) => [id, `Invoice ${i}`]).sort());
    for (const id of ids) expect(core!.store.getMessage(id)!.recipients.map((r) => r.state)).toEqual(['queued', 'queued']);
    // Not a start-up notice (the renderer shows those as "a stored setting was ignored").
    expect(core!.startupNotices).toEqual([]);
  } finally {
    await core?.close();
  }
});

test('Quit changes nothing: no file is moved, no database is written, the next start asks again', async () => {
  await seed(2);
  fs.writeFileSync(db(), Buffer.alloc(8192, 0x5a));
  const before = snapshot();
  const u = user('quit');
  expect(await openOutboxForApp({ dataDir: dir }, u.ui)).toBeNull();
  expect(u.seen.map((p) => p.kind)).toEqual(['recovery']);
  expect(snapshot()).toEqual(before);
  // Closing the box (Escape) means Quit too.
  const p = u.seen[0]!;
  expect(p.choices[p.cancel]!.action).toBe('quit');
  const again = user('quit');
  expect(await openOutboxForApp({ dataDir: dir }, again.ui)).toBeNull();
  expect(again.seen).toHaveLength(1);
});

test('a file that no longer matches its envelope is reported after the recovery and kept aside (not removed by the next start)', async () => {
  const ids = await seed(2);
  fs.rmSync(db());
  const changed = path.join(dir, 'messages', `${ids[0]}.eml`);
  fs.appendFileSync(changed, 'tampered');
  const u = user('recover', 'continue');
  const core = await openOutboxForApp({ dataDir: dir }, u.ui);
  try {
    const done = u.seen[1]!;
    expect(done.type).toBe('warning');
    expect(done.message).toBe('1 queued message was recovered and will be sent.');
    expect(done.detail).toContain(`messages/${ids[0]}.eml: the message file does not match its envelope`);
    expect(core!.store.listMessages({}).items.map((m) => m.id)).toEqual([ids[1]]);
    const [kept] = fs.readdirSync(dir).filter((f) => f.startsWith('unrecovered-'));
    expect(done.detail).toContain(`kept in ${kept} in the data folder`);
    expect(fs.readFileSync(path.join(dir, kept!, `${ids[0]}.eml`), 'utf8')).toMatch(/tampered$/);
    expect(fs.existsSync(path.join(dir, kept!, `${ids[0]}.json`))).toBe(true);
    expect(fs.existsSync(changed)).toBe(false);
  } finally {
    await core?.close();
  }
  // The next start opens normally and the kept file is still there.
  const next = await openOutboxForApp({ dataDir: dir }, user().ui);
  await next!.close();
  expect(fs.readdirSync(dir).filter((f) => f.startsWith('unrecovered-')).flatMap((d) => fs.readdirSync(path.join(dir, d))).sort()).toEqual([`${ids[0]}.eml`, `${ids[0]}.json`]);
});

test('a damaged database with nothing queued: offered a new database (the damaged one kept), or Quit', async () => {
  fs.mkdirSync(dir, { recursive: true });
  new Outbox({ dataDir: dir }).store.close();
  fs.writeFileSync(db(), Buffer.alloc(8192, 0x5a));
  const u = user('recover', 'continue');
  const core = await openOutboxForApp({ dataDir: dir }, u.ui);
  try {
    expect(u.seen[0]!.message).toBe('The outbox database is damaged.');
    expect(u.seen[0]!.choices.map((c) => c.label)).toEqual(['Start with a new database', 'Quit']);
    expect(u.seen[1]!.detail).toMatch(/^The damaged database was kept as outbox\.sqlite3\.damaged-/);
    expect(fs.readdirSync(dir).some((f) => f.startsWith('outbox.sqlite3.damaged-'))).toBe(true);
    expect(core!.store.listMessages({}).total).toBe(0);
  } finally {
    await core?.close();
  }
});

test('an intact data folder opens without a prompt; an error that is not about the database shows one and quits', async () => {
  await seed(1);
  const u = user();
  const core = await openOutboxForApp({ dataDir: dir }, u.ui);
  expect(u.seen).toEqual([]);
  expect(core!.store.listMessages({}).total).toBe(1);
  await core!.close();

  const failing = user('quit');
  const none = await openOutboxForApp({ dataDir: dir }, failing.ui, {
    open: () => {
      throw Object.assign(new Error('EACCES: permission denied, open outbox.sqlite3'), { code: 'EACCES' });
    },
  });
  expect(none).toBeNull();
  expect(failing.seen).toMatchObject([{ kind: 'failed', type: 'error', message: 'The outbox database could not be opened.', detail: expect.stringContaining('EACCES') }]);
});

test('a recovery that fails (disk full) is reported, and the app does not start empty', async () => {
  await seed(1);
  fs.writeFileSync(db(), '');
  const u = user('recover', 'quit');
  const core = await openOutboxForApp({ dataDir: dir }, u.ui, {
    recover: async () => {
      throw Object.assign(new Error('SQLITE_FULL: database or disk is full'), { code: 'SQLITE_FULL' });
    },
  });
  expect(core).toBeNull();
  expect(u.seen.map((p) => p.kind)).toEqual(['recovery', 'failed']);
  expect(u.seen[1]!.detail).toContain('SQLITE_FULL');
});
