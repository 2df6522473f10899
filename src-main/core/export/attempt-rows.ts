/**
 * The delivery log as flat rows: one row per attempt result, i.e. per (host try × recipient),
 * the shape a spreadsheet or `jq` wants. Each row carries what rules §9 and §12 ask the engine
 * to keep: the host and IP, TLS version and cipher, how the certificate was verified and why
 * not, the TLS policy that applied (DANE, MTA-STS mode) and the RFC 8460 §4.3 TLSRPT policy and
 * failure types, the SMTP reply (RFC 5321 §4.2 code, RFC 3463 enhanced code) and whether the
 * message fell back to plaintext (rules §4).
 *
 * Attempts without result rows — a DNS failure recorded for a whole domain, a connect failure
 * before any RCPT — still appear, as ONE row with an empty recipient whose status and reply are
 * the attempt's own (LEFT JOIN). Dropping them would hide exactly the failures a user exports
 * the log to investigate.
 *
 * Threat: the log can be millions of rows and is read while the queue keeps writing. Rows come
 * from better-sqlite3's `stmt.iterate()` one at a time (never `.all()`), ordered along the
 * `attempts_started` index so SQLite needs no sort buffer. An open iterator makes its
 * connection refuse writes ("connection is busy"), so callers that pause between rows must
 * iterate on a connection of their own (export.ts opens a read-only one); the stored values
 * may be corrupt or hostile, so every field is coerced to its type and never trusted to parse.
 */
import { domainToASCII } from 'node:url';
import type { Db } from '../store/db';
import { DeliveryError } from '../errors';
import { deliveredVerdict, failedVerdict } from '../../../shared/verdict';
import { MAX_TIME, isoTime } from './iso-time';

export { isoTime };

export const RESULT_STATUSES = ['delivered', 'deferred', 'failed', 'not-attempted'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export interface ExportTranscriptLine {
  at: number;
  dir: string;
  text: string;
}

/** One exported row. `recipient` is null for an attempt that has no per-recipient result. */
export interface ExportRow {
  attemptId: number;
  messageId: string;
  subject: string;
  recipient: string | null;
  domain: string;
  /** Start of the attempt, ISO 8601 UTC; null when the stored time is not a valid date. */
  time: string | null;
  status: ResultStatus | string;
  /** The transport that carried the attempt ("direct" without a matching route, rules §13). */
  transport: string;
  /** The id of the route that chose it, or null. */
  route: number | null;
  /** The recipient's security verdict in the app's words (shared/verdict.ts): delivered and failed rows only. */
  security: string | null;
  host: string | null;
  ip: string | null;
  port: number | null;
  tlsVersion: string | null;
  tlsCipher: string | null;
  certFingerprint: string | null;
  verification: string | null;
  verificationReason: string | null;
  /** 'dane', 'mta-sts enforce', 'mta-sts testing', 'dane + mta-sts enforce'… or 'none'. */
  policy: string;
  tlsrptPolicy: string | null;
  tlsrptFailure: string | null;
  requiretls: boolean;
  plaintextFallback: boolean;
  /** The attempt's session was kept from an earlier message (connection reuse). */
  reusedSession: boolean;
  /** The attempt's TLS session was resumed from an earlier connection's ticket (no certificate exchanged). */
  tlsResumed: boolean;
  code: number | null;
  enhancedCode: string | null;
  reply: string | null;
  errorCode: string | null;
  stage: string | null;
  durationMs: number | null;
  /** Only when asked for; null when the stored transcript is not a valid transcript. */
  transcript?: ExportTranscriptLine[] | null;
}

/** A point in time: ms since the epoch, or an ISO 8601 date / date-time with a UTC offset. */
export type TimeBound = number | string;

export interface AttemptRowFilter {
  /** Attempts started at or after this instant. */
  since?: TimeBound | undefined;
  /** Attempts started strictly before this instant. */
  until?: TimeBound | undefined;
  /** Keep rows whose status is one of these. */
  status?: ResultStatus | readonly ResultStatus[] | undefined;
  /** Recipient domain (U-label or A-label, any case). */
  domain?: string | undefined;
  messageId?: string | undefined;
}

export interface AttemptRowOptions {
  /** Read and parse each attempt's transcript (JSON and NDJSON carry it, CSV does not). */
  transcript?: boolean | undefined;
}

function invalid(message: string): DeliveryError {
  return new DeliveryError({ code: 'INVALID_INPUT', stage: 'store', permanent: true, message });
}

// ISO 8601 (RFC 3339 profile): a date alone (UTC by ECMAScript's rule), or a date-time that
// MUST carry Z or an offset — a bare local time would make the same command export different
// rows on machines in different time zones.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Parses a since/until bound into ms since the epoch; anything else is INVALID_INPUT. */
export function parseTimeBound(v: TimeBound, name: string): number {
  let ms: number;
  if (typeof v === 'number') ms = v;
  else if (/^\d{1,16}$/.test(v)) ms = Number(v);
  else if (ISO_DATE.test(v) || ISO_DATE_TIME.test(v)) ms = Date.parse(v.toUpperCase());
  else throw invalid(`${name}: expected ms since the epoch or an ISO 8601 date/time with Z or an offset, got ${JSON.stringify(v).slice(0, 80)}`);
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME) throw invalid(`${name}: not a valid point in time`);
  return ms;
}

/** The recipient domain as stored: A-label, lower case, no trailing dot (rules §1). */
function normalizeDomain(d: string): string {
  const ascii = domainToASCII(d.trim().replace(/\.$/, ''));
  if (!ascii) throw invalid(`domain: not a valid domain name: ${JSON.stringify(d).slice(0, 80)}`);
  return ascii.toLowerCase();
}

/** One readable column for the policy that governed the host (rules §2, §3). */
export function policyLabel(dane: unknown, mtaStsMode: unknown): string {
  const parts: string[] = [];
  if (dane === 1) parts.push('dane');
  // RFC 8461 §5: mode "none" means the domain has withdrawn its policy: no policy in force.
  if (mtaStsMode === 'enforce' || mtaStsMode === 'testing') parts.push(`mta-sts ${mtaStsMode}`);
  return parts.length ? parts.join(' + ') : 'none';
}

const str = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : String(v));
const num = (v: unknown): number | null => {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
};

/** The stored transcript, or null when it is not an array of {at, dir, text}. */
export function parseTranscript(raw: unknown): ExportTranscriptLine[] | null {
  if (typeof raw !== 'string') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed)) return null;
  const lines: ExportTranscriptLine[] = [];
  for (const l of parsed as unknown[]) {
    if (typeof l !== 'object' || l === null) return null;
    const { at, dir, text } = l as Record<string, unknown>;
    if (typeof at !== 'number' || typeof dir !== 'string' || typeof text !== 'string') return null;
    lines.push({ at, dir, text });
  }
  return lines;
}

// The exact text JSON.stringify writes for an array of {at, dir, text} with integer times:
// no whitespace, keys in that order, strings with only the escapes JSON.stringify itself
// uses (\" \\ \b \f \n \r \t) and no surrogate code units (it escapes lone ones, and a pair
// is left to the slow path rather than checked here). A stored transcript that is already in
// this form is its own export, without a parse and a re-stringify (most of an NDJSON export's
// time). Integers of at most 15 digits print back exactly as written; "-0" is excluded (it
// prints as "0").
const JSON_STRING = String.raw`"(?:[^"\\\u0000-\u001f\ud800-\udfff]|\\["\\bfnrt])*"`;
const JSON_INTEGER = String.raw`(?:0|-?[1-9][0-9]{0,14})`;
const CANONICAL_LINE = String.raw`\{"at":${JSON_INTEGER},"dir":${JSON_STRING},"text":${JSON_STRING}\}`;
const CANONICAL_TRANSCRIPT = new RegExp(String.raw`^\[(?:${CANONICAL_LINE}(?:,${CANONICAL_LINE})*)?\]$`);

/** JSON.stringify(parseTranscript(raw)), without parsing when `raw` is already that text. */
export function transcriptJson(raw: unknown): string {
  if (typeof raw === 'string' && CANONICAL_TRANSCRIPT.test(raw)) return raw;
  return JSON.stringify(parseTranscript(raw));
}

// A result row's own status; an attempt without results takes the attempt's outcome.
const STATUS_SQL = `CASE
    WHEN ar.attempt_id IS NOT NULL THEN ar.status
    WHEN a.permanent = 1 THEN 'failed'
    WHEN a.error_code IS NOT NULL OR a.code >= 400 THEN 'deferred'
    ELSE 'not-attempted' END`;

// The columns of one joined row (an attempt with its result, recipient and message), in
// SELECT order. Rows are read as arrays (better-sqlite3's raw mode): building an object with
// thirty named properties per row in native code cost more than everything else the export
// does, so a raw row is indexed by the positions in COL.
const SELECT = [
  ['attempt_id', 'a.id'],
  ['message_id', 'a.message_id'],
  ['subject', 'm.subject'],
  ['recipient', 'r.address'],
  ['has_result', 'ar.attempt_id IS NOT NULL'],
  ['status', STATUS_SQL],
  ['started_at', 'a.started_at'],
  ['duration_ms', 'a.duration_ms'],
  ['domain', 'a.domain'],
  ['host', 'a.host'],
  ['ip', 'a.ip'],
  ['port', 'a.port'],
  ['stage', 'a.stage'],
  ['starttls', 'a.starttls'],
  ['tls_version', 'a.tls_version'],
  ['tls_cipher', 'a.tls_cipher'],
  ['cert_fingerprint', 'a.cert_fingerprint'],
  ['verification', 'a.verification'],
  ['verification_reason', 'a.verification_reason'],
  ['mta_sts_mode', 'a.mta_sts_mode'],
  ['dane', 'a.dane'],
  ['requiretls', 'a.requiretls'],
  ['plaintext_fallback', 'a.plaintext_fallback'],
  ['reused_session', 'a.reused_session'],
  ['tls_resumed', 'a.tls_resumed'],
  ['tlsrpt_policy', 'a.tlsrpt_policy'],
  ['tlsrpt_failure', 'a.tlsrpt_failure'],
  // Result values win; when a result has no reply of its own (e.g. 'not-attempted' after the
  // session failed) the attempt's reply explains it.
  ['code', 'COALESCE(ar.code, a.code)'],
  ['enhanced_code', 'COALESCE(ar.enhanced_code, a.enhanced_code)'],
  ['reply', 'COALESCE(ar.reply, a.reply)'],
  ['error_code', 'a.error_code'],
  ['transport', 'a.transport'],
  ['route_id', 'a.route_id'],
  // Only selected when transcripts are asked for; always last.
  ['transcript', 'a.transcript'],
] as const;

export type ColumnName = (typeof SELECT)[number][0];
/** Position of each column in a raw row. */
export const COL = Object.fromEntries(SELECT.map(([name], i) => [name, i])) as Record<ColumnName, number>;
const EXPR = Object.fromEntries(SELECT) as Record<ColumnName, string>;

/** The SQL expression of a column of the joined row (aliases a, m, ar, r as in FROM_SQL). */
export function columnSql(name: ColumnName): string {
  return EXPR[name];
}

/** One joined row as read: values in SELECT order, of whatever type the database holds. */
export type RawAttemptRow = readonly unknown[];

/** The SELECT behind iterateAttemptRows, exposed so tests can check its query plan. */
export function attemptRowsQuery(
  filter: AttemptRowFilter = {},
  opts: AttemptRowOptions = {},
  only?: { attemptId: number },
): { sql: string; params: Record<string, unknown> } {
  const columns = SELECT.filter(([name]) => opts.transcript || name !== 'transcript').map(([name, expr]) => (expr === `a.${name}` ? expr : `${expr} AS ${name}`));
  return joinedRowsQuery(columns, filter, only);
}

/**
 * Any selection over the joined rows of the log, with the filter's WHERE and the one ORDER BY
 * (along the attempts_started index). `only` narrows it to one attempt's rows, in the same order.
 */
export function joinedRowsQuery(
  columns: readonly string[],
  filter: AttemptRowFilter = {},
  only?: { attemptId: number },
): { sql: string; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.since !== undefined) {
    where.push('a.started_at >= @since');
    params.since = parseTimeBound(filter.since, 'since');
  }
  if (filter.until !== undefined) {
    where.push('a.started_at < @until');
    params.until = parseTimeBound(filter.until, 'until');
  }
  if (filter.domain !== undefined) {
    where.push('a.domain = @domain');
    params.domain = normalizeDomain(filter.domain);
  }
  if (filter.messageId !== undefined) {
    where.push('a.message_id = @messageId');
    params.messageId = filter.messageId;
  }
  if (filter.status !== undefined) {
    const statuses = typeof filter.status === 'string' ? [filter.status] : [...filter.status];
    const names: string[] = [];
    statuses.forEach((s, i) => {
      if (!(RESULT_STATUSES as readonly string[]).includes(s)) throw invalid(`status: unknown status ${JSON.stringify(s).slice(0, 40)}`);
      names.push(`@status${i}`);
      params[`status${i}`] = s;
    });
    where.push(names.length ? `(${STATUS_SQL}) IN (${names.join(', ')})` : '0');
  }
  if (only) {
    where.push('a.id = @onlyAttemptId');
    params.onlyAttemptId = only.attemptId;
  }
  const sql = `
    SELECT ${columns.join(',\n           ')}
    FROM attempts a
    LEFT JOIN messages m ON m.id = a.message_id
    LEFT JOIN attempt_results ar ON ar.attempt_id = a.id
    LEFT JOIN recipients r ON r.id = ar.recipient_id
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY a.started_at, a.id, ar.recipient_id`;
  return { sql, params };
}

/**
 * The columns securityLabel and policyLabel read, and how: `text` values are compared as they
 * are (or read through str), `flag` values only as `=== 1`. The fast path (fast-records.ts)
 * keys its memo of both labels on exactly these.
 */
export const LABEL_INPUTS: readonly (readonly [ColumnName, 'text' | 'flag'])[] = [
  ['status', 'text'],
  ['verification', 'text'],
  ['mta_sts_mode', 'text'],
  ['starttls', 'flag'],
  ['plaintext_fallback', 'flag'],
  ['error_code', 'text'],
  ['enhanced_code', 'text'],
  ['dane', 'flag'],
];

/** The verdict words the outbox shows for this result (one vocabulary, shared/verdict.ts). */
export function securityLabel(j: RawAttemptRow): string | null {
  const status = j[COL.status];
  if (status === 'delivered') {
    const verification = (['dane-ee', 'dane-ta', 'pkix', 'none'] as const).find((v) => v === j[COL.verification]) ?? null;
    const mtaStsMode = (['enforce', 'testing', 'none'] as const).find((v) => v === j[COL.mta_sts_mode]) ?? null;
    return deliveredVerdict({ starttls: j[COL.starttls] === 1, plaintextFallback: j[COL.plaintext_fallback] === 1, verification, mtaStsMode, startedAt: 0 }).label;
  }
  if (status === 'failed') {
    return failedVerdict({ errorCode: str(j[COL.error_code]), enhancedCode: str(j[COL.enhanced_code]), dane: j[COL.dane] === 1, at: null }).label;
  }
  return null;
}

/** A raw row as an ExportRow: every value coerced to its type (stored values are not trusted). */
export function toExportRow(j: RawAttemptRow, transcript?: ExportTranscriptLine[] | null): ExportRow {
  const row: ExportRow = {
    attemptId: num(j[COL.attempt_id]) ?? 0,
    messageId: str(j[COL.message_id]) ?? '',
    subject: str(j[COL.subject]) ?? '',
    recipient: j[COL.has_result] ? str(j[COL.recipient]) : null,
    domain: str(j[COL.domain]) ?? '',
    time: isoTime(j[COL.started_at]),
    status: str(j[COL.status]) ?? '',
    transport: str(j[COL.transport]) ?? 'direct',
    route: num(j[COL.route_id]),
    security: securityLabel(j),
    host: str(j[COL.host]),
    ip: str(j[COL.ip]),
    port: num(j[COL.port]),
    tlsVersion: str(j[COL.tls_version]),
    tlsCipher: str(j[COL.tls_cipher]),
    certFingerprint: str(j[COL.cert_fingerprint]),
    verification: str(j[COL.verification]),
    verificationReason: str(j[COL.verification_reason]),
    policy: policyLabel(j[COL.dane], j[COL.mta_sts_mode]),
    tlsrptPolicy: str(j[COL.tlsrpt_policy]),
    tlsrptFailure: str(j[COL.tlsrpt_failure]),
    requiretls: j[COL.requiretls] === 1,
    plaintextFallback: j[COL.plaintext_fallback] === 1,
    reusedSession: j[COL.reused_session] === 1,
    tlsResumed: j[COL.tls_resumed] === 1,
    code: num(j[COL.code]),
    enhancedCode: str(j[COL.enhanced_code]),
    reply: str(j[COL.reply]),
    errorCode: str(j[COL.error_code]),
    stage: str(j[COL.stage]),
    durationMs: num(j[COL.duration_ms]),
  };
  if (transcript !== undefined) row.transcript = transcript;
  return row;
}

/** The attempt id of a raw row (rows arrive grouped by attempt). */
export function rawAttemptId(j: RawAttemptRow): unknown {
  return j[COL.attempt_id];
}

/** The stored transcript text of a raw row read with `transcript: true`. */
export function rawTranscript(j: RawAttemptRow): unknown {
  return j[COL.transcript];
}

/**
 * Raw rows of the delivery log, oldest attempt first, one per attempt result. Lazily: the
 * query runs on the first next(), and returning early (break, throw) closes the statement.
 * Filters are validated eagerly so a bad `since` fails before any output is written.
 */
export function iterateRawAttemptRows(db: Db, filter: AttemptRowFilter = {}, opts: AttemptRowOptions = {}): IterableIterator<RawAttemptRow> {
  const { sql, params } = attemptRowsQuery(filter, opts);
  const stmt = db.prepare(sql).raw(true);
  let it: IterableIterator<unknown> | undefined;
  const self: IterableIterator<RawAttemptRow> = {
    [Symbol.iterator]: () => self,
    next: () => {
      it ??= stmt.iterate(params) as IterableIterator<unknown>;
      return it.next() as IteratorResult<RawAttemptRow>;
    },
    return: (value?: unknown) => {
      it?.return?.();
      it = undefined;
      return { done: true, value: value as RawAttemptRow };
    },
  };
  return self;
}

/**
 * Streams the delivery log as ExportRows, oldest attempt first, one row per attempt result.
 * Same laziness and early-close guarantees as iterateRawAttemptRows.
 */
export function iterateAttemptRows(db: Db, filter: AttemptRowFilter = {}, opts: AttemptRowOptions = {}): Generator<ExportRow, void, undefined> {
  const raws = iterateRawAttemptRows(db, filter, opts);
  return (function* () {
    // Rows arrive grouped by attempt: parse each transcript once, not once per recipient.
    let lastAttempt: unknown = undefined;
    let lastTranscript: ExportTranscriptLine[] | null = null;
    try {
      for (const j of raws) {
        let transcript: ExportTranscriptLine[] | null | undefined;
        if (opts.transcript) {
          if (lastAttempt === undefined || rawAttemptId(j) !== lastAttempt) {
            lastAttempt = rawAttemptId(j);
            lastTranscript = parseTranscript(rawTranscript(j));
          }
          transcript = lastTranscript;
        }
        yield toExportRow(j, transcript);
      }
    } finally {
      raws.return?.();
    }
  })();
}
