/**
 * Issue 10 item 11 (the queue's half): the history tells the final truth. A recipient the
 * queue ends as failed — by give-up, by the REQUIRETLS rule (every host refused: the engine's
 * attempt rows said "deferred 550 5.7.30"), or by cancellation during the delivery — shows as
 * failed in its attempt rows, in the Logs view's data (listAttempts) and in every export
 * format, the same status as the queue. The "sent without encryption" notice appears only
 * when a recipient was actually delivered in plaintext.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { OutboxEvent } from '../../../shared/contract';
import type { ErrorCode } from '../../../shared/domain';
import { ManualClock } from '../../../src-main/core/clock';
import type { AttemptRecord, DeliveryJob, DeliveryOutcome, OutcomeStatus } from '../../../src-main/core/delivery/types';
import { EventBatcher } from '../../../src-main/core/events';
import { exportAttempts } from '../../../src-main/core/export/export';
import { MAX_RETRIES } from '../../../src-main/core/queue/backoff';
import { Queue } from '../../../src-main/core/queue/queue';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { insertQueued, newMessage } from '../store/fixtures';
import { parseCsvStrict } from '../export/rfc4180';

let store: Store;
let clock: ManualClock;
let cleanup: () => void;
let events: OutboxEvent[];
let batcher: EventBatcher;

beforeEach(() => {
  const t = tmpDir('outbox-final-');
  cleanup = t.cleanup;
  store = Store.open(t.dir);
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  events = [];
  batcher = new EventBatcher(clock, 0);
  batcher.subscribe((b) => events.push(...b));
});
afterEach(() => {
  store.close();
  cleanup();
});

function attempt(job: DeliveryJob, o: Partial<AttemptRecord>, status: OutcomeStatus, code: number, enhanced: string, reply: string): AttemptRecord {
  return {
    startedAt: clock.now(), durationMs: 1, domain: job.domain, host: `mx.${job.domain}`, ip: '127.0.0.1', port: 25, stage: 'mail', starttls: true,
    tlsVersion: 'TLSv1.3', tlsCipher: null, certFingerprint: null, verification: 'pkix', verificationReason: null, mtaStsMode: null, dane: false,
    requiretls: true, plaintextFallback: false, tlsrptPolicy: 'no-policy-found', tlsrptFailure: null, code, enhancedCode: enhanced, reply,
    errorCode: status === 'delivered' ? null : 'SMTP_REPLY', permanent: false, transcript: [], transport: 'direct', routeId: null,
    results: job.recipients.map((r) => ({ recipientId: r.id, status, code, enhancedCode: enhanced, reply })),
    ...o,
  };
}

/** Every host deferred the recipients (as the engine records it); the outcome says `status`. */
function deferringHosts(status: OutcomeStatus, errorCode: ErrorCode, hosts = 2, wait?: Promise<void>) {
  return async (job: DeliveryJob): Promise<DeliveryOutcome> => {
    await wait;
    return {
      recipients: job.recipients.map((r) => ({ recipientId: r.id, status, code: 550, enhancedCode: '5.7.30', reply: 'REQUIRETLS not supported', host: 'mx1', errorCode })),
      attempts: Array.from({ length: hosts }, (_, i) => attempt(job, { host: `mx${i + 1}.${job.domain}` }, 'deferred', 550, '5.7.30', `mx${i + 1} does not support REQUIRETLS`)),
      dialedIps: [],
      hint: null,
    };
  };
}

async function statuses(messageId: string) {
  const log = store.listAttempts({ messageId }).items.flatMap((a) => a.results.map((r) => r.status));
  const out = {} as { csv: string[]; json: string[]; ndjson: string[] };
  for (const format of ['csv', 'json', 'ndjson'] as const) {
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    await exportAttempts(store, { format }, sink);
    const text = Buffer.concat(chunks).toString('utf8');
    if (format === 'csv') {
      const rows = parseCsvStrict(text);
      const i = rows[0]!.indexOf('status');
      out.csv = rows.slice(1).map((r) => r[i]!);
    } else if (format === 'json') out.json = (JSON.parse(text) as { status: string }[]).map((r) => r.status);
    else out.ndjson = text.trim().split('\n').map((l) => (JSON.parse(l) as { status: string }).status);
  }
  return { log, ...out };
}

const run = async (q: Queue) => {
  q.start();
  await q.drain();
};

test('REQUIRETLS refused by every host (rows said "deferred 550 5.7.30"): the attempt rows, the log and every export say failed, as the queue does', async () => {
  insertQueued(store, { ...newMessage('m1', clock.now(), ['a@one.example']), tlsMode: 'requiretls' });
  const q = new Queue({ store, clock, deliver: deferringHosts('failed', 'REQUIRETLS_UNSUPPORTED'), events: batcher });
  await run(q);
  expect(store.getMessage('m1')!.recipients[0]!.state).toBe('failed');
  const s = await statuses('m1');
  expect(s).toEqual({ log: ['failed', 'failed'], csv: ['failed', 'failed'], json: ['failed', 'failed'], ndjson: ['failed', 'failed'] });
  await q.stop();
});

test('give-up after the last retry: the last attempt rows say failed, earlier attempts stay deferred', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = new Queue({ store, clock, deliver: deferringHosts('deferred', 'SMTP_REPLY', 1), events: batcher, random: () => 0.5 });
  q.start();
  await q.drain();
  for (let i = 0; i < MAX_RETRIES; i++) {
    clock.set(store.getMessage('m1')!.recipients[0]!.nextAttemptAt!);
    await q.drain();
  }
  const r = store.getMessage('m1')!.recipients[0]!;
  expect(r).toMatchObject({ state: 'failed', lastErrorCode: 'GIVE_UP', attempts: MAX_RETRIES + 1 });
  const s = await statuses('m1');
  const expected = [...Array(MAX_RETRIES).fill('deferred'), 'failed'];
  expect(s.csv).toEqual(expected);
  expect(s.json).toEqual(expected);
  expect(s.ndjson).toEqual(expected);
  expect([...s.log].reverse()).toEqual(expected);
  await q.stop();
});

test('canceled while on the wire: the delivery rows say failed, like the queue (canceled)', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  let go!: () => void;
  const wait = new Promise<void>((r) => (go = r));
  const q = new Queue({ store, clock, deliver: deferringHosts('deferred', 'SMTP_REPLY', 1, wait), events: batcher });
  q.start();
  await new Promise((r) => setTimeout(r, 10));
  q.act('cancel', 'm1');
  go();
  await q.drain();
  expect(store.getMessage('m1')!.recipients[0]!.state).toBe('canceled');
  expect(await statuses('m1')).toEqual({ log: ['failed'], csv: ['failed'], json: ['failed'], ndjson: ['failed'] });
  await q.stop();
});

test('"sent without encryption" only when a recipient was delivered in plaintext, not for a fallback that got 451', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  insertQueued(store, newMessage('m2', clock.now(), ['b@two.example']));
  const deliver = async (job: DeliveryJob): Promise<DeliveryOutcome> => {
    const plaintext = { starttls: false, plaintextFallback: true, tlsVersion: null, verification: null } as const;
    const delivered = job.messageId === 'm2';
    return {
      recipients: job.recipients.map((r) => ({ recipientId: r.id, status: delivered ? 'delivered' : 'deferred', code: delivered ? 250 : 451, enhancedCode: null, reply: 'x', host: 'mx', errorCode: delivered ? null : 'SMTP_REPLY' })),
      attempts: [delivered ? attempt(job, plaintext, 'delivered', 250, '2.0.0', 'ok') : attempt(job, plaintext, 'deferred', 451, '4.3.0', 'try later')],
      dialedIps: [],
      hint: null,
    };
  };
  const q = new Queue({ store, clock, deliver, events: batcher });
  await run(q);
  batcher.flush();
  const unencrypted = events.filter((e) => e.type === 'notice' && e.kind === 'unencrypted').map((e) => (e as { messageId: string }).messageId);
  expect(unencrypted).toEqual(['m2']);
  await q.stop();
});
