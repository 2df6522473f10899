/**
 * The bytes a delivery sends: the queued .eml, verified, with the TLS mode's header in front.
 *
 * - The queued file is the message (issue 10 item 7): its size and SHA-256 were stored at
 *   enqueue. The file is checked before dialing (missing, or a different size: the message
 *   fails permanently, nothing is sent) and again while it streams — a file that grows,
 *   shrinks or changes under the delivery throws before the SMTP client writes the final dot,
 *   so the server discards the transaction (RFC 5321 §4.1.1.4: no dot, no message).
 * - RFC 8689 §5: `TLS-Required: No` for the "TLS optional" mode is prepended at delivery time,
 *   above the stored header (and so outside any DKIM signature, which does not cover it), so
 *   that changing the mode after queueing takes full effect. A file whose header already has
 *   a TLS-Required field (a ready-made message) is sent as it is.
 *
 * The file is read in 64 KiB chunks into ONE reused buffer (the SMTP client encodes each chunk
 * before asking for the next): a 50 MB message allocates 64 KiB, not 50 MB of garbage.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { TlsMode } from '../../../shared/domain';
import { DeliveryError } from '../errors';

export const TLS_REQUIRED_NO = Buffer.from('TLS-Required: No\r\n');
const CHUNK = 64 * 1024;

export interface StoredMessage {
  /** Absolute path of the .eml. */
  path: string;
  /** Name to show in reasons (relative to the data dir). */
  name: string;
  size: number;
  /** Hex SHA-256 at enqueue; null for messages queued before digests were stored. */
  sha256: string | null;
  tlsMode: TlsMode;
}

function fileError(message: string, stage: 'queue' | 'data', cause?: unknown): DeliveryError {
  return new DeliveryError({ code: 'MESSAGE_FILE', stage, permanent: true, message, cause });
}

/** Before dialing: the reason the message cannot be sent, or null. */
export function checkMessageFile(m: StoredMessage): DeliveryError | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(m.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fileError(code === 'ENOENT' ? `the queued message file ${m.name} is missing` : `the queued message file ${m.name} cannot be read: ${(e as Error).message}`, 'queue', e);
  }
  if (!st.isFile()) return fileError(`the queued message file ${m.name} is not a regular file`, 'queue');
  if (st.size !== m.size) return fileError(`the queued message file ${m.name} was changed: ${st.size} bytes instead of ${m.size}`, 'queue');
  return null;
}

/** The SIZE= estimate (RFC 1870) of what messageBody sends. */
export function wireSize(m: StoredMessage): number {
  return m.size + (m.tlsMode === 'tls-optional' ? TLS_REQUIRED_NO.length : 0);
}

/** A fresh, verifying stream of the message for one transaction. */
export async function* messageBody(m: StoredMessage): AsyncGenerator<Uint8Array> {
  if (m.size < CHUNK) {
    yield* smallBody(m);
    return;
  }
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(m.path, 'r');
  } catch (e) {
    throw fileError(`the queued message file ${m.name} cannot be opened: ${(e as Error).message}`, 'data', e);
  }
  try {
    const hash = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafeSlow(CHUNK);
    let total = 0;
    let first = true;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > m.size) throw fileError(`the queued message file ${m.name} was changed: it grew beyond ${m.size} bytes`, 'data');
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      if (first) {
        first = false;
        if (m.tlsMode === 'tls-optional' && !hasTlsRequiredField(chunk)) yield TLS_REQUIRED_NO;
      }
      // Not the last chunk, or the last one matches: hand it over. The last chunk is checked
      // before it is yielded, so a mismatch is thrown while the data is still unterminated.
      if (total === m.size) {
        const digest = hash.digest('hex');
        if (m.sha256 !== null && digest !== m.sha256) throw fileError(`the queued message file ${m.name} was changed: its SHA-256 does not match`, 'data');
      }
      yield chunk;
    }
    if (total !== m.size) throw fileError(`the queued message file ${m.name} was changed: ${total} bytes instead of ${m.size}`, 'data');
  } finally {
    await fh.close();
  }
}

/**
 * A message smaller than one chunk (most mail) is read in one synchronous read of up to
 * size + 1 bytes, as the store's own writes are synchronous: three thread-pool round trips per
 * delivery (open, read, close) cost more than the read. The same checks as the stream, all
 * before the first byte is handed over: a file that grew, shrank or changed throws.
 */
function* smallBody(m: StoredMessage): Generator<Uint8Array> {
  const buf = Buffer.allocUnsafe(m.size + 1);
  let bytesRead: number;
  let fd: number;
  try {
    fd = fs.openSync(m.path, 'r');
  } catch (e) {
    throw fileError(`the queued message file ${m.name} cannot be opened: ${(e as Error).message}`, 'data', e);
  }
  try {
    bytesRead = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, bytesRead, buf.length - bytesRead, null);
      if (n === 0) break;
      bytesRead += n;
      if (bytesRead === buf.length) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  if (bytesRead > m.size) throw fileError(`the queued message file ${m.name} was changed: it grew beyond ${m.size} bytes`, 'data');
  if (bytesRead !== m.size) throw fileError(`the queued message file ${m.name} was changed: ${bytesRead} bytes instead of ${m.size}`, 'data');
  const chunk = buf.subarray(0, bytesRead);
  if (m.sha256 !== null && crypto.createHash('sha256').update(chunk).digest('hex') !== m.sha256) {
    throw fileError(`the queued message file ${m.name} was changed: its SHA-256 does not match`, 'data');
  }
  if (bytesRead === 0) return;
  if (m.tlsMode === 'tls-optional' && !hasTlsRequiredField(chunk)) yield TLS_REQUIRED_NO;
  yield chunk;
}

/** Whether the header section at the start of `head` has a TLS-Required field (RFC 8689 §5). */
function hasTlsRequiredField(head: Uint8Array): boolean {
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return /(?:^|\n)TLS-Required[ \t]*:/i.test(end < 0 ? text : text.slice(0, end));
}
