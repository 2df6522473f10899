/**
 * Figure 6 — the history-retention pass at 1M attempt rows: 250k finished messages with four
 * attempts each (one result per attempt, an event and a notice, a small .eml), half of them
 * older than the 90-day cutoff. One process fills the store; a FRESH process runs the pass
 * (batches of 200, yielding between them) and reports the pass time, the longest single batch
 * transaction and the event loop's worst delay (how long the queue could be kept waiting) and, afterwards, the queue's
 * due-work query and a listing page.
 *
 *   node --expose-gc --import tsx bench/parts/retention.ts [--quick]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pruneHistory } from '../../src-main/core/retention/retention';
import { QueueRepo } from '../../src-main/core/store/queue-repo';
import { Store } from '../../src-main/core/store/store';
import { newMessageId } from '../../src-main/core/submit';
import { args, emit, log, MiB, percentile, round, scratchDir } from '../lib/measure';

const SELF = fileURLToPath(import.meta.url);
const PER_MESSAGE = 4;
const DAY = 24 * 3600_000;
const NOW = Date.UTC(2026, 11, 1);

function fill(dir: string, attempts: number): void {
  const store = Store.open(dir);
  const db = store.db;
  const messages = Math.ceil(attempts / PER_MESSAGE);
  // Spread over 180 days before NOW: half falls before the 90-day cutoff.
  const span = 180 * DAY;
  const insMsg = db.prepare(
    `INSERT INTO messages (id, created_at, mail_from, from_header, subject, message_id_header, size, raw_path, tls_mode, eight_bit, smtputf8, identity_id)
     VALUES (?, ?, 'bench@outbox.test', 'bench@outbox.test', ?, NULL, 612, ?, 'default', 0, 0, NULL)`,
  );
  const insRcpt = db.prepare(`INSERT INTO recipients (message_id, address, envelope, domain, kind, state, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, 'to', 'delivered', NULL, ?)`);
  const insAttempt = db.prepare(
    `INSERT INTO attempts (message_id, started_at, duration_ms, domain, host, ip, port, stage, starttls, code, enhanced_code, reply, transcript)
     VALUES (?, ?, 84, ?, ?, '127.0.0.31', 25, 'data', 1, ?, ?, ?, ?)`,
  );
  const insResult = db.prepare('INSERT INTO attempt_results (attempt_id, recipient_id, status, code, enhanced_code, reply) VALUES (?, ?, ?, ?, ?, ?)');
  const insEvent = db.prepare("INSERT INTO message_events (message_id, recipient_id, at, kind, detail) VALUES (?, NULL, ?, 'queued', '1 recipient(s)')");
  const insNotice = db.prepare("INSERT INTO notices (message_id, recipient_id, kind, at, text) VALUES (?, ?, 'delay', ?, 'Not yet delivered')");
  const transcript = JSON.stringify(Array.from({ length: 12 }, (_, i) => ({ at: i, dir: i % 2 ? 's' : 'c', text: i % 2 ? '250 2.0.0 Ok' : 'RCPT TO:<user@bench.test>' })));
  const batch = db.transaction((from: number, to: number) => {
    for (let m = from; m < to; m++) {
      const at = NOW - span + Math.floor((m / messages) * span);
      const id = newMessageId(at) + m.toString(16);
      const domain = `bench${m % 50}.test`;
      const rcpt = `user${m}@${domain}`;
      const rawPath = `messages/${id}.eml`;
      insMsg.run(id, at, `retention bench ${m}`, rawPath);
      fs.writeFileSync(path.join(dir, rawPath), 'Subject: bench\r\n\r\nbody\r\n');
      const rid = insRcpt.run(id, rcpt, rcpt, domain, at).lastInsertRowid;
      insEvent.run(id, at);
      insNotice.run(id, rid, at);
      for (let k = 0; k < PER_MESSAGE; k++) {
        const last = k === PER_MESSAGE - 1;
        const aid = insAttempt.run(id, at + k * 1000, domain, `mx.${domain}`, last ? 250 : 451, last ? '2.0.0' : '4.7.1', last ? 'Ok' : 'Greylisted', transcript).lastInsertRowid;
        insResult.run(aid, rid, last ? 'delivered' : 'deferred', last ? 250 : 451, last ? '2.0.0' : '4.7.1', last ? 'Ok' : 'Greylisted');
      }
    }
  });
  for (let m = 0; m < messages; m += 1000) batch(m, Math.min(messages, m + 1000));
  store.close();
}

async function measure(dir: string): Promise<void> {
  const store = Store.open(dir);
  const count = (t: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  const before = { messages: count('messages'), attempts: count('attempts') };
  const batches: number[] = [];
  // How long the event loop (the queue, IPC) was kept waiting at worst during the pass.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  const r = await pruneHistory(store, { cutoff: NOW - 90 * DAY, onBatch: (_n, ms) => batches.push(ms) });
  const seconds = (performance.now() - t0) / 1000;
  loop.disable();
  const after = { messages: count('messages'), attempts: count('attempts') };
  const repo = new QueueRepo(store);
  const q0 = performance.now();
  for (let i = 0; i < 100; i++) repo.due(NOW, 200);
  const dueMs = (performance.now() - q0) / 100;
  const l0 = performance.now();
  for (let i = 0; i < 20; i++) store.listMessages({ limit: 100 });
  const listMs = (performance.now() - l0) / 20;
  store.close();
  process.stdout.write(
    `${JSON.stringify({
      before, after, removedMessages: r.messages, removedFiles: r.files, passSeconds: round(seconds, 2),
      attemptsRemovedPerSecond: Math.round((before.attempts - after.attempts) / seconds), batches: batches.length,
      batchMsP50: round(percentile(batches, 50), 2), batchMsP99: round(percentile(batches, 99), 2), batchMsMax: round(Math.max(...batches), 2),
      eventLoopDelayMsP99: round(loop.percentile(99) / 1e6, 1), eventLoopDelayMsMax: round(loop.max / 1e6, 1),
      dueQueryMs: round(dueMs, 3), listPageMs: round(listMs, 2),
    })}\n`,
  );
}

function child(argv: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, ...argv], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${argv[0]} failed: ${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return last.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : {};
}

const [mode, dirArg, arg] = process.argv.slice(2);
if (mode === '--fill') fill(dirArg!, Number(arg));
else if (mode === '--measure') await measure(dirArg!);
else {
  const { quick } = args();
  const ATTEMPTS = quick ? 100_000 : 1_000_000;
  const scratch = scratchDir('retention');
  try {
    const t0 = performance.now();
    child(['--fill', scratch.dir, String(ATTEMPTS)]);
    const dbMiB = round(fs.statSync(path.join(scratch.dir, 'outbox.sqlite3')).size / MiB);
    log(`retention: inserted ${ATTEMPTS} attempt rows (${dbMiB} MiB database) in ${round((performance.now() - t0) / 1000)} s`);
    emit({ attempts: ATTEMPTS, dbMiB, ...child(['--measure', scratch.dir]) });
  } finally {
    scratch.cleanup();
  }
}
