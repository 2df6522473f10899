/**
 * Queues a message the outbox composed itself (a DSN to the sender, a TLS report to a rua
 * address): the bytes are written and made durable with their envelope and digest like any
 * queued message's (core/enqueue.ts), and inserted in one transaction, so the queue delivers them with the same engine, retries,
 * checks and log as the user's mail — and DKIM-signed with the sending identity's keys.
 */
import type { TlsMode } from '../../shared/domain';
import type { Clock } from './clock';
import { parseMailbox } from './compose/address';
import { signMessageBytes, type DkimOptions } from './compose/build';
import { enqueueFile, QueueFiles, rawPathOf } from './enqueue';
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
  const rawPath = rawPathOf(id);
  const files = await QueueFiles.open(deps.store, id);
  const { eml } = files;
  try {
    await eml.write(bytes);
  } catch (e) {
    await files.discard();
    throw e;
  }
  // Like the user's mail: the envelope beside the file (recoverable without the database)
  // and the digest the delivery checks while streaming.
  await enqueueFile(deps.store, files, {
    id,
    sha256: eml.sha256(),
    createdAt: now,
    mailFrom: msg.mailFrom,
    fromHeader: msg.fromHeader,
    subject: msg.subject,
    messageIdHeader: msg.messageIdHeader,
    size: eml.size,
    rawPath,
    tlsMode: msg.tlsMode,
    eightBit: bytes.some((b) => b >= 0x80),
    smtpUtf8: rcpts.some((r) => r.needsSmtpUtf8),
    identityId: msg.identityId ?? null,
    nextAttemptAt: now,
    recipients: rcpts.map((r) => ({ address: r.display, envelope: r.envelope, domain: r.domainAscii, kind: 'to' as const })),
  });
  return id;
}
