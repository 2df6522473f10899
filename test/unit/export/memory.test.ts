/**
 * The export streams: exporting a very large log to a file must not grow the process by more
 * than a few tens of MB. A version that loads rows with .all() or ignores backpressure needs
 * hundreds of MB at these sizes and fails here. Figures (rows/s, peak RSS growth) are logged,
 * never asserted as times.
 *
 * Seeding a million rows takes ~17 s on the dev machine (well under the 60 s budget), so the
 * full size always runs: a smaller log could hide a leak under the threshold.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportAttempts } from '../../../src-main/core/export/export';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../store/fixtures';

const MB = 1024 * 1024;
const T0 = Date.UTC(2024, 0, 1);

/** Inserts `n` attempts with one result each, in one transaction with prepared statements. */
function seedBig(store: Store, n: number): void {
  const messages = 1000;
  for (let m = 0; m < messages; m++) store.insertMessage(newMessage(`big${m}`, T0, [`rcpt${m}@example.org`]));
  const rcptOf = (store.db.prepare('SELECT id FROM recipients ORDER BY id').all() as { id: number }[]).map((r) => r.id);
  const insAttempt = store.db.prepare(
    `INSERT INTO attempts (message_id, started_at, duration_ms, domain, host, ip, port, starttls, tls_version, tls_cipher,
       verification, mta_sts_mode, tlsrpt_policy, code, enhanced_code, reply, transcript)
     VALUES (?, ?, 80, 'example.org', 'mx.example.org', '127.0.0.1', 25, 1, 'TLSv1.3', 'TLS_AES_128_GCM_SHA256',
       'pkix', 'enforce', 'sts', 451, '4.7.1', ?, ?)`,
  );
  const insResult = store.db.prepare("INSERT INTO attempt_results (attempt_id, recipient_id, status, code, enhanced_code, reply) VALUES (?, ?, 'deferred', 451, '4.7.1', ?)");
  const transcript = JSON.stringify([
    { at: T0, dir: 'c', text: 'RCPT TO:<x@example.org>' },
    { at: T0 + 1, dir: 's', text: '451 4.7.1 try later' },
  ]);
  store.db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const m = i % messages;
      const { lastInsertRowid } = insAttempt.run(`big${m}`, T0 + i, '=greylisted, "try" later', transcript);
      insResult.run(lastInsertRowid, rcptOf[m]!, i % 7 === 0 ? '-1 @x' : 'try later');
    }
  })();
}

/** Counts LF bytes of a file without reading it into memory. */
async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  }
  return n;
}

function bigSuite(n: number) {
  let t: ReturnType<typeof tmpDir>;
  let store: Store;

  beforeAll(() => {
    t = tmpDir('outbox-export-big-');
    store = Store.open(t.dir);
    const start = performance.now();
    seedBig(store, n);
    const s = (performance.now() - start) / 1000;
    console.log(`[export ${n}] seeded ${n} attempts + results in ${s.toFixed(1)} s`);
  }, 600_000);

  afterAll(() => {
    store?.close();
    t?.cleanup();
  });

  for (const format of ['csv', 'ndjson'] as const) {
    it(`exports ${n} rows as ${format} to a file with flat memory`, async () => {
      const file = path.join(t.dir, `log.${format}`);
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sample = () => {
        peak = Math.max(peak, process.memoryUsage().rss);
      };
      const timer = setInterval(sample, 5);
      const start = performance.now();
      let rows: number;
      try {
        ({ rows } = await exportAttempts(store, { format }, fs.createWriteStream(file)));
      } finally {
        clearInterval(timer);
      }
      sample();
      const secs = (performance.now() - start) / 1000;
      const growth = (peak - baseline) / MB;
      const size = fs.statSync(file).size / MB;
      console.log(
        `[export ${n}] ${format}: ${rows} rows, ${size.toFixed(0)} MB file in ${secs.toFixed(1)} s ` +
          `(${Math.round(rows / secs).toLocaleString('en')} rows/s), peak RSS growth ${growth.toFixed(1)} MB`,
      );
      expect(rows).toBe(n);
      // CSV: header + one line per row (no value here holds a line break); NDJSON: one per row.
      expect(await countLines(file)).toBe(format === 'csv' ? n + 1 : n);
      expect(growth).toBeLessThan(100);
      fs.rmSync(file);
    }, 600_000);
  }
}

describe('export memory, 1M rows', () => bigSuite(1_000_000));
