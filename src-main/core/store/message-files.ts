/**
 * The files of the queue beside the database: `messages/<id>.eml` (the exact bytes to send) and
 * `messages/<id>.json`, the message's envelope (sender, recipients, TLS mode, size and SHA-256
 * of the .eml), made durable with the .eml before the database row commits (core/enqueue.ts:
 * the order and why it is enough). The envelope makes every
 * queued message recoverable without the database: when the database is missing, empty or
 * damaged, start-up refuses to run an empty outbox over queued files (DataDirError) and
 * `recoverQueuedFiles` re-queues them.
 *
 * A message whose recipients have all reached a final state gets its envelope renamed to
 * `<id>.done.json`, so a recovery does not send finished mail again. Within a message that was
 * still pending, a recovery re-queues every recipient: a recipient already delivered may get it
 * twice — at-least-once, never lost. The database is the truth and the rename follows its
 * commit; a crash between the two leaves a finished message's envelope pending, which start-up
 * settles (Store.open), so only a database lost in that very window could send it again.
 *
 * Temporary files of an interrupted enqueue (compose's `.<name>.<hex>.tmp|.unsigned`, the
 * `.tmp` of an envelope or a raw copy) are removed at start-up, as is the .eml/.json pair of an
 * enqueue whose database commit never happened (never acknowledged, so never queued).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const ENVELOPE_VERSION = 1;

const Envelope = z.object({
  version: z.literal(ENVELOPE_VERSION),
  id: z.string().regex(/^[0-9a-z]+-[0-9a-f]+$/),
  createdAt: z.number(),
  mailFrom: z.string(),
  fromHeader: z.string(),
  subject: z.string(),
  messageIdHeader: z.string().nullable(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  tlsMode: z.enum(['default', 'requiretls', 'tls-optional']),
  eightBit: z.boolean(),
  smtpUtf8: z.boolean(),
  recipients: z
    .array(z.object({ address: z.string(), envelope: z.string(), domain: z.string(), kind: z.enum(['to', 'cc', 'bcc']) }))
    .min(1),
});
export type Envelope = z.infer<typeof Envelope>;

export function envelopePath(messagesDir: string, id: string, settled = false): string {
  return path.join(messagesDir, settled ? `${id}.done.json` : `${id}.json`);
}

/**
 * SHA-256 (hex) of a file, read through one reused 64 KiB buffer (a 50 MB file makes no
 * garbage): for checking a stored file; enqueue takes the digest while writing instead.
 */
export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/**
 * The bytes of `<id>.json`: one JSON line, written in one call by core/enqueue.ts (which makes
 * it durable together with the .eml, before the row commits).
 */
export function envelopeBytes(m: Omit<Envelope, 'version'>): Buffer {
  const env: Envelope = {
    version: ENVELOPE_VERSION,
    id: m.id,
    createdAt: m.createdAt,
    mailFrom: m.mailFrom,
    fromHeader: m.fromHeader,
    subject: m.subject,
    messageIdHeader: m.messageIdHeader,
    size: m.size,
    sha256: m.sha256,
    tlsMode: m.tlsMode,
    eightBit: m.eightBit,
    smtpUtf8: m.smtpUtf8,
    recipients: m.recipients.map((r) => ({ address: r.address, envelope: r.envelope, domain: r.domain, kind: r.kind })),
  };
  return Buffer.from(JSON.stringify(env), 'utf8');
}

/** Marks a message finished (or pending again, after a user's retry); best effort, not fsync'd. */
export function settleEnvelope(messagesDir: string, id: string, settled: boolean): void {
  try {
    fs.renameSync(envelopePath(messagesDir, id, !settled), envelopePath(messagesDir, id, settled));
  } catch (e) {
    // No envelope (a message queued before envelopes existed) or already in that state.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export function removeMessageFiles(messagesDir: string, id: string): void {
  for (const f of [path.join(messagesDir, `${id}.eml`), envelopePath(messagesDir, id), envelopePath(messagesDir, id, true)]) fs.rmSync(f, { force: true });
}

const TEMPORARY = /^(?:\..+\.[0-9a-f]{12}\.(?:tmp|unsigned)|.+\.(?:eml|json)\.tmp)$/;

/** Removes the temporary files an interrupted enqueue left behind; returns their names. */
export function removeTemporaryFiles(messagesDir: string): string[] {
  const removed: string[] = [];
  for (const name of readdir(messagesDir)) {
    if (!TEMPORARY.test(name)) continue;
    fs.rmSync(path.join(messagesDir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** Ids of the messages whose envelope says "pending" (`<id>.json`, not `.done.json`). */
export function pendingEnvelopeIds(messagesDir: string): string[] {
  return readdir(messagesDir)
    .filter((n) => n.endsWith('.json') && !n.endsWith('.done.json'))
    .map((n) => n.slice(0, -'.json'.length));
}

export type RecoveryProblem = { file: string; reason: string };

/** A pending envelope as stored (not checked against its .eml), or null when unreadable. */
export function peekEnvelope(messagesDir: string, id: string): Envelope | null {
  try {
    const parsed = Envelope.safeParse(JSON.parse(fs.readFileSync(envelopePath(messagesDir, id), 'utf8')));
    return parsed.success && parsed.data.id === id ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Reads and checks one envelope and its .eml (size and SHA-256). */
export async function readQueuedFile(messagesDir: string, id: string): Promise<{ ok: true; envelope: Envelope } | { ok: false; problem: RecoveryProblem }> {
  const file = path.join('messages', `${id}.json`);
  let env: Envelope;
  try {
    const parsed = Envelope.safeParse(JSON.parse(fs.readFileSync(envelopePath(messagesDir, id), 'utf8')));
    if (!parsed.success || parsed.data.id !== id) return { ok: false, problem: { file, reason: 'the envelope file is not valid' } };
    env = parsed.data;
  } catch (e) {
    return { ok: false, problem: { file, reason: `the envelope file cannot be read: ${(e as Error).message}` } };
  }
  const eml = path.join(messagesDir, `${id}.eml`);
  const emlName = path.join('messages', `${id}.eml`);
  let size: number;
  try {
    size = fs.statSync(eml).size;
  } catch {
    return { ok: false, problem: { file: emlName, reason: 'the message file is missing' } };
  }
  if (size !== env.size || (await sha256File(eml)) !== env.sha256) {
    return { ok: false, problem: { file: emlName, reason: 'the message file does not match its envelope (changed or truncated)' } };
  }
  return { ok: true, envelope: env };
}

/** The start-up problem: the database cannot be trusted while queued files exist. */
export class DataDirError extends Error {
  readonly reason: 'missing' | 'empty' | 'damaged';
  /** The queued .eml files (relative to the data dir) the database does not know. */
  readonly files: string[];
  constructor(reason: DataDirError['reason'], files: string[], detail = '') {
    const what = { missing: 'is missing', empty: 'is empty', damaged: `is damaged${detail ? ` (${detail})` : ''}` }[reason];
    const list = files.length > 10 ? `${files.slice(0, 10).join(', ')} and ${files.length - 10} more` : files.join(', ');
    super(
      files.length
        ? `the database outbox.sqlite3 ${what} but ${files.length} queued message(s) wait in messages/: ${list}. ` +
            'Nothing was sent or changed; run `outbox recover` (or Recover in the app) to re-queue them.'
        : `the database outbox.sqlite3 ${what}. Nothing was changed; run \`outbox recover\` to set it aside and start a new one.`,
    );
    this.name = 'DataDirError';
    this.reason = reason;
    this.files = files;
  }
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
