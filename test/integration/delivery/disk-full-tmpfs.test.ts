/**
 * Issue 10 item 6 on a REAL full disk: the data folder is a small tmpfs (mount needs root; the
 * test skips cleanly without it). Six deliveries are on the wire when the disk fills up, so
 * none of their results can be written: the queue pauses with "disk full: sending paused",
 * a new send is refused with a clear error and leaves nothing behind, and when space returns
 * the six results are written — each message was sent exactly once.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { OutboxEvent } from '../../../shared/contract';
import { LocalDraft as DraftSchema } from '../../../shared/domain';
import { createDeliverer } from '../../../src-main/core/delivery/deliver';
import type { DeliverFn } from '../../../src-main/core/delivery/types';
import { createStubResolver } from '../../../src-main/core/dns';
import { Outbox } from '../../../src-main/core/outbox';
import { DB_FILE } from '../../../src-main/core/store/db';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';

const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = tmpDir('outbox-tmpfs-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe.dir], { stdio: 'ignore' });
    execFileSync('umount', [probe.dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    probe.cleanup();
  }
})();

let dns: FakeDns;
let peer: SmtpPeer;
let mnt: { dir: string; cleanup: () => void };

beforeAll(async () => {
  if (!canMount) return;
  dns = await startFakeDns();
  peer = await startSmtpPeer();
  for (let i = 0; i < 6; i++) {
    dns.add(`d${i}.test`, 'MX', [{ preference: 10, exchange: `mx.d${i}.test` }]);
    dns.add(`mx.d${i}.test`, 'A', ['127.0.0.1']);
  }
  mnt = tmpDir('outbox-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m,mode=0700', 'tmpfs', mnt.dir]);
});
afterAll(async () => {
  if (!canMount) return;
  execFileSync('umount', [mnt.dir]);
  mnt.cleanup();
  await peer.close();
  await dns.close();
});

/** Checkpoints the whole WAL into the database and truncates it to zero bytes. */
function walTruncated(core: Outbox): boolean {
  const wal = `${path.join(core.store.dataDir, DB_FILE)}-wal`;
  for (let i = 0; i < 50; i++) {
    const [r] = core.store.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (r!.busy === 0 && fs.statSync(wal).size === 0) return true;
  }
  return false;
}

/** Fills the file system until ENOSPC; returns the filler's path. */
function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'a');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  // The last few bytes too.
  try {
    for (;;) fs.writeSync(fd, block.subarray(0, 512));
  } catch {
    // full
  }
  fs.closeSync(fd);
  return filler;
}

test.skipIf(!canMount)('a full disk while six deliveries are on the wire: paused with a notice, sends refused cleanly, nothing sent twice when space returns', async () => {
  const dataDir = path.join(mnt.dir, 'data');
  let core!: Outbox;
  let inFlight = 0;
  let release!: () => void;
  const allInFlight = new Promise<void>((r) => (release = r));
  let filler: string | null = null;
  const deliver: DeliverFn = async (job) => {
    const out = await createDeliverer(core.engine)(job);
    // The disk fills up while all six results are still to be written.
    if (++inFlight === 6) {
      // A WAL already checkpointed through (store/checkpointer.ts does so every 100 ms) is
      // rewritten from its start, in blocks the file already has: the results would fit on
      // the full disk and nothing would need to pause. Truncating it first makes the results
      // need new blocks, the case this test is about (SQLite's own journal_size_limit and
      // TRUNCATE checkpoints leave a WAL this short in the field).
      expect(walTruncated(core)).toBe(true);
      filler = fillDisk(mnt.dir);
      release();
    }
    await allInFlight;
    return out;
  };
  core = new Outbox({
    dataDir,
    deliver,
    network: { resolver: createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1 }), smtpPort: peer.port, ehloName: 'full.outbox.test' },
  });
  core.queue.configure({ concurrency: 8, perDomain: 2 });
  const events: OutboxEvent[] = [];
  core.events.subscribe((b) => events.push(...b));
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await core.submit(DraftSchema.parse({ from: 'me@sender.test', to: [`rcpt@d${i}.test`], subject: `full ${i}`, text: 'x'.repeat(2000) }));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    ids.push(r.messageId);
  }
  const filesBefore = fs.readdirSync(core.store.messagesDir).sort();
  core.queue.start();

  const until = async (cond: () => boolean, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return cond();
  };
  expect(await until(() => core.queue.paused)).toBe(true);
  core.events.flush();
  expect(events.some((e) => e.type === 'queue-state' && e.paused && e.text === 'disk full: sending paused')).toBe(true);
  expect(peer.messages.filter((m) => m.rcptTo[0]?.startsWith('rcpt@d')).length).toBe(6);
  expect(core.queue.unwritten).toBe(6);

  // A send now cannot be made durable: refused, nothing half-written left.
  const refused = await core.submit(DraftSchema.parse({ from: 'me@sender.test', to: ['late@d0.test'], subject: 'late', text: 'y'.repeat(100_000) }));
  expect(refused.ok).toBe(false);
  expect(!refused.ok && refused.errors[0]!.message).toMatch(/^disk full/);
  expect(fs.readdirSync(core.store.messagesDir).sort()).toEqual(filesBefore);

  // Space returns: the six results are written, nothing is sent again.
  fs.rmSync(filler!);
  expect(await until(() => !core.queue.paused && core.queue.unwritten === 0, 30_000)).toBe(true);
  for (const id of ids) expect(core.store.getMessage(id)!.recipients.map((r) => r.state)).toEqual(['delivered']);
  expect(peer.messages.filter((m) => m.rcptTo[0]?.startsWith('rcpt@d')).length).toBe(6);
  core.events.flush();
  expect(events.some((e) => e.type === 'queue-state' && !e.paused)).toBe(true);
  await core.close();
}, 120_000);
