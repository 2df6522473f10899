/**
 * Issue 14 (enqueue p99): what one enqueue pays for durability, for each way a message enters
 * the queue (a composed draft, a ready-made .eml, the outbox's own bytes). Every fsync the
 * process issues is recorded with the file it synced (read from /proc/self/fd while the
 * descriptor is open), and the commit that acknowledges "queued" is recorded beside them:
 * exactly one fsync of the .eml, one of its envelope and ONE of messages/ (both entries live
 * there), all finished before the commit; no temporary file is synced; the .eml is never opened
 * again after it was written (its SHA-256 and size are taken while writing), and the SHA-256
 * and size stored in the row and the envelope are the file's.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { Outbox } from '../../../src-main/core/outbox';
import { Store } from '../../../src-main/core/store/store';
import { submitBytes } from '../../../src-main/core/submit-bytes';
import { submitRaw } from '../../../src-main/core/submit-raw';
import { tmpDir } from '../../helpers/tmp';

const linux = process.platform === 'linux';
let t: { dir: string; cleanup: () => void };
let core: Outbox;
/** fsync <path> (as it finished) and "commit" (when the acknowledging insert began). */
let steps: string[];
/** Every path opened through fs.promises.open / fs.openSync / fs.createReadStream. */
let opened: string[];

const fdPath = (fd: number) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd ${fd}`;
  }
};

beforeEach(async () => {
  t = tmpDir('outbox-durability-');
  core = new Outbox({ dataDir: t.dir, clock: new ManualClock(Date.UTC(2026, 0, 1)), deliver: () => new Promise(() => {}) });
  steps = [];
  opened = [];
  const probe = await fs.promises.open(path.join(t.dir, 'probe'), 'w');
  const FileHandleProto = Object.getPrototypeOf(probe) as { sync: () => Promise<void>; datasync: () => Promise<void> };
  await probe.close();
  for (const name of ['sync', 'datasync'] as const) {
    const orig = FileHandleProto[name];
    vi.spyOn(FileHandleProto, name).mockImplementation(async function (this: { fd: number }) {
      const p = fdPath(this.fd);
      await orig.call(this);
      steps.push(`fsync ${p}`);
    });
  }
  for (const name of ['fsyncSync', 'fdatasyncSync'] as const) {
    const orig = fs[name];
    vi.spyOn(fs, name).mockImplementation((fd: number) => {
      const p = fdPath(fd);
      orig(fd);
      steps.push(`fsync ${p}`);
    });
  }
  for (const name of ['fsync', 'fdatasync'] as const) {
    const orig = fs[name];
    vi.spyOn(fs, name).mockImplementation(((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
      const p = fdPath(fd);
      orig(fd, (e) => {
        steps.push(`fsync ${p}`);
        cb(e);
      });
    }) as typeof fs.fsync);
  }
  const open = fs.promises.open;
  vi.spyOn(fs.promises, 'open').mockImplementation(((p: fs.PathLike, ...rest: unknown[]) => {
    opened.push(String(p));
    return (open as (...a: unknown[]) => Promise<fs.promises.FileHandle>)(p, ...rest);
  }) as typeof fs.promises.open);
  const openSync = fs.openSync;
  vi.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, ...rest: unknown[]) => {
    opened.push(String(p));
    return (openSync as (...a: unknown[]) => number)(p, ...rest);
  }) as typeof fs.openSync);
  const crs = fs.createReadStream;
  vi.spyOn(fs, 'createReadStream').mockImplementation(((p: fs.PathLike, ...rest: unknown[]) => {
    opened.push(String(p));
    return (crs as (...a: unknown[]) => fs.ReadStream)(p, ...rest);
  }) as typeof fs.createReadStream);
  const insert = Store.prototype.insertMessage;
  vi.spyOn(Store.prototype, 'insertMessage').mockImplementation(function (this: Store, m) {
    steps.push('commit');
    return insert.call(this, m);
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await core.close();
  t.cleanup();
});

/** The steps of one enqueue, with this data folder's paths made relative. */
function stepsOf(run: () => Promise<string>): Promise<{ id: string; steps: string[] }> {
  steps = [];
  opened = [];
  return run().then((id) => ({ id, steps: steps.map((s) => s.replace(`${fs.realpathSync(t.dir)}/`, '').replace(`${t.dir}/`, '')) }));
}

function checkStored(id: string): void {
  const eml = fs.readFileSync(path.join(core.store.messagesDir, `${id}.eml`));
  const digest = crypto.createHash('sha256').update(eml).digest('hex');
  const row = core.store.db.prepare('SELECT size, sha256 FROM messages WHERE id = ?').get(id) as { size: number; sha256: string };
  expect(row).toEqual({ size: eml.length, sha256: digest });
  const envelope = JSON.parse(fs.readFileSync(path.join(core.store.messagesDir, `${id}.json`), 'utf8')) as { size: number; sha256: string };
  expect({ size: envelope.size, sha256: envelope.sha256 }).toEqual({ size: eml.length, sha256: digest });
  // Only the message's two files remain (no temporary name).
  expect(fs.readdirSync(core.store.messagesDir).filter((n) => n.startsWith(id) || n.startsWith(`.${id}`)).sort()).toEqual([`${id}.eml`, `${id}.json`]);
}

/** One fsync of each file and one of the directory, in any order among themselves, then the commit. */
function expectDurabilitySteps(id: string, got: string[]): void {
  expect(got.at(-1)).toBe('commit');
  expect(got.slice(0, -1).sort()).toEqual([`fsync messages`, `fsync messages/${id}.eml`, `fsync messages/${id}.json`].sort());
  // The .eml is not opened again once written (no read-back for its digest).
  expect(opened.filter((p) => p === path.join(core.store.messagesDir, `${id}.eml`))).toEqual([]);
}

describe.runIf(linux)('enqueue durability steps', () => {
  it('a composed draft: one fsync each of the .eml, the envelope and messages/, before the commit; the stored SHA-256 is the file’s', async () => {
    const draft = (i: number) => ({ from: 'me@example.org', to: [`a${i}@example.net`], cc: [], bcc: [], subject: `s ${i}`, text: 'text', attachments: [], tlsMode: 'default' as const });
    await core.submit(draft(0));
    const { id, steps: got } = await stepsOf(async () => {
      const r = await core.submit(draft(1));
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.messageId;
    });
    expectDurabilitySteps(id, got);
    checkStored(id);
  });

  it('a composed draft with an attachment, DKIM-signed: the same steps (the unsigned temporary copy is never synced)', async () => {
    const { createIdentity } = await import('../../../src-main/core/identities');
    createIdentity(core.store, 0, { address: 'me@example.org', displayName: 'Me', algorithms: ['ed25519-sha256'] });
    const att = path.join(t.dir, 'a.bin');
    fs.writeFileSync(att, crypto.randomBytes(100_000));
    const { id, steps: got } = await stepsOf(async () => {
      const r = await core.submit({ from: 'me@example.org', to: ['b@example.net'], cc: [], bcc: [], subject: 'att', text: 'see', attachments: [{ path: att }], tlsMode: 'default' });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.messageId;
    });
    expectDurabilitySteps(id, got);
    checkStored(id);
    expect(fs.readFileSync(path.join(core.store.messagesDir, `${id}.eml`), 'latin1')).toMatch(/^DKIM-Signature:/);
  });

  it('a ready-made .eml (outbox send --eml): the same steps', async () => {
    const src = path.join(t.dir, 'in.eml');
    fs.writeFileSync(src, 'From: me@example.org\r\nTo: b@example.net\r\nSubject: raw\r\n\r\nbody \xe9\r\n', 'latin1');
    const { id, steps: got } = await stepsOf(async () => {
      const r = await submitRaw(src, { from: 'me@example.org', to: ['b@example.net'], tlsMode: 'default' }, { store: core.store, clock: core.clock });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.messageId;
    });
    expectDurabilitySteps(id, got);
    checkStored(id);
    expect(core.store.db.prepare('SELECT eight_bit FROM messages WHERE id = ?').pluck().get(id)).toBe(1);
  });

  it('the outbox’s own bytes (a DSN, a TLS report): the same steps', async () => {
    const bytes = Buffer.from('From: postmaster@example.org\r\nTo: b@example.net\r\nSubject: report\r\n\r\nreport\r\n');
    const { id, steps: got } = await stepsOf(() =>
      submitBytes({ mailFrom: '', to: ['b@example.net'], fromHeader: 'postmaster@example.org', subject: 'report', messageIdHeader: null, tlsMode: 'default', bytes }, { store: core.store, clock: core.clock }),
    );
    expectDurabilitySteps(id, got);
    checkStored(id);
  });
});

describe('the two files of an enqueue', () => {
  const draft = { from: 'me@example.org', to: ['a@example.net'], cc: [], bcc: [], subject: 's', text: 'text', attachments: [], tlsMode: 'default' as const };
  const queueFiles = () => fs.readdirSync(core.store.messagesDir).filter((n) => n !== 'probe');

  for (const which of ['.eml', 'envelope'] as const) {
    it(`neither remains when the ${which} cannot be created (disk full): the send is refused, nothing queued`, async () => {
      const { MessageFile } = await import('../../../src-main/core/compose/message-file');
      const create = MessageFile.create.bind(MessageFile);
      vi.spyOn(MessageFile, 'create').mockImplementation(async (p, opts) => {
        if ((which === 'envelope') === p.endsWith('.json')) {
          // The other file's creation finishes first: it is the one that must be removed.
          await new Promise((r) => setTimeout(r, 20));
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }
        return create(p, opts);
      });
      const r = await core.submit(draft);
      expect(r).toEqual({ ok: false, errors: [expect.objectContaining({ code: 'disk-full' })] });
      expect(queueFiles()).toEqual([]);
      expect(core.store.db.prepare('SELECT count(*) FROM messages').pluck().get()).toBe(0);
    });
  }

  it.runIf(linux)('messages/ stays open for the fsyncs while the store is open, and is closed with it', async () => {
    const dir = fs.realpathSync(core.store.messagesDir);
    const held = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === dir;
        } catch {
          return false;
        }
      }).length;
    expect((await core.submit(draft)).ok).toBe(true);
    expect((await core.submit(draft)).ok).toBe(true);
    expect(held()).toBe(1);
    await core.close();
    expect(held()).toBe(0);
    core = new Outbox({ dataDir: t.dir, clock: new ManualClock(Date.UTC(2026, 0, 1)), deliver: () => new Promise(() => {}) });
  });
});
