/**
 * Encoders of the delivery log: CSV (RFC 4180), one JSON array (RFC 8259), NDJSON (one JSON
 * text per line). Pure string functions; export.ts does the I/O.
 *
 * Threat: the log is full of text chosen by others — remote SMTP replies, host names, subjects,
 * recipient addresses. Opened in a spreadsheet, a cell such as `=HYPERLINK("http://x")` or
 * `@SUM(...)` is a formula that can exfiltrate data or run commands (CSV injection, OWASP).
 * Every CSV cell that could start a formula is neutralised with a leading `'`, and every cell
 * is quoted as RFC 4180 requires so a CR, LF, comma or quote in a reply cannot forge rows or
 * columns. JSON output relies on JSON.stringify, which escapes control characters and lone
 * surrogates (well-formed JSON.stringify), so a line of NDJSON can never be split.
 */
import type { ExportRow } from './attempt-rows';
import { DeliveryError } from '../errors';

export type ExportFormat = 'csv' | 'json' | 'ndjson';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'json', 'ndjson'];

export type Cell = string | number | boolean | null | undefined;

// OWASP "CSV Injection": = + - @ start a formula; TAB and CR do too in some spreadsheets
// (a leading control character is skipped before the formula is parsed). LF is added for
// the same reason — it costs nothing on a cell that starts with a line break.
const FORMULA_START = /^[=+\-@\t\r\n]/;
// RFC 4180 §2.6: fields containing line breaks, double quotes or commas must be quoted.
const NEEDS_QUOTES = /[",\r\n]/;

/** One CSV field: formula neutralised, then quoted when RFC 4180 requires it. */
export function csvField(v: Cell): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : String(v);
  // Numbers are neutralised too: a negative number reads the same as text in a spreadsheet,
  // and a column declared INTEGER in SQLite can still hold text.
  if (FORMULA_START.test(s)) s = `'${s}`;
  // RFC 4180 §2.7: a double quote inside a quoted field is escaped by doubling it.
  return NEEDS_QUOTES.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV record, CRLF-terminated (RFC 4180 §2.1). */
export function csvRecord(cells: readonly Cell[]): string {
  let line = '';
  for (let i = 0; i < cells.length; i++) line += (i ? ',' : '') + csvField(cells[i]);
  return `${line}\r\n`;
}

/** The CSV columns in order: header name and how to read it from a row. */
export const CSV_COLUMNS: readonly { header: string; get: (r: ExportRow) => Cell }[] = [
  { header: 'time', get: (r) => r.time },
  { header: 'message_id', get: (r) => r.messageId },
  { header: 'attempt_id', get: (r) => r.attemptId },
  { header: 'recipient', get: (r) => r.recipient },
  { header: 'domain', get: (r) => r.domain },
  { header: 'status', get: (r) => r.status },
  { header: 'transport', get: (r) => r.transport },
  { header: 'route', get: (r) => r.route },
  { header: 'security', get: (r) => r.security },
  { header: 'host', get: (r) => r.host },
  { header: 'ip', get: (r) => r.ip },
  { header: 'port', get: (r) => r.port },
  { header: 'tls_version', get: (r) => r.tlsVersion },
  { header: 'tls_cipher', get: (r) => r.tlsCipher },
  { header: 'cert_fingerprint', get: (r) => r.certFingerprint },
  { header: 'verification', get: (r) => r.verification },
  { header: 'verification_reason', get: (r) => r.verificationReason },
  { header: 'policy', get: (r) => r.policy },
  { header: 'tlsrpt_policy', get: (r) => r.tlsrptPolicy },
  { header: 'tlsrpt_failure', get: (r) => r.tlsrptFailure },
  { header: 'requiretls', get: (r) => r.requiretls },
  { header: 'plaintext_fallback', get: (r) => r.plaintextFallback },
  { header: 'reused_session', get: (r) => r.reusedSession },
  { header: 'tls_resumed', get: (r) => r.tlsResumed },
  { header: 'code', get: (r) => r.code },
  { header: 'enhanced_code', get: (r) => r.enhancedCode },
  { header: 'reply', get: (r) => r.reply },
  { header: 'error_code', get: (r) => r.errorCode },
  { header: 'stage', get: (r) => r.stage },
  { header: 'duration_ms', get: (r) => r.durationMs },
  { header: 'subject', get: (r) => r.subject },
];

/** Turns rows into text: begin(), row() per row, end(). */
export interface Encoder {
  /** Whether rows must carry the transcript. */
  readonly transcript: boolean;
  begin(): string;
  /**
   * One row. `transcriptJson` is the row's transcript as JSON text (attempt-rows.ts
   * transcriptJson), given exactly when `transcript` is true; `r.transcript` is not read.
   */
  row(r: ExportRow, index: number, transcriptJson?: string): string;
  /**
   * One row whose cells were already encoded (fast-records.ts): for CSV the cells joined by
   * commas, for JSON the members from the opening brace on, without the transcript and the
   * closing brace. Wrapped exactly as row() wraps its own text.
   */
  record(body: string, index: number, transcriptJson?: string): string;
  /** One value as this format writes it in a cell: csvField, or JSON.stringify. */
  cell(v: Cell): string;
  end(rows: number): string;
}

export interface EncoderOptions {
  /** CSV only: start with a UTF-8 BOM so Excel reads non-ASCII text correctly. */
  bom?: boolean | undefined;
}

/**
 * Memo of the last value seen per column and its encoded text. Consecutive rows repeat most
 * columns (the same host, cipher, message, domain…), and an encoding is a pure function of the
 * value, so an equal value reuses the text instead of re-running the guards and escapes.
 */
class LastValues {
  private readonly values: unknown[];
  private readonly texts: string[];

  constructor(n: number) {
    // A fresh object is equal to no cell value, so the first row encodes every cell.
    this.values = new Array<unknown>(n).fill({});
    this.texts = new Array<string>(n).fill('');
  }

  text(i: number, v: unknown, encode: (v: never) => string): string {
    if (this.values[i] === v) return this.texts[i]!;
    const t = encode(v as never);
    this.values[i] = v;
    this.texts[i] = t;
    return t;
  }
}

/** CSV records of rows, cell by cell (csvField), with the per-column memo. */
function csvRows(): (r: ExportRow) => string {
  const last = new LastValues(CSV_COLUMNS.length);
  return (r) => {
    let line = '';
    for (let i = 0; i < CSV_COLUMNS.length; i++) line += (i ? ',' : '') + last.text(i, CSV_COLUMNS[i]!.get(r), csvField);
    return `${line}\r\n`;
  };
}

/**
 * JSON texts of rows: the same text as JSON.stringify(row) (keys in the row's own order, each
 * value through JSON.stringify), with the per-key memo, and the transcript's JSON text put in
 * as it is given instead of being parsed and stringified again.
 */
function jsonRows(): (r: ExportRow, transcriptJson: string | undefined) => string {
  let keys: (keyof ExportRow)[] | null = null;
  let prefixes: string[] = [];
  let last: LastValues | null = null;
  const stringify = (v: never) => JSON.stringify(v) as string;
  return (r, transcriptJson) => {
    if (!keys) {
      // Every row comes from the same object literal (toExportRow): one shape, one key order.
      keys = (Object.keys(r) as (keyof ExportRow)[]).filter((k) => k !== 'transcript');
      prefixes = keys.map((k, i) => `${i ? ',' : '{'}${JSON.stringify(k)}:`);
      last = new LastValues(keys.length);
    }
    let text = '';
    for (let i = 0; i < keys.length; i++) text += prefixes[i]! + last!.text(i, r[keys[i]!], stringify);
    return jsonClose(text, transcriptJson);
  };
}

/** The end of one JSON row after its members: the transcript member when given, then "}". */
function jsonClose(members: string, transcriptJson: string | undefined): string {
  return transcriptJson === undefined ? `${members}}` : `${members}${members ? ',' : '{'}"transcript":${transcriptJson}}`;
}

const jsonCell = (v: Cell): string => (v === undefined ? 'null' : JSON.stringify(v));

export function encoderFor(format: ExportFormat, opts: EncoderOptions = {}): Encoder {
  switch (format) {
    case 'csv':
      return {
        transcript: false,
        begin: () => (opts.bom ? '\uFEFF' : '') + csvRecord(CSV_COLUMNS.map((c) => c.header)), // RFC 4180 §2.3 header
        row: csvRows(),
        record: (body) => `${body}\r\n`,
        cell: csvField,
        end: () => '',
      };
    case 'json': {
      // One array, written incrementally: "[", rows separated by ",", "]".
      const json = jsonRows();
      return {
        transcript: true,
        begin: () => '[',
        row: (r, i, t) => `${i ? ',' : ''}\n${json(r, t)}`,
        record: (body, i, t) => `${i ? ',' : ''}\n${jsonClose(body, t)}`,
        cell: jsonCell,
        end: (rows) => (rows ? '\n]\n' : ']\n'),
      };
    }
    case 'ndjson': {
      const json = jsonRows();
      return {
        transcript: true,
        begin: () => '',
        row: (r, _i, t) => `${json(r, t)}\n`,
        record: (body, _i, t) => `${jsonClose(body, t)}\n`,
        cell: jsonCell,
        end: () => '',
      };
    }
    default: {
      const never: never = format;
      throw new DeliveryError({
        code: 'INVALID_INPUT',
        stage: 'store',
        permanent: true,
        message: `format: expected csv, json or ndjson, got ${JSON.stringify(String(never)).slice(0, 40)}`,
      });
    }
  }
}
