/**
 * The draft a user composes, and its validation before it becomes a queued message.
 *
 * Threats: header injection through any value that ends up in a header line (RFC 5322 §2.2:
 * a header field is one line; a CR or LF inside a value starts a new field — an added Bcc, a
 * forged From — or ends the header section early), attachments that are not plain files (a FIFO
 * or a device would block or stream forever), and drafts so large that composing them would
 * fill the disk. Errors are values tied to a field (and an entry of a list) so the composer can
 * show them where the user typed.
 *
 * RFC 8689: the TLS mode is one enum, so REQUIRETLS (§4) and "TLS-Required: No" (§5) cannot
 * both be requested — they are mutually exclusive by construction (delivery-rules.md §6).
 */
import fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { FieldError, ParsedAddress } from './address';
import { hasControlChars, parseMailbox, parseNamedMailbox } from './address';
import { MAX_SUBJECT_CHARS } from '../../../shared/domain';
import { unsafeTextProblem } from '../../../shared/text';

export type { FieldError } from './address';

/** 'default': opportunistic STARTTLS; 'requiretls': RFC 8689 §4; 'tls-optional': RFC 8689 §5. */
import type { TlsMode } from '../../../shared/domain';

export type { TlsMode };

export interface DraftAttachment {
  /** Absolute path of a regular file; streamed when the message is built. */
  path: string;
  /** Name shown to the recipient; defaults to the file's base name. */
  filename?: string;
  /** MIME type; detected from the file name when absent. */
  contentType?: string;
}

export interface Draft {
  /** The sender identity: bare address and optional display name. */
  from: { address: string; name?: string };
  /** Each entry is one mailbox in header form: `a@b`, `Name <a@b>`, `"Last, First" <a@b>`. */
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string[];
  subject: string;
  text: string;
  html?: string;
  attachments: DraftAttachment[];
  tlsMode: TlsMode;
}

export interface DraftLimits {
  /** Upper bound on the estimated message size in bytes. Default 50 MiB. */
  maxMessageBytes?: number;
  /** Upper bound on to+cc+bcc entries. Default 1000. */
  maxRecipients?: number;
  /** Upper bound on attachments. Default 100. */
  maxAttachments?: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024;
const DEFAULT_MAX_RECIPIENTS = 1000;
const DEFAULT_MAX_ATTACHMENTS = 100;
export { MAX_SUBJECT_CHARS };

export type RecipientKind = 'to' | 'cc' | 'bcc';

export interface DraftAddresses {
  from: ParsedAddress;
  to: ParsedAddress[];
  cc: ParsedAddress[];
  bcc: ParsedAddress[];
  replyTo: ParsedAddress[];
}

const TLS_MODES: readonly string[] = ['default', 'requiretls', 'tls-optional'];
/** RFC 2045 §5.1: type "/" subtype, tokens; parameters allowed, printable ASCII only. */
const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(?:\s*;[\u0020-\u007e]*)?$/;

/**
 * Parses every address of a draft. Synchronous and pure: the composer can call it on each
 * keystroke. Returns the parsed addresses when there is no error in any address field.
 */
export function parseDraftAddresses(draft: Draft): { value?: DraftAddresses; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const d = (draft ?? {}) as Partial<Draft>;
  const fromR = parseNamedMailbox(d.from as Draft['from'], { field: 'from' });
  if (!fromR.ok) errors.push(fromR.error);

  const list = (field: 'to' | 'cc' | 'bcc' | 'replyTo'): ParsedAddress[] => {
    const raw = d[field];
    if (raw === undefined && (field === 'replyTo' || field === 'cc' || field === 'bcc')) return [];
    if (!Array.isArray(raw)) {
      errors.push({ field, code: 'bad-syntax', message: `${field} must be a list of addresses` });
      return [];
    }
    const out: ParsedAddress[] = [];
    raw.forEach((entry: unknown, index) => {
      const r = parseMailbox(entry as string, { field, index });
      if (r.ok) out.push(r.value);
      else errors.push(r.error);
    });
    return out;
  };
  const to = list('to');
  const cc = list('cc');
  const bcc = list('bcc');
  const replyTo = list('replyTo');
  if (errors.length || !fromR.ok) return { errors };
  return { value: { from: fromR.value, to, cc, bcc, replyTo }, errors };
}

/**
 * All the checks a draft must pass before it is built: addresses, header values, recipients,
 * attachments (readable regular files), estimated size. Never throws; returns [] when valid.
 */
export async function validateDraft(draft: Draft, limits: DraftLimits = {}): Promise<FieldError[]> {
  const errors: FieldError[] = [];
  if (!draft || typeof draft !== 'object') {
    return [{ field: 'draft', code: 'bad-syntax', message: 'draft is missing' }];
  }
  const maxBytes = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxRecipients = limits.maxRecipients ?? DEFAULT_MAX_RECIPIENTS;
  const maxAttachments = limits.maxAttachments ?? DEFAULT_MAX_ATTACHMENTS;

  const parsed = parseDraftAddresses(draft);
  errors.push(...parsed.errors);

  // RFC 5321 §3.3: a transaction needs at least one RCPT; Bcc-only is fine.
  const count = lengthOf(draft.to) + lengthOf(draft.cc) + lengthOf(draft.bcc);
  if (count === 0) errors.push({ field: 'to', code: 'no-recipients', message: 'add at least one recipient' });
  if (count > maxRecipients) {
    errors.push({ field: 'to', code: 'too-many-recipients', message: `at most ${maxRecipients} recipients per message` });
  }

  if (typeof draft.subject !== 'string') {
    errors.push({ field: 'subject', code: 'bad-syntax', message: 'subject must be text' });
  } else if (unsafeTextProblem(draft.subject)) {
    // RFC 5322 §2.2: CR/LF would end the Subject field and start another one; bidi controls
    // make it read as something else (shared/text.ts).
    errors.push({ field: 'subject', code: 'control-char', message: `subject ${unsafeTextProblem(draft.subject)}` });
  } else if (draft.subject.length > MAX_SUBJECT_CHARS) {
    errors.push({ field: 'subject', code: 'too-long', message: `subject is longer than ${MAX_SUBJECT_CHARS} characters` });
  }
  if (typeof draft.text !== 'string') errors.push({ field: 'text', code: 'bad-syntax', message: 'text must be text' });
  if (draft.html !== undefined && typeof draft.html !== 'string') {
    errors.push({ field: 'html', code: 'bad-syntax', message: 'html must be text' });
  }
  if (!TLS_MODES.includes(draft.tlsMode as string)) {
    errors.push({ field: 'tlsMode', code: 'bad-syntax', message: `tlsMode must be one of ${TLS_MODES.join(', ')}` });
  }

  // Size estimate: bodies go out as quoted-printable or base64 (at most ~4/3 growth with line
  // breaks for base64; QP of UTF-8 text can be ~3x in the worst case, so assume 3x for bodies).
  let estimate = 4096 + 3 * (byteLen(draft.text) + byteLen(draft.html));
  if (!Array.isArray(draft.attachments)) {
    errors.push({ field: 'attachments', code: 'bad-syntax', message: 'attachments must be a list' });
  } else {
    if (draft.attachments.length > maxAttachments) {
      errors.push({ field: 'attachments', code: 'too-many-attachments', message: `at most ${maxAttachments} attachments` });
    }
    const results = await Promise.all(draft.attachments.map((a, index) => checkAttachment(a, index)));
    for (const r of results) {
      if ('error' in r) errors.push(r.error);
      else estimate += base64Size(r.size) + 512;
    }
  }
  if (estimate > maxBytes) {
    errors.push({
      field: 'attachments',
      code: 'too-large',
      message: `message would be about ${mib(estimate)} MiB, more than the limit of ${mib(maxBytes)} MiB`,
    });
  }
  return errors;
}

/** RFC 2045 §6.8: base64 turns 3 bytes into 4 characters, in lines of 76 plus CRLF. */
export function base64Size(bytes: number): number {
  const chars = Math.ceil(bytes / 3) * 4;
  return chars + Math.ceil(chars / 76) * 2;
}

async function checkAttachment(a: DraftAttachment, index: number): Promise<{ size: number } | { error: FieldError }> {
  const err = (code: string, message: string) => ({ error: { field: 'attachments', index, code, message } });
  if (!a || typeof a !== 'object' || typeof a.path !== 'string' || a.path === '') return err('bad-syntax', 'attachment has no path');
  if (hasControlChars(a.path)) return err('control-char', 'attachment path contains a control character');
  // Relative paths would depend on the process's working directory; URLs and data: URIs are
  // something nodemailer would fetch — only local absolute paths are files we mean to read.
  if (!path.isAbsolute(a.path)) return err('bad-path', `"${a.path}" is not an absolute path`);
  if (a.filename !== undefined) {
    if (typeof a.filename !== 'string' || a.filename.trim() === '') return err('bad-filename', 'attachment file name is empty');
    // The name lands in Content-Disposition/Content-Type parameters (RFC 2231): one line only.
    const problem = unsafeTextProblem(a.filename);
    if (problem) return err('control-char', `attachment file name ${problem}`);
    if (a.filename.length > 255) return err('bad-filename', 'attachment file name is too long');
  }
  if (a.contentType !== undefined) {
    if (typeof a.contentType !== 'string' || hasControlChars(a.contentType) || !CONTENT_TYPE.test(a.contentType)) {
      return err('bad-content-type', 'attachment content type is not a valid MIME type');
    }
  }
  let st;
  try {
    st = await fs.stat(a.path);
  } catch (e) {
    return err('unreadable', `cannot read "${a.path}": ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // A FIFO, socket or device would block the composer or never end.
  if (!st.isFile()) return err('not-a-file', `"${a.path}" is not a regular file`);
  try {
    await fs.access(a.path, fsConstants.R_OK);
  } catch (e) {
    return err('unreadable', `cannot read "${a.path}": ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return { size: st.size };
}

function lengthOf(v: unknown): number {
  return Array.isArray(v) ? v.length : 0;
}

function byteLen(v: unknown): number {
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : 0;
}

function mib(n: number): string {
  return (n / 1024 / 1024).toFixed(1);
}
