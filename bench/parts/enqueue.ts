/**
 * Figure 2 — enqueue latency: Outbox.submit of a small draft (validate, compose into the .eml,
 * its envelope, one fsync each of both and of messages/ side by side, one committed
 * transaction: core/enqueue.ts), measured per call, with the CPU time of the submits. The queue is not started, so only the
 * enqueue path is timed. Also the raw cost of one SQLite commit here made the way the store
 * acknowledges a queued message (durableTransaction, synchronous=FULL: the disk's floor for
 * every durable step), next to one under the connection's synchronous=NORMAL.
 *
 *   node --expose-gc --import tsx bench/parts/enqueue.ts [--quick]
 */
import { performance } from 'node:perf_hooks';
import { Outbox } from '../../src-main/core/outbox';
import { durableTransaction } from '../../src-main/core/store/db';
import { smallDraft } from '../lib/engine';
import { args, emit, log, percentile, round, scratchDir } from '../lib/measure';

const { quick } = args();
const SAMPLES = quick ? 300 : 2000;
const WARMUP = 50;
const scratch = scratchDir('enqueue');
try {
  const core = new Outbox({ dataDir: scratch.dir, version: 'bench' });
  for (let i = 0; i < WARMUP; i++) await core.submit(smallDraft(i, 50));
  const samples: number[] = [];
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    const r = await core.submit(smallDraft(WARMUP + i, 50));
    samples.push(performance.now() - t0);
    if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
  }
  const cpu = process.cpuUsage(c0);
  const wallMs = performance.now() - w0;
  // One one-row committed transaction, the way the store acknowledges "queued"
  // (durableTransaction: synchronous=FULL, fsync'd WAL): what the disk charges for durability;
  // and the same under the connection's NORMAL, what bookkeeping commits cost.
  const db = core.store.db;
  db.exec('CREATE TABLE IF NOT EXISTS bench_commit_main (x)');
  const ins = db.prepare('INSERT INTO bench_commit_main VALUES (?)');
  const full: number[] = [];
  const normal: number[] = [];
  let fullPragma = -1;
  for (let i = 0; i < 200; i++) {
    let t0 = performance.now();
    durableTransaction(db, () => {
      fullPragma = db.pragma('synchronous', { simple: true }) as number;
      ins.run(i);
    });
    full.push(performance.now() - t0);
    t0 = performance.now();
    db.transaction(() => ins.run(i)).immediate();
    normal.push(performance.now() - t0);
  }
  const normalPragma = db.pragma('synchronous', { simple: true }) as number;
  await core.close();
  log(`enqueue: ${SAMPLES} samples after ${WARMUP} warm-up submits`);
  emit({
    samples: SAMPLES,
    p50Ms: round(percentile(samples, 50), 2),
    p90Ms: round(percentile(samples, 90), 2),
    p99Ms: round(percentile(samples, 99), 2),
    maxMs: round(Math.max(...samples), 2),
    meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length, 2),
    // CPU of this process (main thread and libuv pool) per submit, beside the wall time of all.
    cpuMsPerSubmit: round((cpu.user + cpu.system) / 1000 / SAMPLES, 3),
    wallSeconds: round(wallMs / 1000, 2),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    // 2 = FULL, 1 = NORMAL, as SQLite reported inside each kind of commit.
    sqliteFullCommitP50Ms: round(percentile(full, 50), 2),
    sqliteFullCommitP99Ms: round(percentile(full, 99), 2),
    fullCommitSynchronous: fullPragma,
    sqliteNormalCommitP50Ms: round(percentile(normal, 50), 2),
    normalCommitSynchronous: normalPragma,
  });
} finally {
  scratch.cleanup();
}
