/**
 * Queues a ready-made RFC 5322 message (`outbox send --eml FILE`): the envelope comes from the
 * command line, the bytes from the file, copied durably into the queue unchanged. A
 * `TLS-Required: No` for the "TLS optional" mode is added at delivery time, like for composed
 * messages (queue/message-source.ts), so the mode can still be changed.
 */
import fs from 'node:fs';
import type { TlsMode } from '../../shared/domain';
import type { Clock } from './clock';
import { parseMailbox, type FieldError, type ParsedAddress } from './compose/address';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { enqueueFile, QueueFiles, rawPathOf } from './enqueue';
import { isDiskFull } from './store/db';
import type { Store } from './store/store';
import { DISK_FULL, newMessageId, type SubmitResult } from './submit';

const HEAD_BYTES = 256 * 1024;

export async function submitRaw(
  emlPath: string,
  env: { from: string; to: string[]; tlsMode: TlsMode },
  deps: { store: Store; clock: Clock },
): Promise<SubmitResult> {
  const errors: FieldError[] = [];
  const from = parseMailbox(env.from, { field: 'from' });
  if (!from.ok) errors.push(from.error);
  const rcpts: ParsedAddress[] = [];
  env.to.forEach((a, index) => {
    const r = parseMailbox(a, { field: 'to', index });
    if (r.ok) rcpts.push(r.value);
    else errors.push(r.error);
  });
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(emlPath);
    if (!stat.isFile()) errors.push({ field: 'eml', code: 'not-a-file', message: `${emlPath} is not a regular file` });
  } catch (e) {
    errors.push({ field: 'eml', code: 'unreadable', message: (e as Error).message });
  }
  const settings = deps.store.getSettings();
  if (stat && stat.size > settings.maxMessageBytes) {
    errors.push({ field: 'eml', code: 'too-big', message: `message is ${stat.size} bytes; the limit is ${settings.maxMessageBytes}` });
  }
  if (errors.length || !from.ok || !stat) return { ok: false, errors };

  const head = readHead(emlPath);
  const headerEnd = head.search(/\r?\n\r?\n/);
  // RFC 5322 §2.1: header fields, an empty line, the body. A file without that is not a message.
  if (!/^[\x21-\x39\x3b-\x7e]+:/.test(head) || headerEnd < 0) {
    return { ok: false, errors: [{ field: 'eml', code: 'not-a-message', message: 'the file does not start with RFC 5322 header fields' }] };
  }
  const headers = head.slice(0, headerEnd);
  const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(headers)?.[1]?.replace(/\r?\n[ \t]+/g, ' ').trim() ?? null;

  const now = deps.clock.now();
  const id = newMessageId(now);
  const rawPath = rawPathOf(id);
  let files: QueueFiles | undefined;
  const scan = new EightBitScan();
  try {
    files = await QueueFiles.open(deps.store, id);
    // One pass over the file: copied, counted, hashed and scanned for 8-bit bytes together.
    await pipeline(fs.createReadStream(emlPath), scan, files.eml.writable());
  } catch (e) {
    await files?.discard();
    if (isDiskFull(e)) return { ok: false, errors: [DISK_FULL] };
    throw e;
  }
  try {
    const { eml } = files;
    await enqueueFile(deps.store, files, {
      id,
      createdAt: now,
      mailFrom: from.value.envelope,
      fromHeader: header('From') ?? from.value.display,
      subject: header('Subject') ?? '',
      messageIdHeader: header('Message-ID'),
      size: eml.size,
      rawPath,
      tlsMode: env.tlsMode,
      eightBit: scan.eightBit,
      smtpUtf8: from.value.needsSmtpUtf8 || rcpts.some((r) => r.needsSmtpUtf8),
      identityId: null,
      nextAttemptAt: now,
      recipients: rcpts.map((r) => ({ address: r.display, envelope: r.envelope, domain: r.domainAscii, kind: 'to' as const })),
      sha256: eml.sha256(),
    });
  } catch (e) {
    if (isDiskFull(e)) return { ok: false, errors: [DISK_FULL] };
    throw e;
  }
  return { ok: true, messageId: id, undoUntil: null };
}

function readHead(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const n = fs.readSync(fd, buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, n).toString('latin1');
  } finally {
    fs.closeSync(fd);
  }
}

/** RFC 6152: whether any byte is ≥ 0x80 (BODY=8BITMIME needed), seen as the copy passes. */
class EightBitScan extends Transform {
  eightBit = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.eightBit && chunk.some((b) => b >= 0x80)) this.eightBit = true;
    cb(null, chunk);
  }
}
