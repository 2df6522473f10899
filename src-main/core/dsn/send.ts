/**
 * Sends a notice's DSN to the original sender through the outbox itself (the "DSN to my own
 * address" setting), so the user's mail client files it next to the message it reports on.
 *
 * RFC 5321 §4.5.5 / RFC 3464 §2: a DSN goes out with the null reverse-path, and no DSN is ever
 * made about a message with the null reverse-path — that is what stops two systems from
 * bouncing notices back and forth forever.
 */
import type { Clock } from '../clock';
import type { Store } from '../store/store';
import { submitBytes } from '../submit-bytes';
import { messageDsn, type MessageDsnOptions } from './message-dsn';

/** Queues the DSN of one recipient's notice; returns the DSN's message id, or null when none is due. */
export async function sendNoticeDsn(
  deps: { store: Store; clock: Clock },
  messageId: string,
  recipientId: number,
  opts: Omit<MessageDsnOptions, 'recipientIds' | 'date'>,
): Promise<string | null> {
  const m = deps.store.messageRow(messageId);
  if (!m || m.mail_from === '') return null;
  const dsn = messageDsn(deps.store, messageId, { ...opts, recipientIds: [recipientId], date: deps.clock.now() });
  if (!dsn) return null;
  const id = await submitBytes(
    {
      mailFrom: '',
      to: [m.mail_from],
      fromHeader: `Mail Delivery System <MAILER-DAEMON@${opts.reportingMta}>`,
      subject: `Delivery Status Notification (${dsn.failed ? 'Failure' : 'Delay'}): ${m.subject}`,
      messageIdHeader: /^Message-ID: (.*)$/im.exec(dsn.eml.subarray(0, 4096).toString('latin1'))?.[1]?.trim() ?? null,
      tlsMode: 'default',
      bytes: dsn.eml,
    },
    deps,
  );
  deps.store.addEvent(messageId, recipientId, deps.clock.now(), 'dsn-sent', `DSN queued to ${m.mail_from} as ${id}`);
  return id;
}
