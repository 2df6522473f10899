/**
 * Delivery Status Notifications: the machine-readable report of what happened to a message,
 * composed the way mail servers send them, so any mail client shows it threaded with the
 * original and any bounce processor can read it (mox's dsn package is the model).
 *
 * - RFC 6522 (was RFC 3462): multipart/report; report-type=delivery-status, with three parts —
 *   a human-readable text, the message/delivery-status report, the original's header section
 *   as text/rfc822-headers (RFC 6522 §4: headers only, the body is not repeated).
 * - RFC 3464 §2.2: per-message fields (Reporting-MTA, Arrival-Date), then §2.3 one block per
 *   recipient (Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date,
 *   Will-Retry-Until). RFC 6533 (message/global-delivery-status, utf-8 address type) when a
 *   recipient address is not ASCII.
 * - RFC 5322 §3.6.4: In-Reply-To and References name the original Message-ID, so clients thread
 *   the notice under the message it reports on. RFC 3834 §5: Auto-Submitted: auto-replied.
 *
 * Threat addressed: a remote server's reply text lands in header fields here; it is reduced to
 * printable characters on one line, so a hostile reply cannot inject header fields or parts.
 */
import crypto from 'node:crypto';
import { encodeWords } from 'nodemailer/lib/mime-funcs';

export type DsnAction = 'failed' | 'delayed';

export interface DsnRecipient {
  /** The envelope address (RCPT TO). */
  finalRecipient: string;
  action: DsnAction;
  /** RFC 3463 enhanced status code, e.g. 5.1.1. */
  status: string;
  /** The host that gave the reply, when one did. */
  remoteMta: string | null;
  /** The SMTP reply ("550 5.1.1 no such user"), when the failure was an SMTP reply. */
  smtpDiagnostic: string | null;
  /** What went wrong in words, when there was no SMTP reply (DNS, TLS, connect). */
  explanation: string | null;
  lastAttemptAt: number | null;
  /** Delayed only: when the outbox stops trying. */
  willRetryUntil: number | null;
}

export interface DsnInput {
  /** Our host name (EHLO name): Reporting-MTA and the right side of the DSN's Message-ID. */
  reportingMta: string;
  /** The original sender, the DSN's To. */
  to: string;
  subject: string;
  /** The original Message-ID header value (with angle brackets), for threading. */
  originalMessageId: string | null;
  arrivalDate: number;
  /** Date of the DSN itself. */
  date: number;
  recipients: DsnRecipient[];
  /** The original message's header section, bytes as sent (CRLF line ends). */
  originalHeaders: Buffer;
  /** Seeds the boundary and Message-ID so the same facts give the same DSN. */
  seed: string;
}

/** RFC 3463 §2: class.subject.detail. */
export const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** One header-safe line: no controls (CR, LF, NUL...), no runaway length. */
function oneLine(s: string, max = 900): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, max);
}

function asciiLine(s: string, max?: number): string {
  return oneLine(s, max).replace(/[^\x20-\x7e]/g, '?');
}

function rfc5322Date(ms: number): string {
  // toUTCString gives "Tue, 01 Dec 2026 21:44:44 GMT"; RFC 5322 §3.3 wants a numeric zone.
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

/** RFC 5322 §2.2.3: folds before a space so no line passes 78 characters where it can help. */
function field(name: string, value: string): string {
  const lines: string[] = [];
  let line = `${name}:`;
  for (const word of value.split(' ')) {
    if (line.length + 1 + word.length > 76 && line.trim().length > name.length + 1) {
      lines.push(line);
      line = '';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines.join('\r\n');
}

const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);

/** The DSN as the bytes of an RFC 5322 message (CRLF). */
export function composeDsn(input: DsnInput): Buffer {
  if (input.recipients.length === 0) throw new Error('a DSN reports on at least one recipient');
  for (const r of input.recipients) {
    if (!ENHANCED_CODE.test(r.status)) throw new Error(`not an RFC 3463 status code: ${r.status}`);
  }
  const digest = crypto.createHash('sha256').update(input.seed).digest('hex');
  const boundary = `=_dsn_${digest.slice(0, 24)}`;
  const host = asciiLine(input.reportingMta, 253);
  const global = input.recipients.some((r) => !isAscii(r.finalRecipient));
  const failed = input.recipients.filter((r) => r.action === 'failed');
  const kind = failed.length > 0 ? 'Failure' : 'Delay';

  const headers = [
    field('From', `Mail Delivery System <MAILER-DAEMON@${host}>`),
    field('To', `<${oneLine(input.to, 320)}>`),
    field('Subject', encodeWords(oneLine(`Delivery Status Notification (${kind}): ${input.subject}`, 500), 'Q', 52)),
    field('Date', rfc5322Date(input.date)),
    field('Message-ID', `<dsn.${digest.slice(0, 32)}@${host}>`),
    ...(input.originalMessageId
      ? [field('In-Reply-To', asciiLine(input.originalMessageId)), field('References', asciiLine(input.originalMessageId))]
      : []),
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=${global ? 'global-delivery-status' : 'delivery-status'};\r\n boundary="${boundary}"`,
  ];

  // Part 1 (RFC 6522 §3): for a person.
  const human = [
    failed.length > 0
      ? 'Your message could not be delivered to one or more recipients.'
      : 'Your message has not been delivered yet to one or more recipients. Direct Outbox is still trying; you do not need to send it again.',
    '',
    ...input.recipients.flatMap((r) => [
      `${r.action === 'failed' ? 'Failed' : 'Delayed'}: ${oneLine(r.finalRecipient, 320)}`,
      ...(r.remoteMta ? [`  Server: ${oneLine(r.remoteMta, 253)}`] : []),
      `  ${r.smtpDiagnostic ? `The server replied: ${oneLine(r.smtpDiagnostic)}` : oneLine(r.explanation ?? `status ${r.status}`)}`,
      ...(r.willRetryUntil ? [`  Will keep trying until ${new Date(r.willRetryUntil).toUTCString()}`] : []),
      '',
    ]),
    `Original subject: ${oneLine(input.subject, 500)}`,
  ].join('\r\n');

  // Part 2 (RFC 3464 §2.1): per-message fields, blank line, one block per recipient.
  const perMessage = [`Reporting-MTA: dns; ${host}`, `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`];
  const perRecipient = input.recipients.map((r) => {
    // RFC 3464 §2.3.2; RFC 6533 §3 for the utf-8 address type.
    const lines = [`Final-Recipient: ${isAscii(r.finalRecipient) ? 'rfc822' : 'utf-8'}; ${oneLine(r.finalRecipient, 320)}`, `Action: ${r.action}`, `Status: ${r.status}`];
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${asciiLine(r.remoteMta, 253)}`);
    // RFC 3464 §2.3.6: diagnostic-type "smtp" carries the reply as the server sent it.
    if (r.smtpDiagnostic) lines.push(field('Diagnostic-Code', `smtp; ${global ? oneLine(r.smtpDiagnostic) : asciiLine(r.smtpDiagnostic)}`));
    if (r.lastAttemptAt !== null) lines.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
    if (r.action === 'delayed' && r.willRetryUntil !== null) lines.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    return lines.join('\r\n');
  });
  const report = [perMessage.join('\r\n'), ...perRecipient].join('\r\n\r\n');

  // Part 3 (RFC 6522 §4): the original's header section, ending before the blank line.
  const original = input.originalHeaders.toString('latin1').replace(/(\r?\n)+$/, '');
  const originalBytes = Buffer.from(original.replace(/\r?\n/g, '\r\n'), 'latin1');
  const eightBitHeaders = originalBytes.some((b) => b >= 0x80);

  const parts: Buffer[] = [
    Buffer.from(`${headers.join('\r\n')}\r\n\r\nThis is a delivery status notification (RFC 3464).\r\n\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ${isAscii(human) ? '7bit' : '8bit'}\r\n\r\n${human}\r\n\r\n`),
    Buffer.from(
      `--${boundary}\r\nContent-Type: message/${global ? 'global-delivery-status' : 'delivery-status'}\r\nContent-Transfer-Encoding: ${isAscii(report) ? '7bit' : '8bit'}\r\n\r\n${report}\r\n\r\n`,
    ),
    Buffer.from(`--${boundary}\r\nContent-Type: ${eightBitHeaders ? 'message/global-headers' : 'text/rfc822-headers'}\r\nContent-Transfer-Encoding: ${eightBitHeaders ? '8bit' : '7bit'}\r\n\r\n`),
    originalBytes,
    Buffer.from(`\r\n\r\n--${boundary}--\r\n`),
  ];
  return Buffer.concat(parts);
}
