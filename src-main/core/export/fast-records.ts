/**
 * The export's fast path: SQLite builds each row's record text, JavaScript checks it and fills
 * in the computed cells. Reading a row as its ~31 separate values cost more than all the rest of
 * the export — better-sqlite3 makes one JS value per column — while SQLite joins them into one
 * string for much less, provided it does so with few function calls (each costs about as much
 * as a value crossing into JS). A row now crosses as its attempt id, its start time, one record
 * string and one short string of its labels' inputs (plus the transcript for JSON and NDJSON).
 *
 * The record is the per-field path's text (formats.ts Encoder.row of attempt-rows.ts
 * toExportRow) for ANY stored value, or it is rejected and that row goes the per-field way,
 * re-read from the same snapshot (test/unit/export/fast-path.test.ts compares both, byte for
 * byte, over hostile values in every column):
 * - CSV (RFC 4180 §2): the free-text cells are quoted by SQL as csvField quotes them; every other
 *   cell is its value as it is, with any `"` made poison. One anchored regular expression per
 *   record, generated from the same field list as the SQL, checks the cell count, the formula
 *   guard (no cell may start with = + - @ TAB CR LF) and that no unquoted cell needs quotes.
 * - JSON (RFC 8259): SQLite's json_object writes the object; its string escaping is
 *   JSON.stringify's for a string decoded from UTF-8.
 * - Numbers: a row whose number cells SQL would print otherwise than JS (a BLOB, text, a
 *   fraction, an integer beyond 2^53) is poison.
 * A stray byte of invalid UTF-8 decodes to U+FFFD the same inside the record as alone, since
 * every cell boundary is an ASCII character. Not covered: a number stored in a TEXT column,
 * which SQLite never writes (type affinity turns it into text) and only a file edited byte by
 * byte holds; such a REAL would be printed as SQLite prints it.
 *
 * The computed cells stay the per-field path's own functions: the time through isoTime, the two
 * labels memoised on the string of their inputs (LABEL_INPUTS, tagged so that equal strings mean
 * equal inputs); a miss computes them from the row as the per-field path reads it.
 */
import type { Db } from '../store/db';
import {
  COL,
  LABEL_INPUTS,
  attemptRowsQuery,
  columnSql,
  isoTime,
  joinedRowsQuery,
  policyLabel,
  securityLabel,
  toExportRow,
  transcriptJson,
  type AttemptRowFilter,
  type ColumnName,
  type ExportRow,
  type RawAttemptRow,
} from './attempt-rows';
import { CSV_COLUMNS, type Encoder, type ExportFormat } from './formats';

/** How toExportRow reads each field: the rule the record's SQL and its check must follow. */
type Field =
  | { kind: 'text'; col: ColumnName; fallback: string | null } // str(v) ?? fallback
  | { kind: 'num'; col: ColumnName; fallback: number | null } // num(v) ?? fallback
  | { kind: 'flag'; col: ColumnName } // v === 1
  | { kind: 'recipient' } // has_result ? str(recipient) : null
  | { kind: 'time' | 'security' | 'policy' }; // computed in JS

type FieldKey = Exclude<keyof ExportRow, 'transcript'>;

const text = (col: ColumnName, fallback: string | null = null): Field => ({ kind: 'text', col, fallback });
const num = (col: ColumnName, fallback: number | null = null): Field => ({ kind: 'num', col, fallback });
const flag = (col: ColumnName): Field => ({ kind: 'flag', col });

// Mirrors toExportRow field by field; checked against it when this module loads.
const FIELDS: Record<FieldKey, Field> = {
  attemptId: num('attempt_id', 0),
  messageId: text('message_id', ''),
  subject: text('subject', ''),
  recipient: { kind: 'recipient' },
  domain: text('domain', ''),
  time: { kind: 'time' },
  status: text('status', ''),
  transport: text('transport', 'direct'),
  route: num('route_id'),
  security: { kind: 'security' },
  host: text('host'),
  ip: text('ip'),
  port: num('port'),
  tlsVersion: text('tls_version'),
  tlsCipher: text('tls_cipher'),
  certFingerprint: text('cert_fingerprint'),
  verification: text('verification'),
  verificationReason: text('verification_reason'),
  policy: { kind: 'policy' },
  tlsrptPolicy: text('tlsrpt_policy'),
  tlsrptFailure: text('tlsrpt_failure'),
  requiretls: flag('requiretls'),
  plaintextFallback: flag('plaintext_fallback'),
  reusedSession: flag('reused_session'),
  tlsResumed: flag('tls_resumed'),
  code: num('code'),
  enhancedCode: text('enhanced_code'),
  reply: text('reply'),
  errorCode: text('error_code'),
  stage: text('stage'),
  durationMs: num('duration_ms'),
};

// The JSON members are written in toExportRow's key order (formats.ts jsonRows); a field added
// there but not here would silently be missing from the fast records, so refuse to load.
const JSON_KEYS = Object.keys(toExportRow(new Array<unknown>(Object.keys(COL).length).fill(null))) as FieldKey[];
if (JSON_KEYS.length !== Object.keys(FIELDS).length || JSON_KEYS.some((k) => !(k in FIELDS))) {
  throw new Error(`fast-records: FIELDS does not match toExportRow (${JSON_KEYS.join(',')})`);
}

/** The ExportRow key each CSV column reads (its getter, run on a recorder). */
const CSV_KEYS: FieldKey[] = CSV_COLUMNS.map((c) => {
  let key: string | symbol | undefined;
  c.get(new Proxy({} as ExportRow, { get: (_t, k) => ((key = k), undefined) }));
  if (typeof key !== 'string' || !(key in FIELDS)) throw new Error(`fast-records: CSV column ${c.header} reads no known field`);
  return key as FieldKey;
});

// Computed cells are left as placeholders U+0001–U+0003, numbered in the order they appear in
// the record; a record SQL cannot render exactly holds U+0004 (CSV) or is it (JSON), which no
// check lets through. Neither can pass for a stored value: CSV text cells may not hold them
// (the check), json_object escapes every control character in a string.
const PLACEHOLDERS = ['\u0001', '\u0002', '\u0003'];
const POISON_SQL = 'char(4)';
const sqlText = (s: string) => `'${s.replaceAll("'", "''")}'`;
// Integers JS reads exactly (better-sqlite3 gives a double; beyond 2^53 it is rounded).
const MAX_SAFE = '9007199254740991';

function valueSql(f: Field): string {
  switch (f.kind) {
    case 'recipient':
      return `CASE WHEN ${columnSql('has_result')} THEN ${columnSql('recipient')} END`;
    case 'text':
    case 'num':
    case 'flag':
      return columnSql(f.col);
    default:
      throw new Error(`fast-records: ${f.kind} is computed in JS`);
  }
}

/**
 * Whether every number cell holds what SQL and JS print alike: NULL or an integer within 2^53.
 * One predicate for the row, of comparisons and CASTs only (SQLite opcodes; a function call per
 * cell costs more than the value crossing into JS would). `x = CAST(x AS INTEGER)` is false for
 * a BLOB, for text and for a fractional REAL.
 */
function numbersOkSql(fields: readonly Field[]): string {
  const terms = fields.map((f) => {
    const v = valueSql(f);
    return `(${v} IS NULL OR (${v} = CAST(${v} AS INTEGER) AND ${v} BETWEEN -${MAX_SAFE} AND ${MAX_SAFE}))`;
  });
  return terms.length ? terms.join(' AND ') : '1';
}

const flagSql = (f: Field, yes: string, no: string) => `CASE WHEN ${valueSql(f)} = 1 THEN ${yes} ELSE ${no} END`;

const isComputed = (f: Field): f is { kind: 'time' | 'security' | 'policy' } => f.kind === 'time' || f.kind === 'security' || f.kind === 'policy';

interface Layout {
  /** SQL of the record text. */
  sql: string;
  /** Whether a record is exactly the per-field path's text (with its computed cells). */
  check: (record: string) => boolean;
  /** The computed fields, in record order, each with the text that stands for it. */
  computed: { kind: 'time' | 'security' | 'policy'; marker: string; value: string }[];
  /** Characters to drop from the record's end (JSON: its closing brace, which record() adds). */
  trim: number;
}

// CSV: the free-text columns, which often hold commas and quotes, are quoted by SQL as csvField
// quotes them (RFC 4180 §2.6–2.7). Every other cell is written as it is, and any `"` in a run
// of them becomes poison: then quotes only occur in properly quoted cells, so a record has
// exactly one RFC 4180 parse, the check's cells are SQL's cells, and a comma, CR or LF that
// would need quoting in another cell makes the cell count or the check fail. (GLOB stops at a
// NUL: a value with a NUL before its comma or quote is left unquoted, and its cell then fails.)
const CSV_QUOTED = new Set<FieldKey>(['subject', 'reply', 'verificationReason']);
const CSV_TEXT = String.raw`(?:[^",\r\n=+\-@\t\u0001-\u0004][^",\r\n\u0001-\u0004]*)?`;
// A quoted cell may not start with a formula starter either (csvField would put a ' first).
const CSV_QUOTED_CELL = String.raw`(?:"(?![=+\-@\t\r\n])(?:[^"\u0001-\u0004]|"")*"|${CSV_TEXT})`;
// "-" is a formula starter: negative numbers go the per-field way. At most 15 digits.
const CSV_NUM = String.raw`(?:0|[1-9]\d{0,14})`;
const FLAG = '(?:true|false)';

function csvLayout(): Layout {
  const cells: string[] = [];
  const re: string[] = [];
  const computed: Layout['computed'] = [];
  const numbers: Field[] = [];
  let run: string[] = [];
  const endRun = () => {
    if (run.length) cells.push(`replace(concat(${run.join(", ',', ")}), '"', ${POISON_SQL})`);
    run = [];
  };
  for (const key of CSV_KEYS) {
    const f = FIELDS[key];
    if (isComputed(f)) {
      endRun();
      const marker = PLACEHOLDERS[computed.length]!;
      computed.push({ kind: f.kind, marker, value: '' });
      cells.push(`char(${computed.length})`);
      re.push(marker);
    } else if (CSV_QUOTED.has(key)) {
      endRun();
      const v = valueSql(f);
      cells.push(`CASE WHEN ${v} GLOB '*[",\r\n]*' THEN '"' || replace(${v}, '"', '""') || '"' ELSE ${v} END`);
      re.push(CSV_QUOTED_CELL);
    } else if (f.kind === 'num') {
      numbers.push(f);
      run.push(f.fallback === null ? valueSql(f) : `ifnull(${valueSql(f)}, ${sqlText(String(f.fallback))})`);
      re.push(f.fallback === null ? `${CSV_NUM}?` : CSV_NUM);
    } else if (f.kind === 'flag') {
      run.push(flagSql(f, "'true'", "'false'"));
      re.push(FLAG);
    } else {
      const fallback = f.kind === 'text' ? f.fallback : null;
      run.push(fallback ? `ifnull(${valueSql(f)}, ${sqlText(fallback)})` : valueSql(f));
      re.push(CSV_TEXT);
    }
  }
  endRun();
  const check = new RegExp(`^${re.join(',')}$`);
  // A number cell SQL would print otherwise than JS poisons the whole record.
  const sql = `concat(CASE WHEN ${numbersOkSql(numbers)} THEN '' ELSE ${POISON_SQL} END, ${cells.join(", ',', ")})`;
  return { sql, check: (r) => check.test(r), computed, trim: 0 };
}

// JSON: the whole object is built by SQLite's json_object, whose strings escape exactly what
// JSON.stringify escapes in a string decoded from UTF-8 (`"`, `\`, U+0000–U+001F, with the same
// \b \f \n \r \t short forms and lower-case \u00xx) and copy every other byte; invalid UTF-8
// decodes the same inside the object as alone (each string's boundary is ASCII). Text is CAST
// first (json_object refuses a BLOB; its bytes as TEXT are what str() decodes); a row whose
// number cells SQL would print otherwise than JS is poison instead. Computed members hold a
// control character, which json_object writes as `"\u000N"` and no value can produce after its
// key (inside a JSON string every quote is escaped).
function jsonLayout(): Layout {
  const args: string[] = [];
  const computed: Layout['computed'] = [];
  const numbers: Field[] = [];
  for (const key of JSON_KEYS) {
    const f = FIELDS[key];
    args.push(sqlText(key));
    if (isComputed(f)) {
      const n = computed.length + 1;
      computed.push({ kind: f.kind, marker: `${JSON.stringify(key)}:"\\u000${n}"`, value: `${JSON.stringify(key)}:` });
      args.push(`char(${n})`);
    } else if (f.kind === 'num') {
      numbers.push(f);
      args.push(f.fallback === null ? valueSql(f) : `ifnull(${valueSql(f)}, ${f.fallback})`);
    } else if (f.kind === 'flag') {
      args.push(flagSql(f, "json('true')", "json('false')"));
    } else {
      const fallback = f.kind === 'text' ? f.fallback : null;
      const v = `CAST(${valueSql(f)} AS TEXT)`;
      args.push(fallback !== null ? `ifnull(${v}, ${sqlText(fallback)})` : v);
    }
  }
  const sql = `CASE WHEN ${numbersOkSql(numbers)} THEN json_object(${args.join(', ')}) ELSE ${POISON_SQL} END`;
  return { sql, check: (r) => r.charCodeAt(0) === 0x7b, computed, trim: 1 };
}

const LAYOUTS: Record<ExportFormat, Layout> = { csv: csvLayout(), json: jsonLayout(), ndjson: jsonLayout() };

// The labels' inputs as one string: a text value tagged "=" (or "#" for a BLOB, which the labels
// see as a Buffer: a BLOB never equals its CAST to TEXT) and NULL as nothing; a flag as SQL's
// `v = 1`, which is JS's `v === 1` for every storable value. Separated by U+001F: a key with
// exactly the expected number of separators was split into the same values, so equal keys mean
// equal inputs and equal labels.
const LABEL_SEPARATOR = '\u001f';
const LABEL_KEY_SQL = `concat(${LABEL_INPUTS.map(([col, how]) =>
  how === 'flag' ? `(${columnSql(col)} = 1)` : `CASE WHEN ${columnSql(col)} = CAST(${columnSql(col)} AS TEXT) THEN '=' ELSE '#' END || ${columnSql(col)}`,
).join(', char(31), ')})`;

function separators(s: string): number {
  let n = 0;
  for (let i = s.indexOf(LABEL_SEPARATOR); i !== -1; i = s.indexOf(LABEL_SEPARATOR, i + 1)) n++;
  return n;
}

// Columns of a fast row.
const ID = 0;
const STARTED_AT = 1;
const RECORD = 2;
const LABEL_KEY = 3;
const TRANSCRIPT = 4;

export interface RecordCounts {
  rows: number;
  /** Rows written from the record SQLite built (the rest went the per-field way). */
  fastRows: number;
}

/**
 * The encoded export, in chunks of at least `chunkChars` characters (the last may be shorter):
 * the encoder's begin(), every row, its end(). Lazy; returning early closes the statement.
 * Filters are validated and the statements prepared before the first chunk is asked for.
 */
export function encodedChunks(db: Db, filter: AttemptRowFilter, format: ExportFormat, encoder: Encoder, chunkChars: number, counts: RecordCounts): Generator<string, void, undefined> {
  const layout = LAYOUTS[format];
  const columns = [columnSql('attempt_id'), columnSql('started_at'), layout.sql, LABEL_KEY_SQL];
  if (encoder.transcript) columns.push(columnSql('transcript'));
  const fast = joinedRowsQuery(columns, filter);
  const stmt = db.prepare(fast.sql).raw(true);
  const slow = attemptRowsQuery(filter, { transcript: false }, { attemptId: 0 });
  const slowStmt = db.prepare(slow.sql).raw(true);
  const memo = new Map<string, { security: string; policy: string }>();
  const check = layout.check;
  const computed = layout.computed;
  const trim = layout.trim;

  return (function* () {
    let buf = encoder.begin();
    let n = 0;
    let lastAttempt: unknown = undefined;
    let ordinal = 0;
    let transcript: string | undefined;
    // The current attempt's rows as the per-field path reads them, once one of them is needed.
    let slowRows: RawAttemptRow[] | null = null;
    const slowRow = (attemptId: unknown): RawAttemptRow => {
      slowRows ??= slowStmt.all({ ...slow.params, onlyAttemptId: attemptId }) as RawAttemptRow[];
      const raw = slowRows[ordinal];
      // Same connection, same read transaction: the row is there unless SQLite broke its snapshot.
      if (!raw) throw new Error(`export: attempt ${String(attemptId)} row ${ordinal} vanished while reading`);
      return raw;
    };
    for (const r of stmt.iterate(fast.params) as IterableIterator<unknown[]>) {
      const id = r[ID];
      if (lastAttempt === undefined || id !== lastAttempt) {
        lastAttempt = id;
        ordinal = 0;
        slowRows = null;
        // Rows arrive grouped by attempt: each transcript becomes JSON once per attempt.
        if (encoder.transcript) transcript = transcriptJson(r[TRANSCRIPT]);
      } else {
        ordinal++;
      }
      const record = r[RECORD];
      if (typeof record === 'string' && check(record)) {
        const key = r[LABEL_KEY] as string;
        let labels = memo.get(key);
        if (!labels) {
          const raw = slowRow(id);
          labels = { security: encoder.cell(securityLabel(raw)), policy: encoder.cell(policyLabel(raw[COL.dane], raw[COL.mta_sts_mode])) };
          if (separators(key) === LABEL_INPUTS.length - 1) {
            if (memo.size >= 4096) memo.clear();
            memo.set(key, labels);
          }
        }
        let body = '';
        let from = 0;
        for (let k = 0; k < computed.length; k++) {
          const c = computed[k]!;
          const at = record.indexOf(c.marker, from);
          body += record.slice(from, at) + c.value + (c.kind === 'time' ? encoder.cell(isoTime(r[STARTED_AT])) : c.kind === 'security' ? labels.security : labels.policy);
          from = at + c.marker.length;
        }
        buf += encoder.record(body + record.slice(from, record.length - trim), n++, transcript);
        counts.fastRows++;
      } else {
        buf += encoder.row(toExportRow(slowRow(id)), n++, transcript);
      }
      if (buf.length >= chunkChars) {
        yield buf;
        buf = '';
      }
    }
    counts.rows = n;
    buf += encoder.end(n);
    if (buf) yield buf;
  })();
}
