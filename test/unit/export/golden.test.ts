/**
 * The export's exact bytes, pinned: CSV (with and without BOM), JSON and NDJSON of a fixed store
 * are compared with files under golden/. The seed holds hostile text in every kind of column
 * (formula starters, quotes, commas, CR/LF, U+2028, non-ASCII, an attempt without results) and
 * rows whose stored values have the wrong type or are corrupt (text in INTEGER columns, a real
 * port, a time out of range, a bad transcript, a lone surrogate), so a faster encoder or read
 * path that changes one byte — quoting, the formula guard, key order, number formatting, the
 * "not a number" fallbacks — fails here.
 *
 * The golden files were written by the export as it was before the fast path (main at dad184d);
 * regenerate them only for an intended format change: GOLDEN_WRITE=1 npx vitest run … golden.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportAttempts, type ExportAttemptsOptions } from '../../../src-main/core/export/export';
import { HOUR, T0, seedStore, type Seeded } from './seed';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');

let s: Seeded;
beforeEach(() => {
  s = seedStore();
  addOddRows(s);
});
afterEach(() => s.cleanup());

/** Attempts whose stored values are of the wrong type or corrupt, written past the repo's types. */
function addOddRows({ store, rcpt }: Seeded): void {
  const db = store.db;
  const ins = db.prepare(
    `INSERT INTO attempts (id, message_id, started_at, duration_ms, domain, host, ip, port, stage, starttls, tls_version, tls_cipher,
       cert_fingerprint, verification, verification_reason, mta_sts_mode, dane, requiretls, plaintext_fallback, reused_session, tls_resumed,
       tlsrpt_policy, tlsrpt_failure, code, enhanced_code, reply, error_code, permanent, transcript, transport, route_id)
     VALUES (@id, @message_id, @started_at, @duration_ms, @domain, @host, @ip, @port, @stage, @starttls, @tls_version, @tls_cipher,
       @cert_fingerprint, @verification, @verification_reason, @mta_sts_mode, @dane, @requiretls, @plaintext_fallback, @reused_session, @tls_resumed,
       @tlsrpt_policy, @tlsrpt_failure, @code, @enhanced_code, @reply, @error_code, @permanent, @transcript, @transport, @route_id)`,
  );
  const base = {
    message_id: 'm3',
    duration_ms: 7,
    domain: 'plain.example',
    host: 'mx.plain.example',
    ip: '::1',
    port: 25,
    stage: 'rcpt',
    starttls: 1,
    tls_version: 'TLSv1.2',
    tls_cipher: 'ECDHE-RSA-AES128-GCM-SHA256',
    cert_fingerprint: null,
    verification: 'pkix',
    verification_reason: null,
    mta_sts_mode: 'none',
    dane: 0,
    requiretls: 0,
    plaintext_fallback: 0,
    reused_session: 0,
    tls_resumed: 0,
    tlsrpt_policy: null,
    tlsrpt_failure: null,
    code: 250,
    enhanced_code: '2.0.0',
    reply: 'ok',
    error_code: null,
    permanent: 0,
    transcript: '[]',
    transport: 'direct',
    route_id: null,
  };
  const rows: Record<string, unknown>[] = [
    // Numbers stored as text, a real port, a route, a reused session, a resumed TLS session, REQUIRETLS.
    { id: 10, started_at: T0 + 4 * HOUR, port: '587', code: ' 421 ', duration_ms: 1.5, route_id: '3', reused_session: 1, tls_resumed: 1, requiretls: 1, transport: 'relay-1', verification: 'dane-ta', dane: 1, mta_sts_mode: 'enforce' },
    // Text that is no number, a negative number, a huge integer, a time out of range, a bad transcript.
    // tls_resumed 2 is no "resumed" (only 1 is).
    { id: 11, started_at: 9e300, tls_resumed: 2, port: 'x25', code: -250, duration_ms: 9007199254740993n, transcript: '{not json', reply: '-neg, "q"', permanent: 1, error_code: 'TLS_REQUIRED', stage: 'tls' },
    // A transcript line of the wrong shape, a lone surrogate, a leading "+" in several cells.
    { id: 12, started_at: T0 + 5 * HOUR, transcript: '[{"at":1}]', reply: 'half \ud800 pair', host: '+mx', ip: '@ip', tls_cipher: '=cipher', error_code: null, code: 452 },
    // A good transcript with escapes and extra keys; verification NULL; 0 duration; time 0.
    {
      id: 13,
      started_at: 0,
      duration_ms: 0,
      verification: null,
      mta_sts_mode: 'testing',
      code: null,
      enhanced_code: null,
      reply: null,
      transcript: JSON.stringify([{ at: 5, dir: 'c', text: 'MAIL FROM:<a\tb@x>\r\n"q"\\', extra: true }, { at: -1.25, dir: 's', text: '\u2028\u0000' }]),
    },
  ];
  for (const r of rows) ins.run({ ...base, ...r });
  // Results for the odd attempts: one with a text code, one corrupt status-less reply, two recipients on one attempt.
  const insR = db.prepare('INSERT INTO attempt_results (attempt_id, recipient_id, status, code, enhanced_code, reply) VALUES (?, ?, ?, ?, ?, ?)');
  insR.run(10, rcpt.get('c@plain.example')!, 'deferred', '451', '4.4.1', null);
  insR.run(12, rcpt.get('c@plain.example')!, 'failed', 550, '5.7.1', '\nstarts with LF');
  insR.run(12, rcpt.get('a@example.org')!, 'delivered', 250, null, '');
}

async function exportText(opts: ExportAttemptsOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  await exportAttempts(s.store, { chunkChars: 97, ...opts }, out);
  return Buffer.concat(chunks);
}

const CASES: [string, ExportAttemptsOptions][] = [
  ['all.csv', { format: 'csv' }],
  ['all-bom.csv', { format: 'csv', bom: true }],
  ['all.ndjson', { format: 'ndjson' }],
  ['all.json', { format: 'json' }],
  ['delivered-failed.csv', { format: 'csv', status: ['delivered', 'failed'] }],
  ['since.ndjson', { format: 'ndjson', since: T0 + HOUR, domain: 'PLAIN.example' }],
  ['empty.json', { format: 'json', messageId: 'none' }],
  ['empty.csv', { format: 'csv', messageId: 'none' }],
];

describe('export golden output', () => {
  for (const [file, opts] of CASES) {
    it(`${file} is byte-identical to the pinned output`, async () => {
      const got = await exportText(opts);
      const target = path.join(GOLDEN, file);
      if (process.env.GOLDEN_WRITE === '1') {
        fs.mkdirSync(GOLDEN, { recursive: true });
        fs.writeFileSync(target, got);
      }
      const want = fs.readFileSync(target);
      // Compare as text first for a readable diff, then as bytes (a BOM or a replacement character).
      expect(got.toString('utf8')).toBe(want.toString('utf8'));
      expect(got.equals(want)).toBe(true);
    });
  }

  it('the same bytes whatever the chunk size', async () => {
    for (const format of ['csv', 'ndjson', 'json'] as const) {
      const small = await exportText({ format, chunkChars: 1 });
      const big = await exportText({ format, chunkChars: 1 << 20 });
      expect(small.equals(big)).toBe(true);
      expect(small.equals(fs.readFileSync(path.join(GOLDEN, `all.${format}`)))).toBe(true);
    }
  });
});
