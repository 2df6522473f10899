/**
 * Figure 3 — main-process memory with a large queue: N messages are inserted (straight through
 * the store, in batches, each with its .eml file), then a FRESH process opens the Outbox, starts
 * the queue (with a delivery stub that never finishes, so the queue is busy but nothing leaves)
 * and reports RSS after a forced GC, next to the same process on an empty data folder; plus
 * the time of store.listMessages({ limit: 100 }) on the full queue, and of the queries every
 * queue pump() runs (which bound the delivery rate when they grow with the queue).
 *
 *   node --expose-gc --import tsx bench/parts/queued-rss.ts [--quick]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Outbox } from '../../src-main/core/outbox';
import { Store } from '../../src-main/core/store/store';
import { newMessageId } from '../../src-main/core/submit';
import { args, emit, forceGc, log, percentile, round, rssMiB, scratchDir } from '../lib/measure';

const SELF = fileURLToPath(import.meta.url);

function fill(dir: string, n: number): void {
  const store = Store.open(dir);
  const now = Date.now();
  const batch = store.db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const id = newMessageId(now + i);
      const rawPath = path.join('messages', `${id}.eml`);
      const body = `From: bench@outbox.test\r\nTo: user${i}@bench${i % 50}.test\r\nSubject: queued ${i}\r\nMessage-ID: <${id}@outbox.test>\r\n\r\nbody ${i}\r\n`;
      fs.writeFileSync(store.absolutePath(rawPath), body);
      store.insertMessage({
        id,
        createdAt: now,
        mailFrom: 'bench@outbox.test',
        fromHeader: 'bench@outbox.test',
        subject: `queued ${i}`,
        messageIdHeader: `<${id}@outbox.test>`,
        size: body.length,
        rawPath,
        tlsMode: 'default',
        eightBit: false,
        smtpUtf8: false,
        identityId: null,
        recipients: [{ address: `user${i}@bench${i % 50}.test`, envelope: `user${i}@bench${i % 50}.test`, domain: `bench${i % 50}.test`, kind: 'to' }],
        nextAttemptAt: now,
      });
    }
  });
  for (let i = 0; i < n; i += 5000) batch(i, Math.min(n, i + 5000));
  store.close();
}

async function measure(dir: string): Promise<void> {
  // Deliveries hang until the process exits: the queue holds its claimed groups, as when every
  // MX is slow, and nothing leaves the machine.
  const core = new Outbox({ dataDir: dir, version: 'bench', deliver: () => new Promise(() => {}) });
  core.queue.start();
  const lists: number[] = [];
  let total = 0;
  for (let i = 0; i < 21; i++) {
    const t0 = performance.now();
    total = core.store.listMessages({ limit: 100 }).total;
    lists.push(performance.now() - t0);
  }
  // What every pump() asks SQLite (queue.ts): due work and the next due time; plus the
  // delay-notice scan, which runs at most once a minute.
  const now = Date.now();
  const pumps: number[] = [];
  const scans: number[] = [];
  for (let i = 0; i < 11; i++) {
    let t0 = performance.now();
    core.queue.repo.due(now, 200);
    core.queue.repo.nextDueAt();
    pumps.push(performance.now() - t0);
    t0 = performance.now();
    core.queue.repo.delayNoticeCandidates(now - 4 * 3600_000);
    scans.push(performance.now() - t0);
  }
  await new Promise((r) => setTimeout(r, 200));
  const gc = forceGc();
  process.stdout.write(
    `${JSON.stringify({ total, active: core.queue.active, rssMiB: round(rssMiB()), heapUsedMiB: round(process.memoryUsage().heapUsed / 1048576), gc, listFirstMs: round(lists[0]!, 2), listP50Ms: round(percentile(lists.slice(1), 50), 2), pumpQueriesP50Ms: round(percentile(pumps.slice(1), 50), 2), delayScanP50Ms: round(percentile(scans.slice(1), 50), 2) })}\n`,
  );
  process.exit(0);
}

function child(mode: string, dir: string, n = 0): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, mode, dir, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${mode} failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return lines.length && lines[lines.length - 1]!.startsWith('{') ? (JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>) : {};
}

const [mode, dirArg, nArg] = process.argv.slice(2);
if (mode === '--fill') fill(dirArg!, Number(nArg));
else if (mode === '--measure') await measure(dirArg!);
else {
  const { quick } = args();
  const N = quick ? 10_000 : 100_000;
  const full = scratchDir('queued');
  const empty = scratchDir('queued-empty');
  try {
    const t0 = performance.now();
    child('--fill', full.dir, N);
    const fillSeconds = (performance.now() - t0) / 1000;
    log(`queued-rss: inserted ${N} queued messages in ${round(fillSeconds)} s`);
    const withQueue = child('--measure', full.dir);
    const baseline = child('--measure', empty.dir);
    emit({
      queued: N,
      rssMiB: withQueue.rssMiB,
      heapUsedMiB: withQueue.heapUsedMiB,
      emptyRssMiB: baseline.rssMiB,
      emptyHeapUsedMiB: baseline.heapUsedMiB,
      deltaMiB: round(Number(withQueue.rssMiB) - Number(baseline.rssMiB)),
      inFlight: withQueue.active,
      listFirstMs: withQueue.listFirstMs,
      listP50Ms: withQueue.listP50Ms,
      pumpQueriesP50Ms: withQueue.pumpQueriesP50Ms,
      emptyPumpQueriesP50Ms: baseline.pumpQueriesP50Ms,
      delayScanP50Ms: withQueue.delayScanP50Ms,
      forcedGc: withQueue.gc,
      dbMiB: round(fs.statSync(path.join(full.dir, 'outbox.sqlite3')).size / 1048576),
    });
  } finally {
    full.cleanup();
    empty.cleanup();
  }
}
