/**
 * Queues a message the outbox composed itself (a DSN to the sender, a TLS report to a rua
 * address): the bytes are written durably like any queued message (temporary name, fsync,
 * rename, directory fsync), their envelope file and digest stored like any queued message's,
 * and inserted in one transaction, so the queue delivers them with the same engine, retries,
 * checks and log as the user's mail — and DKIM-signed with the sending identity's keys.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { TlsMode } from '../../shared/domain';
import type { Clock } from './clock';
import { parseMailbox } from './compose/address';
import { syncDir, writeFileSynced } from './compose/build';
import { signMessageBytes, type DkimOptions } from './compose/build';
import type { Store } from './store/store';
import { newMessageId } from './submit';

export interface OwnMessage {
  /** Envelope sender; "" is the null reverse-path (RFC 5321 §4.5.5: DSNs use it). */
  mailFrom: string;
  to: string[];
  fromHeader: string;
  subject: string;
  messageIdHeader: string | null;
  tlsMode: TlsMode;
  bytes: Buffer;
  /** The sending identity's keys: signed like every message the outbox sends (none: unsigned). */
  dkim?: readonly DkimOptions[];
  /** The identity whose keys signed it. */
  identityId?: number | null;
}

export async function submitBytes(msg: OwnMessage, deps: { store: Store; clock: Clock }): Promise<string> {
  const rcpts = msg.to.map((a, index) => {
    const r = parseMailbox(a, { field: 'to', index });
    if (!r.ok) throw new Error(`cannot queue to ${a}: ${r.error.message}`);
    return r.value;
  });
  const now = deps.clock.now();
  const bytes = msg.dkim?.length ? await signMessageBytes(msg.bytes, msg.dkim, new Date(now)) : msg.bytes;
  const id = newMessageId(now);
  const rawPath = path.join('messages', `${id}.eml`);
  const absolute = deps.store.absolutePath(rawPath);
  const tmp = `${absolute}.tmp`;
  const size = await writeFileSynced(tmp, [() => Readable.from([bytes])], []);
  fs.renameSync(tmp, absolute);
  await syncDir(path.dirname(absolute));
  try {
    // Like the user's mail: the envelope beside the file (recoverable without the database)
    // and the digest the delivery checks while streaming.
    deps.store.queueMessage({
      id,
      sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
      createdAt: now,
      mailFrom: msg.mailFrom,
      fromHeader: msg.fromHeader,
      subject: msg.subject,
      messageIdHeader: msg.messageIdHeader,
      size,
      rawPath,
      tlsMode: msg.tlsMode,
      eightBit: bytes.some((b) => b >= 0x80),
      smtpUtf8: rcpts.some((r) => r.needsSmtpUtf8),
      identityId: msg.identityId ?? null,
      nextAttemptAt: now,
      recipients: rcpts.map((r) => ({ address: r.display, envelope: r.envelope, domain: r.domainAscii, kind: 'to' as const })),
    });
  } catch (e) {
    fs.rmSync(absolute, { force: true });
    throw e;
  }
  return id;
}
