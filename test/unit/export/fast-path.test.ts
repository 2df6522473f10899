/**
 * The export's fast path (records built by SQL, checked in JS, see fast-records.ts) must write
 * exactly the bytes of the per-field path for ANY stored value, and must actually be taken for
 * clean rows. The reference here is the per-field path composed from its parts
 * (iterateRawAttemptRows → toExportRow → encoder.row, transcripts through JSON.stringify of
 * parseTranscript), so it does not depend on the code under test.
 *
 * The store is seeded with one clean row per attempt shape, then every column in turn gets every
 * hostile value (quotes, commas, CR/LF, TAB, NUL and other control characters, the record
 * builder's own placeholder characters, backslashes, formula starters, non-ASCII, invalid UTF-8
 * stored as TEXT, BLOBs, numbers stored as text, reals, integers beyond 2^53, out-of-range and
 * fractional times, the verdict's key words and prototype names), then seeded random mixes of
 * them. Foreign keys are off while seeding so dangling message and recipient ids occur too.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  iterateRawAttemptRows,
  parseTranscript,
  rawAttemptId,
  rawTranscript,
  toExportRow,
  type AttemptRowFilter,
} from '../../../src-main/core/export/attempt-rows';
import { exportAttempts, type ExportAttemptsOptions } from '../../../src-main/core/export/export';
import { encoderFor, type ExportFormat } from '../../../src-main/core/export/formats';
import type { Db } from '../../../src-main/core/store/db';
import { Store } from '../../../src-main/core/store/store';
import { prng } from '../../helpers/prng';
import { tmpDir } from '../../helpers/tmp';

const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);

/** A value to store: a JS value bound as a parameter, or a literal SQL expression. */
type Stored = { sql: string } | string | number | bigint | Buffer | null;

const TEXTS: Stored[] = [
  null,
  '',
  'plain',
  'a,b',
  'say "hi"',
  'a\r\nb',
  '\nlf first',
  'cr\rinside',
  '\ttab first',
  'tab\tinside',
  '=1+1',
  '+1',
  '-1',
  '@SUM(A1)',
  'nul\u0000inside',
  'nul\u0000, then a comma',
  'nul\u0000 then "a quote"',
  '\u0000',
  'ctl\u0001\u0002\u0003',
  '\u001f',
  '\u007f del',
  'back\\slash',
  'Zürich — 東京 ✉ \u2028 \u2029',
  'half \ud800 pair',
  '😀 pair',
  { sql: "CAST(x'3d80' AS TEXT)" }, // "=" then a stray continuation byte
  { sql: "CAST(x'e282' AS TEXT)" }, // truncated sequence at the end
  { sql: "CAST(x'eda080' AS TEXT)" }, // an encoded lone surrogate
  { sql: "CAST(x'c0af2c22' AS TEXT)" }, // overlong "/" then , and "
  Buffer.from('blob,"x"'),
  Buffer.from([0xff, 0x00, 0x41]),
  Buffer.from('enforce'),
  Buffer.from('CERT_INVALID'),
  'pkix',
  'dane-ee',
  'enforce',
  'testing',
  'none',
  'delivered',
  'failed',
  'CERT_INVALID',
  'TLS_REQUIRED',
  'constructor',
  '__proto__',
  'toString',
  '5.7.30',
  '1',
  ' 7 ',
  'x'.repeat(3000),
];

const NUMBERS: Stored[] = [
  null,
  0,
  1,
  2,
  -1,
  25,
  587,
  250,
  -250,
  1.5,
  -0.5,
  1 / 3, // SQLite prints 0.33333333333333332, JS 0.3333333333333333
  9e300,
  1e20,
  999_999_999_999_999,
  1_234_567_890_123_456,
  9_007_199_254_740_993n,
  -9_223_372_036_854_775_808n,
  'x25',
  ' 421 ',
  '1e3',
  '',
  Buffer.from('25'),
  { sql: "CAST(x'3235' AS TEXT)" },
];

const TIMES: Stored[] = [T0, T0 + 0.5, 0, -1, -1.5, 951_782_400_000, 253_402_300_799_999, 253_402_300_800_000, 8.64e15, 8.64e15 + 1, -8.64e15, -62_198_755_200_000, 9e300, 'noon', Buffer.from('1')];

/** The attempt columns and the values each one is tried with. */
const ATTEMPT_COLUMNS: Record<string, Stored[]> = {
  message_id: TEXTS.filter((v) => v !== null),
  started_at: TIMES,
  duration_ms: NUMBERS.filter((v) => v !== null),
  domain: TEXTS.filter((v) => v !== null),
  host: TEXTS,
  ip: TEXTS,
  port: NUMBERS,
  stage: TEXTS,
  starttls: NUMBERS.filter((v) => v !== null),
  tls_version: TEXTS,
  tls_cipher: TEXTS,
  cert_fingerprint: TEXTS,
  verification: [null, 'dane-ee', 'dane-ta', 'pkix', 'none'],
  verification_reason: TEXTS,
  mta_sts_mode: TEXTS,
  dane: NUMBERS.filter((v) => v !== null),
  requiretls: NUMBERS.filter((v) => v !== null),
  plaintext_fallback: NUMBERS.filter((v) => v !== null),
  reused_session: NUMBERS.filter((v) => v !== null),
  tls_resumed: NUMBERS.filter((v) => v !== null),
  tlsrpt_policy: TEXTS,
  tlsrpt_failure: TEXTS,
  code: NUMBERS,
  enhanced_code: TEXTS,
  reply: TEXTS,
  error_code: TEXTS,
  permanent: NUMBERS.filter((v) => v !== null),
  transport: TEXTS.filter((v) => v !== null),
  route_id: NUMBERS,
  transcript: [
    '[]',
    JSON.stringify([{ at: T0, dir: 'c', text: 'EHLO x' }]),
    JSON.stringify([{ at: 1.5, dir: 's', text: '\u2028"\\' }]),
    '{bad',
    '[{"at":1}]',
    { sql: "CAST(x'5b7b226174223a312c22646972223a2263222c2274657874223a22ff227d5d' AS TEXT)" }, // canonical shape, invalid UTF-8 inside
  ],
};

const RESULT_COLUMNS: Record<string, Stored[]> = {
  status: ['delivered', 'deferred', 'failed', 'not-attempted'],
  code: NUMBERS,
  enhanced_code: TEXTS,
  reply: TEXTS,
};

/** A clean attempt: what the engine writes for a delivered message. */
const CLEAN_ATTEMPT: Record<string, Stored> = {
  message_id: 'm-clean',
  started_at: T0,
  duration_ms: 84,
  domain: 'example.org',
  host: 'mx1.example.org',
  ip: '192.0.2.7',
  port: 25,
  stage: 'data',
  starttls: 1,
  tls_version: 'TLSv1.3',
  tls_cipher: 'TLS_AES_256_GCM_SHA384',
  cert_fingerprint: 'ab'.repeat(32),
  verification: 'pkix',
  verification_reason: null,
  mta_sts_mode: 'enforce',
  dane: 0,
  requiretls: 0,
  plaintext_fallback: 0,
  reused_session: 0,
  tls_resumed: 0,
  tlsrpt_policy: 'sts',
  tlsrpt_failure: null,
  code: 250,
  enhanced_code: '2.0.0',
  reply: 'Ok: queued as 4Xb1Zq3k2Mz9',
  error_code: null,
  permanent: 0,
  transcript: JSON.stringify([
    { at: T0, dir: 's', text: '220 mx1.example.org ESMTP' },
    { at: T0 + 3, dir: 'c', text: 'EHLO sender.example' },
  ]),
  transport: 'direct',
  route_id: null,
};
const CLEAN_RESULT: Record<string, Stored> = { status: 'delivered', code: 250, enhanced_code: '2.0.0', reply: 'Ok: queued as 4Xb1Zq3k2Mz9' };

class Seeder {
  private attemptId = 0;
  private time = T0;
  private readonly recipients: number[] = [];

  constructor(private readonly db: Db) {
    const msg = db.prepare(
      `INSERT INTO messages (id, created_at, mail_from, from_header, subject, size, raw_path) VALUES (?, ?, 'me@sender.example', 'me@sender.example', ?, 1, ?)`,
    );
    const rcpt = db.prepare(`INSERT INTO recipients (message_id, address, envelope, domain, updated_at) VALUES (?, ?, 'x@example.org', 'example.org', 0)`);
    const subjects: Stored[] = ['clean subject', ...TEXTS.filter((v) => typeof v === 'string')];
    subjects.forEach((s, i) => msg.run(i === 0 ? 'm-clean' : `m${i}`, T0, s, `messages/m${i}.eml`));
    // Messages whose subject is stored as invalid UTF-8 or a BLOB (written past the column's intent).
    db.prepare(`INSERT INTO messages (id, created_at, mail_from, from_header, subject, size, raw_path) VALUES ('m-raw', 0, 'a', 'a', CAST(x'2cff22' AS TEXT), 1, 'x')`).run();
    db.prepare(`INSERT INTO messages (id, created_at, mail_from, from_header, subject, size, raw_path) VALUES ('m-blob', 0, 'a', 'a', x'3d2c', 1, 'x')`).run();
    const addresses: Stored[] = ['alice@example.org', 'jörg@bücher.example', ...TEXTS.filter((v) => typeof v === 'string' && v !== '')];
    for (const a of addresses) this.recipients.push(Number(rcpt.run('m-clean', a).lastInsertRowid));
  }

  /** The message ids a row may point at (the last ones are odd, one is dangling). */
  messageIds(): string[] {
    return ['m-clean', 'm1', 'm3', 'm4', 'm10', 'm14', 'm20', 'm-raw', 'm-blob', 'm-missing'];
  }

  /** Recipient ids, the first ones clean; -1 is dangling. */
  recipientIds(): number[] {
    return [...this.recipients, 9_999_999];
  }

  attempt(over: Record<string, Stored>, results: Record<string, Stored>[]): void {
    const id = ++this.attemptId;
    this.time += 1000;
    const row: Record<string, Stored> = { ...CLEAN_ATTEMPT, started_at: this.time, ...over };
    insert(this.db, 'attempts', { id, ...row });
    for (const r of results) insert(this.db, 'attempt_results', { attempt_id: id, ...r });
  }
}

function insert(db: Db, table: string, values: Record<string, Stored>): void {
  const cols = Object.keys(values);
  const params: unknown[] = [];
  const exprs = cols.map((c) => {
    const v = values[c];
    if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) return v.sql;
    params.push(v);
    return '?';
  });
  db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${exprs.join(', ')})`).run(...params);
}

function seedHostile(db: Db): { cleanAttempts: number } {
  const s = new Seeder(db);
  const rcpts = s.recipientIds();
  const clean = (over: Record<string, Stored> = {}): Record<string, Stored> => ({ ...CLEAN_RESULT, recipient_id: rcpts[0]!, ...over });
  // Clean rows first: delivered, deferred, failed, several recipients, no result at all.
  s.attempt({}, [clean()]);
  s.attempt({ code: 451, enhanced_code: '4.7.1', reply: 'Greylisted, try again later', error_code: 'TEMPORARY' }, [
    clean({ status: 'deferred', code: 451, enhanced_code: '4.7.1', reply: 'Greylisted, try "again" later' }),
    clean({ recipient_id: rcpts[1]!, status: 'deferred', code: 451, enhanced_code: '4.7.1', reply: null }),
  ]);
  s.attempt({ error_code: 'CERT_INVALID', dane: 1, verification: 'dane-ee', code: 550 }, [clean({ status: 'failed', code: 550, enhanced_code: '5.7.1', reply: 'no' })]);
  s.attempt({ host: null, ip: null, port: null, stage: 'dns', starttls: 0, tls_version: null, tls_cipher: null, cert_fingerprint: null, verification: null, code: null, enhanced_code: null, reply: 'SERVFAIL', error_code: 'DNS_TEMPORARY' }, []);
  s.attempt({ route_id: 3, transport: 'relay-1', reused_session: 1, tls_resumed: 1, requiretls: 1, plaintext_fallback: 1 }, [clean({ status: 'not-attempted', code: null, enhanced_code: null, reply: null })]);
  const cleanAttempts = 5;
  // Every attempt column with every value, the rest clean.
  for (const [col, values] of Object.entries(ATTEMPT_COLUMNS)) {
    for (const v of values) s.attempt({ [col]: v }, col === 'transcript' ? [clean(), clean({ recipient_id: rcpts[1]! })] : [clean()]);
  }
  for (const [col, values] of Object.entries(RESULT_COLUMNS)) for (const v of values) s.attempt({}, [clean({ [col]: v })]);
  for (const m of s.messageIds()) s.attempt({ message_id: m }, [clean()]);
  // Crafted so that, were a quote in an unquoted cell let through, the record would still parse
  // into the right number of CSV cells: `e,"x` opens a quoted cell that `y"` closes, and `s,t`
  // makes up for the cell lost.
  s.attempt({ error_code: 'y"', stage: 's,t' }, [clean({ enhanced_code: 'e,"x', reply: 'r' })]);
  // The labels' inputs joined: the same joined text from different values (a separator inside
  // a value) must not share a memo entry — CERT_INVALID is a certificate failure, the other not.
  s.attempt({ error_code: 'CERT_INVALID\u001f=Z' }, [clean({ status: 'failed', enhanced_code: 'W' })]);
  s.attempt({ error_code: 'CERT_INVALID' }, [clean({ status: 'failed', enhanced_code: 'Z\u001f=W' })]);
  // A BLOB and a TEXT of the same bytes: policyLabel sees a Buffer, which is no "enforce".
  s.attempt({ mta_sts_mode: Buffer.from('enforce') }, [clean()]);
  s.attempt({ mta_sts_mode: 'enforce' }, [clean()]);
  s.attempt({ mta_sts_mode: Buffer.from('enforce') }, [clean()]);
  for (const r of rcpts) s.attempt({}, [clean({ recipient_id: r })]);
  // Random mixes, several results per attempt, sometimes none.
  const rand = prng(0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const attemptCols = Object.keys(ATTEMPT_COLUMNS);
  const resultCols = Object.keys(RESULT_COLUMNS);
  for (let i = 0; i < 1500; i++) {
    const over: Record<string, Stored> = { message_id: pick(s.messageIds()) };
    for (let k = Math.floor(rand() * 4); k > 0; k--) {
      const col = pick(attemptCols);
      over[col] = pick(ATTEMPT_COLUMNS[col]!);
    }
    const results: Record<string, Stored>[] = [];
    const n = Math.floor(rand() * 4);
    const used = new Set<number>();
    for (let j = 0; j < n; j++) {
      const recipient = pick(rcpts);
      if (used.has(recipient)) continue;
      used.add(recipient);
      const r: Record<string, Stored> = clean({ recipient_id: recipient });
      if (rand() < 0.5) {
        const col = pick(resultCols);
        r[col] = pick(RESULT_COLUMNS[col]!);
      }
      results.push(r);
    }
    s.attempt(over, results);
  }
  return { cleanAttempts };
}

/** The per-field path, composed from its parts: what every byte of the export must equal. */
function reference(db: Db, format: ExportFormat, filter: AttemptRowFilter, bom = false): Buffer {
  const enc = encoderFor(format, { bom });
  let text = enc.begin();
  let n = 0;
  let last: unknown = undefined;
  let transcript: string | undefined;
  for (const raw of iterateRawAttemptRows(db, filter, { transcript: enc.transcript })) {
    if (enc.transcript && (last === undefined || rawAttemptId(raw) !== last)) {
      last = rawAttemptId(raw);
      transcript = JSON.stringify(parseTranscript(rawTranscript(raw)));
    }
    text += enc.row(toExportRow(raw), n++, transcript);
  }
  return Buffer.from(text + enc.end(n), 'utf8');
}

async function exported(store: Store, opts: ExportAttemptsOptions): Promise<{ bytes: Buffer; rows: number; fastRows: number }> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  const stats = { fastRows: -1 };
  const { rows } = await exportAttempts(store, { ...opts, stats }, out);
  return { bytes: Buffer.concat(chunks), rows, fastRows: stats.fastRows };
}

function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const at = Math.max(0, i - 120);
  return `at byte ${i}:\n got  ${JSON.stringify(a.subarray(at, i + 120).toString('utf8'))}\n want ${JSON.stringify(b.subarray(at, i + 120).toString('utf8'))}`;
}

describe('export fast path', () => {
  let t: ReturnType<typeof tmpDir>;
  let store: Store;
  let rowsTotal = 0;

  beforeAll(() => {
    t = tmpDir('outbox-export-fast-');
    store = Store.open(t.dir);
    store.db.pragma('foreign_keys = OFF');
    store.db.transaction(() => seedHostile(store.db))();
    store.db.pragma('foreign_keys = ON');
    rowsTotal = [...iterateRawAttemptRows(store.db)].length;
  }, 120_000);

  afterAll(() => {
    store?.close();
    t?.cleanup();
  });

  const CASES: [string, ExportAttemptsOptions][] = [
    ['csv', { format: 'csv' }],
    ['csv with BOM, 1-char chunks', { format: 'csv', bom: true, chunkChars: 1 }],
    ['ndjson', { format: 'ndjson' }],
    ['json', { format: 'json' }],
    ['json, 97-char chunks', { format: 'json', chunkChars: 97 }],
    ['csv, failed and delivered only', { format: 'csv', status: ['failed', 'delivered'] }],
    ['ndjson, since/until', { format: 'ndjson', since: T0 + 50_000, until: T0 + 900_000 }],
  ];

  for (const [name, opts] of CASES) {
    it(`${name}: byte-identical to the per-field path over hostile values`, async () => {
      const { bytes, rows, fastRows } = await exported(store, opts);
      const filter: AttemptRowFilter = { since: opts.since, until: opts.until, status: opts.status };
      const want = reference(store.db, opts.format, filter, opts.bom);
      if (!bytes.equals(want)) expect.fail(firstDifference(bytes, want));
      expect(rows).toBeGreaterThan(opts.since === undefined && opts.status === undefined ? rowsTotal - 1 : 100);
      // Both paths ran: hostile rows went the per-field way, clean ones the fast way.
      expect(fastRows).toBeGreaterThan(0);
      expect(fastRows).toBeLessThan(rows);
    });
  }

  it('takes the fast path for every clean row', async () => {
    // The first five attempts (six rows) are what the engine writes: none may fall back.
    const since = T0 + 1000;
    const until = T0 + 6 * 1000;
    for (const format of ['csv', 'ndjson', 'json'] as const) {
      const { bytes, rows, fastRows } = await exported(store, { format, since, until });
      expect(bytes.equals(reference(store.db, format, { since, until }))).toBe(true);
      expect(rows).toBe(6);
      expect(fastRows).toBe(6);
    }
  });

  it('takes the fast path for most rows of a realistic log', async () => {
    const u = tmpDir('outbox-export-fast-real-');
    const real = Store.open(u.dir);
    try {
      const s = new Seeder(real.db);
      const rcpts = s.recipientIds();
      real.db.transaction(() => {
        for (let i = 0; i < 300; i++) {
          const deferred = i % 3 !== 0;
          s.attempt(
            deferred ? { code: 451, enhanced_code: '4.7.1', reply: 'Greylisted, try again later', error_code: 'TEMPORARY', host: `mx${i % 7}.example.org` } : { mta_sts_mode: i % 2 ? 'testing' : null },
            [{ ...CLEAN_RESULT, recipient_id: rcpts[i % 2]!, status: deferred ? 'deferred' : 'delivered', reply: deferred ? 'Greylisted, "try" again later' : `2.0.0 Ok: queued as ${i}` }],
          );
        }
      })();
      for (const format of ['csv', 'ndjson'] as const) {
        const { bytes, rows, fastRows } = await exported(real, { format });
        expect(bytes.equals(reference(real.db, format, {}))).toBe(true);
        expect(rows).toBe(300);
        expect(fastRows).toBe(300);
      }
    } finally {
      real.close();
      u.cleanup();
    }
  });
});
