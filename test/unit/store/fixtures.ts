import fs from 'node:fs';
import type { NewMessage, Store } from '../../../src-main/core/store/store';

export function newMessage(id: string, at: number, recipients = ['a@example.org', 'b@example.net']): NewMessage {
  return {
    id,
    createdAt: at,
    mailFrom: 'me@sender.example',
    fromHeader: 'Me <me@sender.example>',
    subject: `subject ${id}`,
    messageIdHeader: `<${id}@sender.example>`,
    size: 1234,
    rawPath: `messages/${id}.eml`,
    tlsMode: 'default',
    eightBit: false,
    smtpUtf8: false,
    identityId: null,
    nextAttemptAt: at,
    recipients: recipients.map((address) => ({
      address,
      envelope: address,
      domain: address.split('@')[1]!,
      kind: 'to' as const,
    })),
  };
}

/** Inserts a message with a queued file of its size (the queue checks the file before dialing). */
export function insertQueued(store: Store, m: NewMessage): void {
  fs.writeFileSync(store.absolutePath(m.rawPath), Buffer.alloc(m.size, 'x'));
  store.insertMessage(m);
}
