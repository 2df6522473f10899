/**
 * Figure 5 — exporting the delivery log: N attempt rows (each with one per-recipient result and
 * a short realistic transcript) are inserted in one process; a FRESH process then streams them
 * with exportAttempts to a file, per format, sampling RSS every 50 ms: rows/s and peak RSS.
 *
 *   node --expose-gc --import tsx bench/parts/export.ts [--quick]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { exportAttempts } from '../../src-main/core/export/export';
import { Store } from '../../src-main/core/store/store';
import { newMessageId } from '../../src-main/core/submit';
import { args, emit, forceGc, log, MiB, round, RssSampler, rssMiB, scratchDir } from '../lib/measure';

const SELF = fileURLToPath(import.meta.url);
const PER_MESSAGE = 100;

function transcript(at: number, host: string, rcpt: string): string {
  const lines = [
    ['i', `connected to ${host} [127.0.0.31]`],
    ['s', `220 ${host} ESMTP Postfix`],
    ['c', 'EHLO bench.outbox.test'],
    ['s', `250-${host}`],
    ['s', '250-PIPELINING'],
    ['s', '250-SIZE 52428800'],
    ['s', '250 STARTTLS'],
    ['c', 'STARTTLS'],
    ['s', '220 2.0.0 Ready to start TLS'],
    ['c', 'MAIL FROM:<bench@outbox.test> SIZE=612'],
    ['c', `RCPT TO:<${rcpt}>`],
    ['c', 'DATA'],
    ['s', '250 2.1.0 Ok'],
    ['s', '250 2.1.5 Ok'],
    ['s', '354 End data with <CR><LF>.<CR><LF>'],
    ['c', '[message body, 612 bytes]'],
    ['s', '250 2.0.0 Ok: queued as 4Xb1Zq3k2Mz9'],
    ['c', 'QUIT'],
  ];
  return JSON.stringify(lines.map(([dir, text], i) => ({ at: at + i * 3, dir, text })));
}

function fill(dir: string, rows: number): void {
  const store = Store.open(dir);
  const db = store.db;
  const messages = Math.ceil(rows / PER_MESSAGE);
  const start = Date.now() - rows * 1000;
  const insMsg = db.prepare(
    `INSERT INTO messages (id, created_at, mail_from, from_header, subject, message_id_header, size, raw_path, tls_mode, eight_bit, smtputf8, identity_id)
     VALUES (?, ?, 'bench@outbox.test', 'bench@outbox.test', ?, NULL, 612, ?, 'default', 0, 0, NULL)`,
  );
  const insRcpt = db.prepare(
    `INSERT INTO recipients (message_id, address, envelope, domain, kind, state, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, 'to', 'delivered', NULL, ?)`,
  );
  const insAttempt = db.prepare(
    `INSERT INTO attempts (message_id, started_at, duration_ms, domain, host, ip, port, stage, starttls, tls_version, tls_cipher, cert_fingerprint,
       verification, verification_reason, mta_sts_mode, dane, requiretls, plaintext_fallback, tlsrpt_policy, tlsrpt_failure, code, enhanced_code,
       reply, error_code, permanent, transcript)
     VALUES (?, ?, 84, ?, ?, '127.0.0.31', 25, 'data', 1, 'TLSv1.3', 'TLS_AES_256_GCM_SHA384', ?, 'pkix', NULL, 'enforce', 0, 0, 0, 'sts', NULL,
       ?, ?, ?, ?, 0, ?)`,
  );
  const insResult = db.prepare('INSERT INTO attempt_results (attempt_id, recipient_id, status, code, enhanced_code, reply) VALUES (?, ?, ?, ?, ?, ?)');
  const fingerprint = 'ab'.repeat(32);
  let n = 0;
  const batch = db.transaction((from: number, to: number) => {
    for (let m = from; m < to; m++) {
      const at = start + m * PER_MESSAGE * 1000;
      const id = newMessageId(at);
      const domain = `bench${m % 50}.test`;
      const rcpt = `user${m}@${domain}`;
      const host = `mx.${domain}`;
      insMsg.run(id, at, `export bench ${m}`, `messages/${id}.eml`);
      const rid = insRcpt.run(id, rcpt, rcpt, domain, at).lastInsertRowid;
      for (let k = 0; k < PER_MESSAGE && n < rows; k++, n++) {
        const last = k === PER_MESSAGE - 1;
        const t = at + k * 1000;
        const [code, enh, reply, status] = last ? [250, '2.0.0', 'Ok: queued as 4Xb1Zq3k2Mz9', 'delivered'] : [451, '4.7.1', 'Greylisted, try again later', 'deferred'];
        const aid = insAttempt.run(id, t, domain, host, fingerprint, code, enh, reply, last ? null : 'TEMPORARY', transcript(t, host, rcpt)).lastInsertRowid;
        insResult.run(aid, rid, status, code, enh, reply);
      }
    }
  });
  for (let m = 0; m < messages; m += 200) batch(m, Math.min(messages, m + 200));
  store.close();
}

async function measure(dir: string, format: 'csv' | 'ndjson'): Promise<void> {
  const store = Store.open(dir);
  const out = path.join(dir, `export.${format}`);
  forceGc();
  const baseline = rssMiB();
  const sampler = new RssSampler(50);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const { rows } = await exportAttempts(store, { format }, fs.createWriteStream(out));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  // CPU seconds of this process (main thread and libuv's file writes): on a shared machine the
  // wall clock pays the other tenants' load, the CPU time much less.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const peak = sampler.stop();
  const bytes = fs.statSync(out).size;
  fs.rmSync(out);
  store.close();
  process.stdout.write(
    `${JSON.stringify({ format, rows, seconds: round(seconds, 2), rowsPerSecond: Math.round(rows / seconds), cpuSeconds: round(cpuSeconds, 2), rowsPerCpuSecond: Math.round(rows / cpuSeconds), loadAvg1: round(os.loadavg()[0]!, 2), fileMiB: round(bytes / MiB), baselineRssMiB: round(baseline), peakRssMiB: round(peak.peakMiB), peakOverBaselineMiB: round(peak.peakMiB - baseline) })}\n`,
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
else if (mode === '--measure') await measure(dirArg!, arg as 'csv' | 'ndjson');
else {
  const { quick } = args();
  const ROWS = quick ? 100_000 : 1_000_000;
  const scratch = scratchDir('export');
  try {
    const t0 = performance.now();
    child(['--fill', scratch.dir, String(ROWS)]);
    const dbMiB = round(fs.statSync(path.join(scratch.dir, 'outbox.sqlite3')).size / MiB);
    log(`export: inserted ${ROWS} attempt rows (${dbMiB} MiB database) in ${round((performance.now() - t0) / 1000)} s`);
    const csv = child(['--measure', scratch.dir, 'csv']);
    const ndjson = child(['--measure', scratch.dir, 'ndjson']);
    emit({ rows: ROWS, dbMiB, csv, ndjson });
  } finally {
    scratch.cleanup();
  }
}
