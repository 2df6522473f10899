/**
 * Builds the RFC 5322 message for a draft, optionally DKIM-signs it (RFC 6376, relaxed/relaxed;
 * RFC 8463 for Ed25519), and writes it durably to the queue's file.
 *
 * - RFC 5322 §3.6: From (with display name), To, Cc, Reply-To, Subject, Date, Message-ID;
 *   MIME (RFC 2045-2049) with RFC 2047 encoded words and RFC 2231 parameters — nodemailer's
 *   MailComposer does the encoding.
 * - The body: text/plain, or RFC 2046 §5.1.4 multipart/alternative (compose/body.ts decides,
 *   and sanitises the HTML).
 * - Bcc recipients go into the envelope only (RFC 5322 §3.6.3 allows either form; we never
 *   disclose them, not even to each other).
 * - RFC 8689 §5: `TLS-Required: No` is added at delivery time, not here (queue/message-source.ts).
 *
 * Threats: a queued message that is lost or half-written after a crash (the message is
 * written into a MessageFile under a temporary name, with its size and SHA-256 taken as it is
 * written; the queue makes it durable with its envelope before the commit, core/enqueue.ts;
 * given a path instead, buildMessage places it durably itself, compose/message-file.ts),
 * memory exhaustion by large attachments (everything is streamed, including the DKIM pass:
 * the unsigned message is written to a temporary file, hashed from disk, then copied after
 * the signature header), and attachment paths that nodemailer would treat as URLs (URL access
 * is disabled; draft validation only admits absolute paths).
 */
import { constants as fsConstants, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';
import type { Options as MailComposerOptions } from 'nodemailer/lib/mail-composer';
import { dkimSign } from 'mailauth/lib/dkim/sign';
import { DeliveryError } from '../errors';
import type { ParsedAddress } from './address';
import { parseDomain } from './address';
import type { Draft, DraftLimits, RecipientKind } from './draft';
import { parseDraftAddresses, validateDraft } from './draft';
import { messageBody } from './body';
import { AttachmentEncoder, type EncodedBody } from './attachment-body';
import { MessageFile, placeDurably } from './message-file';

import type { DkimAlgorithm } from '../../../shared/domain';

export type { DkimAlgorithm };

export interface DkimOptions {
  /** d= : the signing domain (A-label or U-label; signed as A-label). */
  domain: string;
  /** s= : the selector, `<selector>._domainkey.<domain>` holds the public key. */
  selector: string;
  algorithm: DkimAlgorithm;
  privateKeyPem: string;
}

export interface BuildOptions {
  /** Right-hand side of the Message-ID; the sender's domain (A-label) when absent. */
  messageIdDomain?: string;
  date: Date;
  /** One key, or several (RFC 8463 §4: RSA and Ed25519): one DKIM-Signature field each. */
  dkim?: DkimOptions | readonly DkimOptions[];
  /** Validation limits (size, recipients); see DraftLimits. */
  limits?: DraftLimits;
}

export interface EnvelopeRecipient {
  /** The address as shown to the user (local@U-label). */
  address: string;
  /** local@A-label, for RCPT TO. */
  envelope: string;
  domainAscii: string;
  needsSmtpUtf8: boolean;
  kind: RecipientKind;
  /** The display name written with it, if any (not sent: for the composer's suggestions). */
  name?: string;
}

export interface BuiltMessage {
  envelope: { mailFrom: string; recipients: EnvelopeRecipient[] };
  /** Bytes in the file, signature included. */
  size: number;
  /** SHA-256 (hex) of those bytes, taken as they were written. */
  sha256: string;
  /** With angle brackets, as in the header. */
  messageId: string;
  /** RFC 6152: the body has bytes ≥ 0x80, so BODY=8BITMIME is needed. */
  eightBit: boolean;
  /** RFC 6531: the headers or the sender carry UTF-8, so every transaction needs SMTPUTF8. */
  smtpUtf8: boolean;
}

/**
 * Header fields covered by the DKIM signature (RFC 6376 §5.4.1: From is required; the rest are
 * the ones whose alteration changes what the recipient sees or how the body is decoded).
 * TLS-Required is deliberately NOT covered: it is added at delivery time (the TLS mode can be
 * changed after queueing), and signing an absent field would assert its absence (§5.4).
 */
const DKIM_HEADERS = [
  'From',
  'To',
  'Cc',
  'Subject',
  'Date',
  'Message-ID',
  'Reply-To',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
];

/** RFC 6376 §3.1: selector = sub-domain *( "." sub-domain ). */
const SELECTOR = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$/;

const composeError = (message: string, code: 'INVALID_INPUT' | 'INTERNAL' = 'INVALID_INPUT', cause?: unknown) =>
  new DeliveryError({ code, message, stage: 'compose', permanent: code === 'INVALID_INPUT', cause });

/**
 * Validates the draft, composes the message, signs it when `opts.dkim` is set, and writes it
 * into `out`: the queue's MessageFile (left open and unsynced for core/enqueue.ts; the caller
 * discards it on failure), or a path, where it is placed durably (placeDurably). Throws DeliveryError (stage 'compose'): INVALID_INPUT for a draft or key
 * that cannot be sent, INTERNAL for I/O failures.
 */
export async function buildMessage(draft: Draft, opts: BuildOptions, out: string | MessageFile): Promise<BuiltMessage> {
  const problems = await validateDraft(draft, opts.limits);
  if (problems.length) {
    const first = problems[0];
    const where = first ? `${first.field}${first.index !== undefined ? `[${first.index}]` : ''}: ${first.message}` : '';
    throw new DeliveryError({
      code: 'INVALID_INPUT',
      message: `draft is not valid (${problems.length} problem${problems.length > 1 ? 's' : ''}) — ${where}`,
      stage: 'compose',
      permanent: true,
      cause: problems,
    });
  }
  const addrs = parseDraftAddresses(draft).value;
  if (!addrs) throw composeError('draft addresses are not valid');
  if (!(opts.date instanceof Date) || Number.isNaN(opts.date.getTime())) throw composeError('invalid date');

  const idDomain = opts.messageIdDomain === undefined ? addrs.from.domainAscii : checkedDomain(opts.messageIdDomain, 'messageIdDomain');
  // RFC 5322 §3.6.4: id-left "@" id-right, globally unique: 128 random bits.
  const messageId = `<${randomBytes(16).toString('hex')}@${idDomain}>`;
  const dkimList = opts.dkim === undefined ? [] : Array.isArray(opts.dkim) ? opts.dkim : [opts.dkim as DkimOptions];
  const dkim = dkimList.length ? dkimList.map(checkedDkim) : undefined;

  const mail: MailComposerOptions = {
    from: headerAddress(addrs.from),
    to: addrs.to.map(headerAddress),
    // Bcc is deliberately not passed: the composer must never see it (RFC 5322 §3.6.3).
    subject: foldableSubject(draft.subject),
    messageId,
    date: opts.date,
    attachments: [],
    // Only local files named in the draft are read; never fetch a URL (SSRF / data leaks).
    disableUrlAccess: true,
    xMailer: false,
    newline: '\r\n',
  };
  if (addrs.cc.length) mail.cc = addrs.cc.map(headerAddress);
  if (addrs.replyTo.length) mail.replyTo = addrs.replyTo.map(headerAddress);
  // Plain text, or multipart/alternative with a text part generated from sanitised HTML.
  const body = await messageBody(draft);
  mail.text = body.text;
  if (body.html !== undefined) mail.html = body.html;
  // RFC 8689 §5: `TLS-Required: No` is not written here: it is added above the stored header at
  // delivery time (queue/message-source.ts), outside the signature, so the TLS mode can still
  // be changed after queueing.

  const standalone = typeof out === 'string';
  const finalPath = standalone ? path.resolve(out) : out.finalPath;
  const dir = path.dirname(finalPath);
  const scan = new MessageScan();

  const opened: FileHandle[] = [];
  let file: MessageFile | undefined = standalone ? undefined : out;
  let unsigned: MessageFile | undefined;
  try {
    file ??= await MessageFile.create(finalPath);
    const attachments = await openAttachments(draft, opened);
    mail.attachments = attachments.map((a) => a.part);
    // Nodemailer builds everything but the attachment bodies (each is a 60-character
    // placeholder line in this skeleton, the size of the text and HTML parts); the bodies are
    // encoded into the file in their place (compose/attachment-body.ts).
    const skeleton = await new MailComposer(mail).compile().build();
    if (!dkim) {
      await writeMessage(skeleton, attachments, file, scan);
    } else {
      // Never synced and never placed: a temporary name start-up removes, deleted below.
      unsigned = await MessageFile.create(`${finalPath}.unsigned`, { hash: false });
      await writeMessage(skeleton, attachments, unsigned, scan);
      const signature = await sign(createReadStream(unsigned.path), dkim, opts.date);
      await file.write(signature);
      await file.append(unsigned.path);
    }
    scan.check();
    if (standalone) await placeDurably(dir, [file]);

    const recipients = envelopeRecipients(addrs.to, addrs.cc, addrs.bcc);
    return {
      envelope: { mailFrom: addrs.from.envelope, recipients },
      size: file.size,
      sha256: file.sha256(),
      messageId,
      eightBit: scan.eightBitBody,
      // RFC 6531 §3.2: what the MESSAGE needs (UTF-8 in its headers, a UTF-8 sender). A UTF-8
      // recipient address (a Bcc, say) is the SMTP client's decision per transaction: only
      // that recipient fails (5.6.7) at a server without SMTPUTF8, never the others.
      smtpUtf8: scan.eightBitHeader || addrs.from.needsSmtpUtf8,
    };
  } catch (e) {
    if (standalone) await file?.discard();
    if (e instanceof DeliveryError) throw e;
    const code = (e as NodeJS.ErrnoException)?.code;
    throw composeError(`could not write the message: ${e instanceof Error ? e.message : String(e)}`, code === 'ENOENT' ? 'INVALID_INPUT' : 'INTERNAL', e);
  } finally {
    for (const fh of opened) await fh.close().catch(() => undefined);
    await unsigned?.discard();
  }
}

/** O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after). */
const OPEN_FLAGS = fsConstants.O_RDONLY | (process.platform === 'win32' ? 0 : fsConstants.O_NONBLOCK);

/** An opened attachment: nodemailer's part (with a placeholder body) and what replaces it. */
interface OpenedAttachment {
  part: NonNullable<MailComposerOptions['attachments']>[number];
  /** The placeholder's base64 line as it stands in the skeleton. */
  marker: Buffer;
  fh: FileHandle;
  size: number;
  changed: () => Error;
}

/**
 * Opens every attachment and checks what was opened, not what a path named earlier: only a
 * regular file, and exactly the bytes its size promised are read (a /proc file says 0 and
 * streams without end; a file that grows while read would pass the size limit unchecked).
 * Nodemailer gets 45 random bytes as each body: one base64 line of 60 characters that cannot
 * occur anywhere else in the message (the draft cannot know it), replaced by the real body.
 */
async function openAttachments(draft: Draft, opened: FileHandle[]): Promise<OpenedAttachment[]> {
  const out: OpenedAttachment[] = [];
  for (const [index, a] of draft.attachments.entries()) {
    const name = a.filename ?? path.basename(a.path);
    const refuse = (code: string, message: string) =>
      new DeliveryError({ code: 'INVALID_INPUT', message, stage: 'compose', permanent: true, cause: [{ field: 'attachments', index, code, message }] });
    let fh: FileHandle;
    try {
      fh = await fs.open(a.path, OPEN_FLAGS);
    } catch (e) {
      throw refuse('unreadable', `cannot read "${name}": ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    opened.push(fh);
    const st = await fh.stat();
    if (!st.isFile()) throw refuse('not-a-file', `"${name}" is not a regular file`);
    const placeholder = randomBytes(45);
    out.push({
      part: { content: placeholder, filename: name, ...(a.contentType ? { contentType: a.contentType } : {}), contentTransferEncoding: 'base64' },
      marker: Buffer.from(placeholder.toString('base64'), 'latin1'),
      fh,
      size: st.size,
      changed: () => refuse('changed', `"${name}" changed while it was being attached (${st.size} bytes expected)`),
    });
  }
  return out;
}

/**
 * Writes the skeleton with each placeholder replaced by its attachment's encoded body, in the
 * order they stand in it, watching every byte (the bodies by their known shape).
 */
async function writeMessage(skeleton: Buffer, attachments: readonly OpenedAttachment[], sink: MessageFile, scan: MessageScan): Promise<void> {
  const placed = attachments.map((a) => {
    const at = skeleton.indexOf(a.marker);
    if (at < 0 || skeleton.indexOf(a.marker, at + 1) >= 0) throw composeError('an attachment placeholder was not found exactly once', 'INTERNAL');
    return { a, at };
  });
  placed.sort((x, y) => x.at - y.at);
  const encoder = new AttachmentEncoder();
  let from = 0;
  for (const { a, at } of placed) {
    scan.observe(skeleton, from, at);
    await sink.write(skeleton, from, at - from);
    scan.encodedBody(await encoder.encode(a.fh, a.size, sink, a.changed));
    from = at + a.marker.length;
  }
  scan.observe(skeleton, from, skeleton.length);
  await sink.write(skeleton, from, skeleton.length - from);
}

/**
 * RFC 5322 §2.2.3: a long Subject is folded at whitespace (nodemailer folds at 76). A word too
 * long to fold (a pasted URL, a run without spaces) would leave a line over 998 characters
 * (§2.1.1), so such a subject is written as RFC 2047 encoded-words, which may be split anywhere
 * and decode back to the same text (§6.2: whitespace between encoded-words is dropped).
 */
function foldableSubject(subject: string): string {
  return subject.split(/[ \t]+/).some((w) => w.length > 60) ? mimeFuncs.encodeWord(subject, 'Q', 52) : subject;
}

/**
 * Recipients for RCPT TO, deduplicated on the envelope address (local part exact, domain
 * already lowercased A-label) — the first occurrence wins, so To beats Cc beats Bcc.
 */
function envelopeRecipients(to: ParsedAddress[], cc: ParsedAddress[], bcc: ParsedAddress[]): EnvelopeRecipient[] {
  const seen = new Set<string>();
  const out: EnvelopeRecipient[] = [];
  const add = (list: ParsedAddress[], kind: RecipientKind) => {
    for (const a of list) {
      if (seen.has(a.envelope)) continue;
      seen.add(a.envelope);
      out.push({ address: a.display, envelope: a.envelope, domainAscii: a.domainAscii, needsSmtpUtf8: a.needsSmtpUtf8, kind, ...(a.name ? { name: a.name } : {}) });
    }
  };
  add(to, 'to');
  add(cc, 'cc');
  add(bcc, 'bcc');
  return out;
}

/**
 * The header form handed to nodemailer: A-label domains, so a message without UTF-8 local
 * parts stays pure ASCII in its headers and needs no SMTPUTF8 (RFC 6531 §3.2). Nodemailer
 * keeps the domain as UTF-8 itself when the local part is non-ASCII (RFC 6532 §3.2).
 */
function headerAddress(a: ParsedAddress): { name: string; address: string } {
  return { name: a.name ?? '', address: a.envelope };
}

function checkedDomain(domain: string, what: string): string {
  const d = typeof domain === 'string' ? parseDomain(domain) : undefined;
  if (!d || !d.ok) throw composeError(`${what} "${String(domain).slice(0, 100)}" is not a valid domain`);
  return d.ascii;
}

function checkedDkim(k: DkimOptions): DkimOptions {
  const domain = checkedDomain(k.domain, 'DKIM domain');
  if (typeof k.selector !== 'string' || !SELECTOR.test(k.selector)) {
    throw composeError(`DKIM selector "${String(k.selector).slice(0, 100)}" is not valid`);
  }
  if (k.algorithm !== 'rsa-sha256' && k.algorithm !== 'ed25519-sha256') {
    throw composeError(`DKIM algorithm "${String(k.algorithm)}" is not supported`);
  }
  if (typeof k.privateKeyPem !== 'string' || !k.privateKeyPem.includes('PRIVATE KEY')) {
    throw composeError('DKIM private key is missing or not PEM');
  }
  return { ...k, domain };
}

/**
 * A message the outbox composed itself (a TLS report, a DSN), signed like the user's mail:
 * the DKIM-Signature fields (one per key, same headers and canonicalization) put in front.
 */
export async function signMessageBytes(bytes: Buffer, keys: readonly DkimOptions[], date: Date): Promise<Buffer> {
  if (keys.length === 0) return bytes;
  const signature = await sign(Readable.from([bytes]), keys.map(checkedDkim), date);
  return Buffer.concat([signature, bytes]);
}

/**
 * One pass over the unsigned message on disk; returns the DKIM-Signature header lines, one per
 * key (mailauth hashes the body once per canonicalization and signs with each key).
 */
async function sign(source: Readable, keys: readonly DkimOptions[], date: Date): Promise<Buffer> {
  const k = keys[0]!;
  let result;
  try {
    result = await dkimSign(source, {
      signingDomain: k.domain,
      selector: k.selector,
      privateKey: k.privateKeyPem,
      // RFC 6376 §3.4.2 / §3.4.4: relaxed header and body canonicalization survive the
      // whitespace and folding changes relays commonly make.
      canonicalization: 'relaxed/relaxed',
      algorithm: k.algorithm,
      signTime: date,
      // mailauth reads headerList as a colon-separated string (its .d.ts says string[]; an
      // array is silently replaced by its default list).
      headerList: DKIM_HEADERS.join(':') as unknown as string[],
      signatureData: keys.map((key) => ({
        signingDomain: key.domain,
        selector: key.selector,
        privateKey: key.privateKeyPem,
        algorithm: key.algorithm,
        canonicalization: 'relaxed/relaxed',
      })),
    });
  } catch (e) {
    throw composeError(`DKIM signing failed: ${e instanceof Error ? e.message : String(e)}`, 'INTERNAL', e);
  }
  const errs = (result.errors ?? []) as Array<{ err?: Error } | Error>;
  if (errs.length || !result.signatures.startsWith('DKIM-Signature:')) {
    const first = errs[0];
    const msg = first instanceof Error ? first.message : first?.err?.message ?? 'no signature produced';
    // A wrong key type or an unparsable key is a configuration problem, not a transient one.
    throw composeError(`DKIM signing failed: ${msg}`, 'INVALID_INPUT', first);
  }
  return Buffer.from(result.signatures, 'utf8');
}

/**
 * Watches the composed bytes go by: 8-bit bytes in the header section (RFC 6532 UTF-8 headers:
 * SMTPUTF8 needed) versus in the body (RFC 6152: BODY=8BITMIME needed), and the longest line
 * (RFC 5322 §2.1.1: 998 characters at most — a longer line would be broken by some relay and
 * the DKIM signature with it).
 */
class MessageScan {
  eightBitHeader = false;
  eightBitBody = false;
  maxLine = 0;
  private inBody = false;
  private line = 0;
  /** Last bytes seen, to find the CRLF CRLF that ends the header across chunk boundaries. */
  private tail = 0;

  observe(chunk: Buffer, start: number, end: number): void {
    let line = this.line;
    let max = this.maxLine;
    let tail = this.tail;
    let inBody = this.inBody;
    let high = false;
    for (let i = start; i < end; i++) {
      const b = chunk[i] as number;
      if (b === 0x0a) {
        if (line - 1 > max) max = line - 1; // minus the CR
        line = 0;
      } else {
        line++;
      }
      if (!inBody) {
        tail = ((tail << 8) | b) >>> 0;
        if (b >= 0x80) this.eightBitHeader = true;
        if (tail === 0x0d0a0d0a) inBody = true;
      } else if (b >= 0x80) {
        high = true;
      }
    }
    if (high) this.eightBitBody = true;
    this.line = line;
    this.maxLine = max;
    this.tail = tail;
    this.inBody = inBody;
  }

  /** A base64 body written in place (7-bit, lines of known length), starting a line. */
  encodedBody(b: EncodedBody): void {
    if (b.longestLine === 0) return;
    if (b.longestLine > this.maxLine) this.maxLine = b.longestLine;
    this.line = b.lastLine;
  }

  check(): void {
    if (Math.max(this.maxLine, this.line) > 998) {
      throw composeError(`composed message has a line of ${this.maxLine} characters (RFC 5322 §2.1.1 allows 998)`, 'INTERNAL');
    }
  }
}
