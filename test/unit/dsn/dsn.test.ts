/**
 * DSNs (RFC 3464, RFC 6522) of real queued messages: a draft goes through compose, the store and
 * the queue; the delivery answers are scripted. The DSN is parsed with a MIME parser
 * (mailparser) and its delivery-status fields are read field by field.
 */
import fs from 'node:fs';
import { simpleParser, type ParsedMail } from 'mailparser';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { composeDsn } from '../../../src-main/core/dsn/dsn';
import { messageDsn } from '../../../src-main/core/dsn/message-dsn';
import { sendNoticeDsn } from '../../../src-main/core/dsn/send';
import type { DeliveryJob, DeliveryOutcome } from '../../../src-main/core/delivery/types';
import { Outbox } from '../../../src-main/core/outbox';
import { tmpDir } from '../../helpers/tmp';

const HOUR = 3600_000;
let core: Outbox;
let clock: ManualClock;
let cleanup: () => void;

/** bad@… gets 550 5.1.1 from mx.fail.example; slow@… gets 451 4.3.0 from mx.slow.example. */
async function deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
  const failed = job.domain === 'fail.example';
  const results = job.recipients.map((r) => ({
    recipientId: r.id,
    status: failed ? ('failed' as const) : ('deferred' as const),
    code: failed ? 550 : 451,
    enhancedCode: failed ? '5.1.1' : '4.3.0',
    reply: failed ? '5.1.1 <bad@fail.example>: Recipient address rejected: User unknown' : 'try again later',
    host: `mx.${job.domain}`,
    errorCode: 'SMTP_REPLY' as const,
  }));
  return {
    recipients: results,
    attempts: [
      {
        startedAt: clock.now(), transport: 'direct', routeId: null, durationMs: 5, domain: job.domain, host: `mx.${job.domain}`, ip: '127.0.0.1', port: 25, stage: 'rcpt',
        starttls: true, tlsVersion: 'TLSv1.3', tlsCipher: null, certFingerprint: null, verification: 'pkix', verificationReason: null,
        mtaStsMode: null, dane: false, requiretls: false, plaintextFallback: false, tlsrptPolicy: 'no-policy-found', tlsrptFailure: null,
        code: results[0]!.code, enhancedCode: results[0]!.enhancedCode, reply: results[0]!.reply, errorCode: 'SMTP_REPLY', permanent: failed,
        transcript: [], results: results.map(({ recipientId, status, code, enhancedCode, reply }) => ({ recipientId, status, code, enhancedCode, reply })),
      },
    ],
    dialedIps: ['127.0.0.1'],
    hint: null,
  };
}

beforeEach(() => {
  const t = tmpDir('outbox-dsn-');
  cleanup = t.cleanup;
  clock = new ManualClock(Date.UTC(2026, 11, 1, 10, 0, 0));
  core = new Outbox({ dataDir: t.dir, clock, deliver, network: { ehloName: 'client.outbox.test' }, random: () => 0.5 });
});
afterEach(async () => {
  await core.close();
  cleanup();
});

function deliveryStatus(mail: ParsedMail): { perMessage: Map<string, string>; recipients: Map<string, string>[] } {
  const part = mail.attachments.find((a) => a.contentType === 'message/delivery-status');
  expect(part, 'a message/delivery-status part').toBeDefined();
  const blocks = part!.content.toString('utf8').replace(/\r\n/g, '\n').replace(/\n[ \t]+/g, ' ').trim().split(/\n\n+/);
  const fields = (block: string) => new Map(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { perMessage: fields(blocks[0]!), recipients: blocks.slice(1).map(fields) };
}

async function queued(): Promise<{ messageId: string; messageIdHeader: string }> {
  const r = await core.submit({
    from: 'Me <me@sender.example>', to: ['bad@fail.example', 'slow@slow.example'], cc: [], bcc: [],
    subject: 'Quarterly report', text: 'Hello', attachments: [], tlsMode: 'default',
  });
  if (!r.ok) throw new Error('not queued');
  return { messageId: r.messageId, messageIdHeader: core.store.messageRow(r.messageId)!.message_id_header! };
}

test('a permanent failure and a delay notice give one RFC 3464 DSN, threaded to the original', async () => {
  const { messageId, messageIdHeader } = await queued();
  core.queue.start();
  await core.queue.drain();
  expect(messageDsn(core.store, messageId, { reportingMta: 'client.outbox.test', lifetimeMs: 120 * HOUR })!.delayed).toBe(0);
  // Past the delay-notice threshold (4 h): the queue's scan reports slow@ as delayed.
  for (let i = 0; i < 10; i++) {
    clock.advance(HOUR / 2);
    await core.queue.drain();
  }
  const dsn = messageDsn(core.store, messageId, { reportingMta: 'client.outbox.test', lifetimeMs: 120 * HOUR })!;
  expect(dsn).toMatchObject({ failed: 1, delayed: 1 });

  const mail = await simpleParser(dsn.eml, { keepDeliveryStatus: true });
  expect(mail.headers.get('content-type')).toMatchObject({ value: 'multipart/report', params: { 'report-type': 'delivery-status' } });
  expect(mail.inReplyTo).toBe(messageIdHeader);
  expect(mail.references).toBe(messageIdHeader);
  expect(mail.subject).toBe('Delivery Status Notification (Failure): Quarterly report');
  expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]!.address : null).toBe('me@sender.example');
  expect(mail.headers.get('auto-submitted')).toBe('auto-replied');
  expect(mail.text).toContain('could not be delivered');

  const { perMessage, recipients } = deliveryStatus(mail);
  expect(perMessage.get('reporting-mta')).toBe('dns; client.outbox.test');
  expect(new Date(perMessage.get('arrival-date')!).getTime()).toBe(Date.UTC(2026, 11, 1, 10, 0, 0));
  expect(recipients).toHaveLength(2);
  const [bad, slow] = recipients;
  expect(bad!.get('final-recipient')).toBe('rfc822; bad@fail.example');
  expect(bad!.get('action')).toBe('failed');
  expect(bad!.get('status')).toBe('5.1.1');
  expect(bad!.get('remote-mta')).toBe('dns; mx.fail.example');
  expect(bad!.get('diagnostic-code')).toBe('smtp; 550 5.1.1 <bad@fail.example>: Recipient address rejected: User unknown');
  expect(new Date(bad!.get('last-attempt-date')!).getTime()).toBe(Date.UTC(2026, 11, 1, 10, 0, 0));
  expect(bad!.has('will-retry-until')).toBe(false);
  expect(slow!.get('final-recipient')).toBe('rfc822; slow@slow.example');
  expect(slow!.get('action')).toBe('delayed');
  expect(slow!.get('status')).toBe('4.3.0');
  expect(slow!.get('remote-mta')).toBe('dns; mx.slow.example');
  expect(slow!.get('diagnostic-code')).toBe('smtp; 451 4.3.0 try again later');
  expect(new Date(slow!.get('will-retry-until')!).getTime()).toBe(Date.UTC(2026, 11, 1, 10, 0, 0) + 120 * HOUR);

  // RFC 6522 §4: the third part is the original's header section, and only that.
  const headers = mail.attachments.find((a) => a.contentType === 'text/rfc822-headers');
  expect(headers).toBeDefined();
  const text = headers!.content.toString('utf8');
  expect(text).toContain(`Message-ID: ${messageIdHeader}`);
  expect(text).toContain('Subject: Quarterly report');
  expect(text).not.toContain('Hello');
});

test('a DSN for one notice covers only its recipient; a message with nothing to report has none', async () => {
  const { messageId } = await queued();
  expect(messageDsn(core.store, messageId, { reportingMta: 'h.example', lifetimeMs: HOUR })).toBeNull();
  core.queue.start();
  await core.queue.drain();
  const bad = core.store.getMessage(messageId)!.recipients.find((r) => r.address === 'bad@fail.example')!;
  const dsn = messageDsn(core.store, messageId, { reportingMta: 'h.example', lifetimeMs: HOUR, recipientIds: [bad.id] })!;
  const { recipients } = deliveryStatus(await simpleParser(dsn.eml, { keepDeliveryStatus: true }));
  expect(recipients.map((r) => r.get('final-recipient'))).toEqual(['rfc822; bad@fail.example']);
  // Same facts, same bytes: the DSN is derived, not stored.
  expect(messageDsn(core.store, messageId, { reportingMta: 'h.example', lifetimeMs: HOUR, recipientIds: [bad.id] })!.eml.equals(dsn.eml)).toBe(true);
});

test('a hostile reply cannot add header fields or MIME parts to the DSN', async () => {
  const eml = composeDsn({
    reportingMta: 'h.example', to: 'me@sender.example', subject: 'x\r\nBcc: evil@example', originalMessageId: '<a@b>',
    arrivalDate: 0, date: 0, originalHeaders: Buffer.from('Subject: x'), seed: 's',
    recipients: [{ finalRecipient: 'a@b.example', action: 'failed', status: '5.0.0', remoteMta: 'mx\r\nX-Evil: 1', smtpDiagnostic: '550 no\r\n\r\n--=_dsn_\r\nContent-Type: text/html', explanation: null, lastAttemptAt: 0, willRetryUntil: null }],
  });
  const mail = await simpleParser(eml, { keepDeliveryStatus: true });
  expect(mail.headers.has('bcc')).toBe(false);
  expect(mail.attachments.map((a) => a.contentType)).toEqual(['message/delivery-status', 'text/rfc822-headers']);
  const { recipients } = deliveryStatus(mail);
  expect(recipients).toHaveLength(1);
  expect(recipients[0]!.has('x-evil')).toBe(false);
  expect(() => composeDsn({ reportingMta: 'h', to: 'a@b', subject: '', originalMessageId: null, arrivalDate: 0, date: 0, originalHeaders: Buffer.alloc(0), seed: '', recipients: [{ finalRecipient: 'a@b', action: 'failed', status: '550', remoteMta: null, smtpDiagnostic: null, explanation: null, lastAttemptAt: null, willRetryUntil: null }] })).toThrow(/RFC 3463/);
});

test('with "DSN to sender" on, a failure queues the DSN to the sender with the null reverse-path, and never a DSN about a DSN', async () => {
  core.store.setSettings({ dsnToSender: true });
  const { messageId } = await queued();
  core.queue.start();
  await core.queue.drain();
  const waitFor = async (pred: () => boolean) => {
    for (let i = 0; i < 50 && !pred(); i++) {
      clock.advance(100); // flushes the event batcher
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const dsnMessages = () => core.store.listMessages({ limit: 10 }).items.filter((m) => m.mailFrom === '');
  await waitFor(() => dsnMessages().length > 0);
  const [dsnMessage] = dsnMessages();
  expect(dsnMessage).toBeDefined();
  expect(dsnMessage!.recipients.map((r) => r.envelope)).toEqual(['me@sender.example']);
  const raw = fs.readFileSync(core.store.absolutePath(core.store.messageRow(dsnMessage!.id)!.raw_path));
  const mail = await simpleParser(raw, { keepDeliveryStatus: true });
  expect(mail.inReplyTo).toBe(core.store.messageRow(messageId)!.message_id_header);
  expect(deliveryStatus(mail).recipients.map((r) => r.get('final-recipient'))).toEqual(['rfc822; bad@fail.example']);
  expect(core.store.getMessage(messageId)!.events.some((e) => e.kind === 'dsn-sent')).toBe(true);

  // The DSN itself gets no DSN, whatever happens to it.
  expect(await (sendNoticeDsn({ store: core.store, clock }, dsnMessage!.id, dsnMessage!.recipients[0]!.id, { reportingMta: 'h', lifetimeMs: HOUR }))).toBeNull();
});

test('a reply text that repeats its code gives the code once in Diagnostic-Code', async () => {
  const { messageId } = await queued();
  core.queue.start();
  await core.queue.drain();
  core.store.db.prepare("UPDATE attempt_results SET reply = '550 5.1.1 <bad@fail.example> refused' WHERE code = 550").run();
  const { recipients } = deliveryStatus(await simpleParser(messageDsn(core.store, messageId, { reportingMta: 'h.example', lifetimeMs: HOUR })!.eml, { keepDeliveryStatus: true }));
  expect(recipients[0]!.get('diagnostic-code')).toBe('smtp; 550 5.1.1 <bad@fail.example> refused');
});
