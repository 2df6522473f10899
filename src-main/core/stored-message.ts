/**
 * A sent message read back from its stored .eml (the exact bytes the queue sends), for the
 * message detail's body preview and for "Edit & resend" (issue 13 items 3 and 4). Parsing MIME
 * (RFC 2045–2049: transfer encodings, charsets, RFC 2231 file names, multipart/alternative) is
 * mailparser's; this module decides what is made of it.
 *
 * Threats: the renderer only ever gets text (the text part, or a text rendering of the
 * sanitised HTML), never HTML it would have to inject. Attachments are written by main into
 * its own folder (kept-attachments.ts) and granted by main when the draft is loaded: the
 * renderer never names a file. The file is checked against the SHA-256 recorded when it was
 * queued, so a damaged or replaced file is said to be so, not shown or sent as the message.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AttachmentStream, MessageText } from 'mailparser';
import { LocalDraft, type RecipientKind } from '../../shared/domain';
import { unsafeTextProblem } from '../../shared/text';
import { sanitizeHtml, textFromHtml } from './compose/body';
import { sha256File } from './store/message-files';
import type { Store } from './store/store';

export class StoredMessageError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'CONFLICT',
    message: string,
  ) {
    super(message);
  }
}

/** The preview shows at most this many characters of the body (a page or two, not a novel). */
export const PREVIEW_MAX_CHARS = 8000;

export interface MessagePreview {
  text: string;
  /** The body was longer than PREVIEW_MAX_CHARS and was cut (at a line end where one is near). */
  truncated: boolean;
  /** The message has an HTML part (rich text); `text` is its text rendering. */
  rich: boolean;
  attachments: { filename: string; contentType: string; size: number }[];
}

interface Parsed {
  text: string;
  /** The HTML part as stored (not sanitised yet), or null. */
  html: string | null;
  attachments: { filename: string; contentType: string; size: number; file: string | null }[];
}

/** Where an attachment's content goes while the message is read; null: counted, not kept. */
type KeepAttachment = (filename: string) => string | null;

async function readStored(store: Store, messageId: string, keep: KeepAttachment): Promise<Parsed> {
  const row = store.messageRow(messageId);
  if (!row) throw new StoredMessageError('NOT_FOUND', `no message ${messageId}`);
  const file = store.absolutePath(row.raw_path);
  if (!fs.existsSync(file)) throw new StoredMessageError('NOT_FOUND', `the stored message file is gone (${row.raw_path}): its content cannot be shown or used again`);
  if (row.sha256 && (await sha256File(file)) !== row.sha256) {
    throw new StoredMessageError('NOT_FOUND', `the stored message file (${row.raw_path}) is damaged: it is not what was queued`);
  }
  const { MailParser } = await import('mailparser');
  const parser = new MailParser({ skipImageLinks: true, skipTextToHtml: true });
  const source = fs.createReadStream(file);
  source.on('error', (e) => parser.destroy(e));
  source.pipe(parser);
  const out: Parsed = { text: '', html: null, attachments: [] };
  for await (const data of parser as AsyncIterable<AttachmentStream | MessageText>) {
    if (data.type === 'text') {
      out.text = data.text ?? '';
      out.html = typeof data.html === 'string' && data.html !== '' ? data.html : null;
      continue;
    }
    const filename = safeFilename(data.filename);
    const target = keep(filename);
    let size = 0;
    const count = (chunk: Buffer) => (size += chunk.length);
    if (target) {
      data.content.on('data', count);
      await pipeline(data.content, fs.createWriteStream(target, { flags: 'wx', mode: 0o600 }));
    } else {
      await drain(data.content, count);
    }
    data.release?.();
    out.attachments.push({ filename, contentType: data.contentType || 'application/octet-stream', size, file: target });
  }
  return out;
}

function drain(stream: Readable, onChunk: (c: Buffer) => void): Promise<void> {
  return pipeline(stream, new Writable({ write: (chunk: Buffer, _e, done) => (onChunk(chunk), done()) }));
}

/** A name to show and to store under: the base name, or "attachment" when it is unsafe or empty. */
function safeFilename(name: string | undefined): string {
  const base = path.basename((name ?? '').replace(/\\/g, '/')).trim();
  if (!base || base === '.' || base === '..' || base.length > 255 || unsafeTextProblem(base) || /[\0/]/.test(base)) return 'attachment';
  return base;
}

/** The body preview of a stored message: text only, cut at PREVIEW_MAX_CHARS; attachment names and sizes. */
export async function messagePreview(store: Store, messageId: string): Promise<MessagePreview> {
  const parsed = await readStored(store, messageId, () => null);
  let text = parsed.text.trim() !== '' ? parsed.text : parsed.html ? await textFromHtml(await sanitizeHtml(parsed.html)) : '';
  text = text.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
  let truncated = false;
  if (text.length > PREVIEW_MAX_CHARS) {
    const cut = text.lastIndexOf('\n', PREVIEW_MAX_CHARS);
    text = text.slice(0, cut > PREVIEW_MAX_CHARS * 0.8 ? cut : PREVIEW_MAX_CHARS).replace(/\s+$/, '');
    truncated = true;
  }
  return { text, truncated, rich: parsed.html !== null, attachments: parsed.attachments.map(({ filename, contentType, size }) => ({ filename, contentType, size })) };
}

/**
 * "Edit & resend": a new draft of the same message (identity, subject, body — rich text if it
 * was —, attachments, TLS mode) addressed to its failed recipients only, saved as a draft; its
 * id is returned for compose to open (drafts.load grants the attachments). The content comes
 * from the stored .eml; attachments are written to `keptDir/<new folder>/`.
 */
export async function editAndResend(store: Store, messageId: string, keptDir: string, now: number): Promise<{ draftId: string }> {
  const row = store.messageRow(messageId);
  if (!row) throw new StoredMessageError('NOT_FOUND', `no message ${messageId}`);
  const failed = store.queue.recipientsOf(messageId).filter((r) => r.state === 'failed');
  if (failed.length === 0) throw new StoredMessageError('CONFLICT', 'no recipient of this message failed: there is nothing to resend');
  const dir = path.join(keptDir, crypto.randomUUID());
  const used = new Set<string>();
  const keep = (filename: string): string => {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Two attachments may share a name: the second is stored as "name (2).ext".
    let name = filename;
    for (let n = 2; used.has(name.toLowerCase()); n++) {
      const ext = path.extname(filename);
      name = `${filename.slice(0, filename.length - ext.length)} (${n})${ext}`;
    }
    used.add(name.toLowerCase());
    return path.join(dir, name);
  };
  try {
    const parsed = await readStored(store, messageId, keep);
    const byKind = (kind: RecipientKind) => failed.filter((r) => r.kind === kind).map((r) => r.address);
    const identity = row.identity_id !== null ? store.getIdentity(row.identity_id) : undefined;
    // The editor gets the HTML reduced to what it offers (the stored part is a whole document).
    const html = parsed.html !== null ? await sanitizeHtml(parsed.html) : undefined;
    const draft = LocalDraft.parse({
      identityId: identity ? identity.id : null,
      from: identity ? '' : row.from_header,
      to: byKind('to'),
      cc: byKind('cc'),
      bcc: byKind('bcc'),
      subject: row.subject,
      text: parsed.text.replace(/\r\n?/g, '\n'),
      ...(html ? { html } : {}),
      attachments: parsed.attachments.map((a) => ({ path: a.file!, filename: a.filename, contentType: a.contentType.split(';')[0]!.trim(), size: a.size })),
      tlsMode: row.tls_mode,
    });
    const draftId = crypto.randomUUID();
    store.saveDraft(draftId, draft, now);
    return { draftId };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
