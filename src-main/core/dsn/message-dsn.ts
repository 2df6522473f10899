/**
 * The DSN of one queued message, derived from what the store recorded: which recipients failed
 * (permanently, or because the outbox gave up) and which were reported delayed (rules §10
 * notices), with the last reply each got. Nothing extra is stored: the same facts always give
 * the same DSN, and the DSN never says more than the store knows.
 */
import fs from 'node:fs';
import type { Store } from '../store/store';
import type { RecipientRow } from '../store/rows';
import { composeDsn, ENHANCED_CODE, type DsnRecipient } from './dsn';

export interface MessageDsnOptions {
  reportingMta: string;
  /** The queue's lifetime: a delayed recipient is retried until created + lifetime. */
  lifetimeMs: number;
  /** Only these recipients (a notice's); default: every failed or delay-notified one. */
  recipientIds?: number[] | undefined;
  /** Date of the DSN; default: the newest notice of the message. */
  date?: number;
}

export interface MessageDsn {
  eml: Buffer;
  failed: number;
  delayed: number;
}

const HEAD_BYTES = 256 * 1024;

/** The original's header section (up to the first empty line), as sent. */
export function readHeaderSection(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const n = fs.readSync(fd, buf, 0, HEAD_BYTES, 0);
    const text = buf.subarray(0, n).toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    return buf.subarray(0, end < 0 ? n : end);
  } finally {
    fs.closeSync(fd);
  }
}

/** What the DSN says about one recipient, or null when there is nothing to report. */
function recipientBlock(store: Store, r: RecipientRow, createdAt: number, lifetimeMs: number): DsnRecipient | null {
  const failed = r.state === 'failed';
  const delayed = (r.state === 'queued' || r.state === 'deferred' || r.state === 'held' || r.state === 'sending') && r.delay_notified === 1;
  if (!failed && !delayed) return null;
  // The last result this recipient got on the wire (a give-up's own reply is our summary).
  const last = store.db
    .prepare(
      `SELECT a.host, a.started_at, ar.code, ar.enhanced_code, ar.reply FROM attempt_results ar JOIN attempts a ON a.id = ar.attempt_id
       WHERE ar.recipient_id = ? AND ar.status != 'not-attempted' ORDER BY a.started_at DESC, a.id DESC LIMIT 1`,
    )
    .get(r.id) as { host: string | null; started_at: number; code: number | null; enhanced_code: string | null; reply: string | null } | undefined;
  const code = last?.code ?? r.last_code;
  const enhanced = last?.enhanced_code ?? r.last_enhanced;
  const reply = last?.reply ?? r.last_reply;
  const status =
    enhanced && ENHANCED_CODE.test(enhanced)
      ? enhanced
      : failed
        ? // RFC 3463 §3.5 X.4.7 "delivery time expired" for a give-up without an enhanced code.
          r.last_error_code === 'GIVE_UP'
          ? '4.4.7'
          : code !== null && code >= 400 && code < 500
            ? '4.0.0'
            : '5.0.0'
        : '4.0.0';
  // The stored reply text may or may not repeat the code and enhanced code; say each once.
  const text = (reply ?? '').replace(new RegExp(`^${code ?? ''}[ -]?`), '').replace(enhanced ? new RegExp(`^${enhanced.replace(/\./g, '\\.')}\\s*`) : /^$/, '');
  const smtpDiagnostic = code !== null ? `${code}${enhanced ? ` ${enhanced}` : ''} ${text}`.trim() : null;
  return {
    finalRecipient: r.envelope,
    action: failed ? 'failed' : 'delayed',
    status,
    remoteMta: last?.host ?? r.last_host,
    smtpDiagnostic,
    explanation: smtpDiagnostic ? null : (r.last_reply ?? r.last_error_code),
    lastAttemptAt: last?.started_at ?? r.last_attempt_at,
    willRetryUntil: failed ? null : createdAt + lifetimeMs,
  };
}

/** The message's DSN, or null when no recipient failed or was reported delayed. */
export function messageDsn(store: Store, messageId: string, opts: MessageDsnOptions): MessageDsn | null {
  const m = store.messageRow(messageId);
  if (!m) return null;
  const only = opts.recipientIds ? new Set(opts.recipientIds) : null;
  const rows = store.db.prepare('SELECT * FROM recipients WHERE message_id = ? ORDER BY id').all(messageId) as RecipientRow[];
  const recipients = rows
    .filter((r) => !only || only.has(r.id))
    .map((r) => recipientBlock(store, r, m.created_at, opts.lifetimeMs))
    .filter((b): b is DsnRecipient => b !== null);
  if (recipients.length === 0) return null;
  const newestNotice = store.db.prepare('SELECT max(at) AS at FROM notices WHERE message_id = ?').get(messageId) as { at: number | null };
  let headers: Buffer;
  try {
    headers = readHeaderSection(store.absolutePath(m.raw_path));
  } catch {
    // The file is gone (retention, a damaged data folder): the report still stands without it.
    headers = Buffer.from(`Message-ID: ${m.message_id_header ?? '(unknown)'}\r\nSubject: ${m.subject}`, 'utf8');
  }
  const eml = composeDsn({
    reportingMta: opts.reportingMta,
    to: m.mail_from,
    subject: m.subject,
    originalMessageId: m.message_id_header,
    arrivalDate: m.created_at,
    date: opts.date ?? newestNotice.at ?? m.created_at,
    recipients,
    originalHeaders: headers,
    seed: `${messageId}|${recipients.map((r) => `${r.finalRecipient}:${r.action}:${r.status}`).join(',')}`,
  });
  return { eml, failed: recipients.filter((r) => r.action === 'failed').length, delayed: recipients.filter((r) => r.action === 'delayed').length };
}
