/**
 * Figure 7 — scale: the queue grows to 1k, 100k and 1M messages (bulk-inserted through the
 * store in one transaction per step, every message one recipient over 50 domains, 90 % queued
 * and 10 % deferred, all due later so the queue holds them without delivering; every 1000th
 * subject says "invoice"). At each size a FRESH process opens the Outbox and starts the queue
 * (with a delivery stub that never finishes: busy, nothing leaves), then reports:
 * - main-process RSS after a forced GC;
 * - time to the first 100 rows of the outbox list (Store.listMessages, total included):
 *   unfiltered, by status (deferred, 10 %), by domain (2 %), by text (a subject word, 0.1 %,
 *   and one recipient address);
 * - enqueue latency, Outbox.submit of a small draft (the FULL-synchronous commit included).
 * Opt-in (`npm run bench -- --only scale`): the 1M step takes minutes and gigabytes.
 *
 *   node --expose-gc --import tsx bench/parts/scale.ts [--quick] [--scale 1000000]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Outbox } from '../../src-main/core/outbox';
import { Store } from '../../src-main/core/store/store';
import { newMessageId } from '../../src-main/core/submit';
import { smallDraft } from '../lib/engine';
import { args, emit, forceGc, log, percentile, round, rssMiB, scratchDir } from '../lib/measure';

const SELF = fileURLToPath(import.meta.url);
const DAY = 24 * 3600_000;

/**
 * Grows the store from `from` to `to` messages in one transaction, with statements prepared
 * once on the store's connection (the rows Store.insertMessage writes: message, recipient, the
 * "queued" event; the FTS triggers run as for any insert: the rows wait in the search index's
 * backlog, which the measuring process's start-up indexes, before anything is timed).
 */
function fill(dir: string, from: number, to: number): void {
  const store = Store.open(dir);
  const db = store.db;
  // One shared message file: the queue never reads it (deliveries are stubbed), and a million
  // files would measure the file system, not the outbox.
  const rawPath = path.join('messages', 'shared.eml');
  const body = 'From: bench@outbox.test\r\nTo: user@bench0.test\r\nSubject: queued\r\n\r\nbody\r\n';
  fs.writeFileSync(store.absolutePath(rawPath), body);
  const now = Date.now();
  const later = now + 7 * DAY;
  const insMsg = db.prepare(
    `INSERT INTO messages (id, created_at, mail_from, from_header, subject, message_id_header, size, raw_path, tls_mode, eight_bit, smtputf8, identity_id)
     VALUES (?, ?, 'bench@outbox.test', ?, ?, ?, ?, ?, 'default', 0, 0, NULL)`,
  );
  const insRcpt = db.prepare(
    `INSERT INTO recipients (message_id, address, envelope, domain, kind, state, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, 'to', ?, ?, ?, ?)`,
  );
  const insEvent = db.prepare("INSERT INTO message_events (message_id, recipient_id, at, kind, detail) VALUES (?, NULL, ?, 'queued', '1 recipient(s)')");
  db.transaction(() => {
    for (let i = from; i < to; i++) {
      const at = now - (to - i) * 10;
      const id = newMessageId(at);
      const address = `user${i}@bench${i % 50}.test`;
      const deferred = i % 10 === 3;
      insMsg.run(id, at, `Bench ${i % 97} <bench@outbox.test>`, i % 1000 === 7 ? `invoice ${i}` : `queued message ${i}`, `<${id}@outbox.test>`, body.length, rawPath);
      insRcpt.run(id, address, address, `bench${i % 50}.test`, deferred ? 'deferred' : 'queued', deferred ? 1 : 0, later, at);
      insEvent.run(id, at);
    }
  })();
  store.close();
}

function timeList(core: Outbox, q: Parameters<Outbox['store']['listMessages']>[0], runs = 5): { firstMs: number; medianMs: number; total: number } {
  const ms: number[] = [];
  let total = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = core.store.listMessages(q);
    ms.push(performance.now() - t0);
    total = r.total;
  }
  return { firstMs: round(ms[0]!, 2), medianMs: round(percentile(ms, 50), 2), total };
}

async function measure(dir: string, samples: number, size: number): Promise<void> {
  const core = new Outbox({ dataDir: dir, version: 'bench', deliver: () => new Promise(() => {}) });
  core.queue.start();
  await new Promise((r) => setTimeout(r, 500));
  forceGc();
  const rss = rssMiB();
  const heap = process.memoryUsage().heapUsed / 1048576;
  const probe = Math.min(size - 1, 12345);
  const list = {
    unfiltered: timeList(core, { limit: 100 }),
    status: timeList(core, { status: 'deferred', limit: 100 }),
    domain: timeList(core, { domain: 'bench7.test', limit: 100 }),
    text: timeList(core, { text: 'invoice', limit: 100 }),
    textAddress: timeList(core, { text: `user${probe}@`, limit: 100 }),
  };
  const lat: number[] = [];
  for (let i = 0; i < samples + 20; i++) {
    const t0 = performance.now();
    const r = await core.submit(smallDraft(i, 50));
    if (i >= 20) lat.push(performance.now() - t0);
    if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
  }
  process.stdout.write(
    `${JSON.stringify({ rssMiB: round(rss), heapUsedMiB: round(heap), list, enqueue: { samples, p50Ms: round(percentile(lat, 50), 2), p99Ms: round(percentile(lat, 99), 2), maxMs: round(Math.max(...lat), 2) } })}\n`,
  );
  process.exit(0);
}

function child(argv: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, ...argv], { encoding: 'utf8', maxBuffer: 1 << 22 });
  if (r.status !== 0) throw new Error(`${argv[0]} failed: ${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return last.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : {};
}

const [mode, dirArg, a1, a2] = process.argv.slice(2);
if (mode === '--fill') fill(dirArg!, Number(a1), Number(a2));
else if (mode === '--measure') await measure(dirArg!, Number(a1), Number(a2));
else {
  const { quick, scale } = args();
  const top = scale ?? (quick ? 100_000 : 1_000_000);
  const steps = [1000, 100_000, 1_000_000].filter((n) => n < top).concat([top]);
  const samples = quick ? 100 : 500;
  const scratch = scratchDir('scale');
  const result: Record<string, unknown> = { steps };
  try {
    let have = 0;
    for (const n of steps) {
      const t0 = performance.now();
      child(['--fill', scratch.dir, String(have), String(n)]);
      const fillSeconds = round((performance.now() - t0) / 1000, 1);
      have = n;
      const dbMiB = round(fs.statSync(path.join(scratch.dir, 'outbox.sqlite3')).size / 1048576);
      log(`scale: ${n} messages (filled in ${fillSeconds} s, ${dbMiB} MiB database)`);
      const m = child(['--measure', scratch.dir, String(samples), String(n)]);
      result[`q${n}`] = { fillSeconds, dbMiB, ...m };
      // The enqueue samples joined the queue: count them.
      have += samples + 20;
    }
    emit(result);
  } finally {
    scratch.cleanup();
  }
}
