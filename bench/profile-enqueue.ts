/**
 * Enqueue at a filled queue, for a CPU profile and a look at the tail (issue 14: enqueue p99 at
 * 100k queued). The queue is filled beforehand as bench/parts/scale.ts fills it (not timed, not
 * profiled), then the Outbox opens it with the queue started (a delivery that never finishes)
 * and `--submits` drafts are submitted one after another, as in the scale part. It prints the
 * latency percentiles, the CPU per submit, how many WAL restarts happened (the WAL header's
 * checkpoint counter: one per checkpoint that caught up) and the GC pauses, with the slowest
 * submits and the GC time that overlapped each. With `--profile FILE` the submits alone are
 * CPU-profiled through node:inspector (a .cpuprofile; read it with bench/profile-summary.mjs).
 *
 *   node --expose-gc --import tsx bench/profile-enqueue.ts --queued 100000 --submits 1000 [--profile /tmp/e.cpuprofile]
 *
 * Measures and prints; never asserts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Outbox } from '../src-main/core/outbox';
import { DB_FILE } from '../src-main/core/store/db';
import { smallDraft } from './lib/engine';
import { forceGc, option, percentile, round, scratchDir } from './lib/measure';

const QUEUED = Number(option('queued', '100000'));
const SUBMITS = Number(option('submits', '1000'));
const PROFILE = option('profile', '');
const WARMUP = 20;

const scratch = scratchDir('profile-enqueue');
try {
  const scale = path.join(path.dirname(fileURLToPath(import.meta.url)), 'parts', 'scale.ts');
  execFileSync(process.execPath, ['--import', 'tsx', scale, '--fill', scratch.dir, '0', String(QUEUED)], { stdio: 'inherit' });
  const core = new Outbox({ dataDir: scratch.dir, version: 'bench', deliver: () => new Promise(() => {}) });
  core.queue.start();
  await new Promise((r) => setTimeout(r, 500));
  forceGc();
  const wal = path.join(scratch.dir, `${DB_FILE}-wal`);
  // The WAL header's checkpoint sequence number (offset 12): it moves when the WAL restarts.
  const walRestarts = (): number => {
    const b = Buffer.alloc(16);
    const fd = fs.openSync(wal, 'r');
    try {
      fs.readSync(fd, b, 0, 16, 0);
    } finally {
      fs.closeSync(fd);
    }
    return b.readUInt32BE(12);
  };
  for (let i = 0; i < WARMUP; i++) await core.submit(smallDraft(i, 50));
  const gcs: { start: number; duration: number }[] = [];
  const gcObserver = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const inspector = PROFILE ? new Session() : null;
  if (inspector) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.start');
  }
  const samples: { t0: number; ms: number }[] = [];
  const restarts0 = walRestarts();
  const c0 = process.cpuUsage();
  for (let i = 0; i < SUBMITS; i++) {
    const t0 = performance.now();
    const r = await core.submit(smallDraft(WARMUP + i, 50));
    samples.push({ t0, ms: performance.now() - t0 });
    if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
  }
  const cpu = process.cpuUsage(c0);
  const restarts = walRestarts() - restarts0;
  if (inspector) {
    const { profile } = await inspector.post('Profiler.stop');
    fs.writeFileSync(PROFILE, JSON.stringify(profile));
  }
  gcObserver.disconnect();
  const ms = samples.map((s) => s.ms);
  const gcDuring = (s: { t0: number; ms: number }) =>
    gcs.filter((g) => g.start < s.t0 + s.ms && g.start + g.duration > s.t0).reduce((a, g) => a + g.duration, 0);
  console.log(
    `profile-enqueue queued=${QUEUED} submits=${SUBMITS} p50_ms=${round(percentile(ms, 50), 2)} p90_ms=${round(percentile(ms, 90), 2)} ` +
      `p99_ms=${round(percentile(ms, 99), 2)} max_ms=${round(Math.max(...ms), 2)} cpu_ms_per_submit=${round((cpu.user + cpu.system) / 1000 / SUBMITS, 3)} ` +
      `wal_restarts=${restarts} gc_pauses=${gcs.length} gc_ms=${round(gcs.reduce((a, g) => a + g.duration, 0), 1)}`,
  );
  for (const s of [...samples].sort((a, b) => b.ms - a.ms).slice(0, 10)) console.log(`  slow: ${round(s.ms, 2)} ms, GC overlapping ${round(gcDuring(s), 2)} ms`);
  // The queue's deliveries never finish: close the store only (the process ends here).
  core.store.close();
} finally {
  scratch.cleanup();
}
process.exit(0);
