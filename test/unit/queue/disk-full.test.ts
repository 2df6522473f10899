/**
 * Issue 10 item 6 in the unit layer: SQLITE_FULL injected at every write point of the queue —
 * claiming, recording a result, writing history (attempts, events, notices), the start-up
 * recovery, delay notices, enqueue. The queue never throws, pauses with a notice
 * ("disk full: sending paused"), resumes when the write succeeds again, and a delivery whose
 * result could not be written is not sent again: the result is kept in memory and written
 * before any new claim.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { OutboxEvent } from '../../../shared/contract';
import { LocalDraft as DraftSchema } from '../../../shared/domain';
import { ManualClock } from '../../../src-main/core/clock';
import type { DeliveryJob, DeliveryOutcome, OutcomeStatus } from '../../../src-main/core/delivery/types';
import { EventBatcher } from '../../../src-main/core/events';
import { Outbox } from '../../../src-main/core/outbox';
import { Queue } from '../../../src-main/core/queue/queue';
import { Store } from '../../../src-main/core/store/store';
import { injectDiskFull, type DiskFullFault } from '../../helpers/disk-full';
import { tmpDir } from '../../helpers/tmp';
import { insertQueued, newMessage } from '../store/fixtures';

let dir: string;
let cleanup: () => void;
let store: Store;
let clock: ManualClock;
let events: OutboxEvent[];
let batcher: EventBatcher;
let full: DiskFullFault;
let sent: DeliveryJob[];

beforeEach(() => {
  ({ dir, cleanup } = tmpDir('outbox-full-'));
  store = Store.open(dir);
  full = injectDiskFull(store.db);
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  events = [];
  sent = [];
  batcher = new EventBatcher(clock, 0);
  batcher.subscribe((b) => events.push(...b));
});
afterEach(() => {
  store.close();
  cleanup();
});

/** Delivers (or fails) every recipient; `during` runs while the delivery is "on the wire". */
function deliverer(status: OutcomeStatus = 'delivered', during?: () => void) {
  return async (job: DeliveryJob): Promise<DeliveryOutcome> => {
    sent.push(job);
    during?.();
    const results = job.recipients.map((r) => ({
      recipientId: r.id,
      status,
      code: status === 'delivered' ? 250 : 550,
      enhancedCode: status === 'delivered' ? '2.0.0' : '5.1.1',
      reply: status === 'delivered' ? 'ok' : 'no such user',
      host: `mx.${job.domain}`,
      errorCode: status === 'delivered' ? null : ('SMTP_REPLY' as const),
    }));
    return {
      recipients: results,
      attempts: [
        {
          startedAt: clock.now(), durationMs: 1, domain: job.domain, host: `mx.${job.domain}`, ip: '127.0.0.1', port: 25, stage: 'data', starttls: true,
          tlsVersion: 'TLSv1.3', tlsCipher: null, certFingerprint: null, verification: 'none', verificationReason: null, mtaStsMode: null, dane: false,
          requiretls: false, plaintextFallback: false, tlsrptPolicy: 'no-policy-found', tlsrptFailure: null, code: results[0]!.code, enhancedCode: null,
          reply: 'ok', errorCode: null, permanent: false, transcript: [], transport: 'direct', routeId: null,
          results: results.map(({ recipientId, status: s, code, enhancedCode, reply }) => ({ recipientId, status: s, code, enhancedCode, reply })),
        },
      ],
      dialedIps: ['127.0.0.1'],
      hint: null,
    };
  };
}

function makeQueue(deliver: ReturnType<typeof deliverer>): Queue {
  return new Queue({ store, clock, deliver, events: batcher, random: () => 0.5, resumeProbeMs: 5000 });
}

/** Long enough for work that must NOT happen to have happened (a negative check). */
const settle = () => new Promise((r) => setTimeout(r, 20));
/** Waits for a state the queue reaches (a positive check): real timers (the group-commit window,
 * the pool) make a fixed wait flaky on a loaded machine. */
const until = <T>(read: () => T) => expect.poll(read, { timeout: 5000, interval: 5 });
const states = (id = 'm1') => store.db.prepare('SELECT state FROM recipients WHERE message_id = ? ORDER BY id').pluck().all(id);
const queueStates = () => (batcher.flush(), events).filter((e): e is Extract<OutboxEvent, { type: 'queue-state' }> => e.type === 'queue-state').map((e) => [e.paused, e.text]);

test.each([
  ['the attempt rows', /INSERT INTO attempts/],
  ['the recipient states', /UPDATE recipients SET state = @state/],
  ['the attempt results', /INSERT OR REPLACE INTO attempt_results/],
])('disk full while recording a result (%s): the queue pauses with a notice; the delivery is not sent again and its result is written when space returns', async (_name, where) => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example', 'b@one.example']));
  const q = makeQueue(deliverer('delivered', () => full.on(where)));
  q.start();
  await until(() => q.paused).toBe(true);
  expect(sent).toHaveLength(1);
  expect(full.hits).toBeGreaterThan(0);
  expect(queueStates()).toEqual([[true, 'disk full: sending paused']]);
  expect(states()).toEqual(['sending', 'sending']);
  // Still full: probes fail, nothing is claimed or sent again, nothing throws.
  clock.advance(60_000);
  await settle();
  expect(sent).toHaveLength(1);
  expect(states()).toEqual(['sending', 'sending']);
  // Space returns: the kept result is written, once; the queue resumes.
  full.off();
  clock.advance(5000);
  await until(() => states()).toEqual(['delivered', 'delivered']);
  await until(() => q.paused).toBe(false);
  expect(sent).toHaveLength(1);
  expect(store.attemptsOf('m1')).toHaveLength(1);
  expect(queueStates()).toEqual([[true, 'disk full: sending paused'], [false, 'sending resumed']]);
  await q.stop();
});

test('disk full while writing history (the failure notice): the permanent failure is kept and written later; nothing is sent again', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = makeQueue(deliverer('failed', () => full.on(/INSERT INTO notices/)));
  q.start();
  await until(() => q.paused).toBe(true);
  expect(states()).toEqual(['sending']);
  full.off();
  clock.advance(5000);
  await until(() => states()).toEqual(['failed']);
  await until(() => store.listNotices(10).map((n) => n.kind)).toEqual(['failure']);
  expect(sent).toHaveLength(1);
  await q.stop();
});

test('disk full at claim: nothing is dialed, the queue pauses and sends once space returns', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  full.on(/UPDATE recipients SET state = 'sending'/);
  const q = makeQueue(deliverer());
  expect(() => q.start()).not.toThrow();
  await until(() => q.paused).toBe(true);
  await settle();
  expect(sent).toHaveLength(0);
  expect(states()).toEqual(['queued']);
  full.off();
  clock.advance(5000);
  await until(() => states()).toEqual(['delivered']);
  expect(sent).toHaveLength(1);
  await q.stop();
});

test('disk full during the start-up recovery of interrupted deliveries: start() does not throw; recovery runs when space returns', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  store.db.prepare("UPDATE recipients SET state = 'sending'").run();
  full.on(/UPDATE recipients SET state = 'deferred'|INSERT INTO message_events/);
  const q = makeQueue(deliverer());
  expect(() => q.start()).not.toThrow();
  await until(() => q.paused).toBe(true);
  await settle();
  expect(sent).toHaveLength(0);
  full.off();
  clock.advance(5000);
  await until(() => states()).toEqual(['delivered']);
  expect(sent).toHaveLength(1);
  await q.stop();
});

test('disk full while writing a delay notice: the queue pauses instead of throwing, and the notice is written later', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = makeQueue(async (job) => ({ ...(await deliverer('deferred')(job)) }));
  q.configure({ delayNoticeMs: 3600_000 });
  q.start();
  await until(() => states()).toEqual(['deferred']);
  full.on(/INSERT INTO notices/);
  expect(() => clock.advance(2 * 3600_000)).not.toThrow();
  await until(() => q.paused).toBe(true);
  full.off();
  clock.advance(5000);
  await until(() => q.paused).toBe(false);
  await until(() => store.listNotices(10).map((n) => n.kind)).toContain('delay');
  await q.stop();
});

test('a send on a full disk is refused with a clear error and nothing half-written remains', async () => {
  store.close();
  const core = new Outbox({ dataDir: dir, clock, deliver: deliverer() });
  const fault = injectDiskFull(core.store.db);
  fault.on(/INSERT INTO recipients/);
  const r = await core.submit(DraftSchema.parse({ from: 'me@sender.test', to: ['a@dest.test'], subject: 'x', text: 'y' }));
  expect(r).toEqual({ ok: false, errors: [expect.objectContaining({ field: 'draft', code: 'disk-full', message: expect.stringMatching(/^disk full/) })] });
  expect(fs.readdirSync(core.store.messagesDir)).toEqual([]);
  expect(core.store.db.prepare('SELECT count(*) FROM messages').pluck().get()).toBe(0);
  fault.off();
  await core.close();
  store = Store.open(dir);
});

test('disk full in the middle of a group commit: none of the batch is written, nothing new is claimed; when space returns each result is written once and nothing is sent again', async () => {
  for (let i = 0; i < 4; i++) insertQueued(store, newMessage(`m${i}`, clock.now() - 10 + i, [`r${i}@d${i}.example`]));
  insertQueued(store, newMessage('later', clock.now(), ['x@d0.example']));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const inner = deliverer('delivered');
  const q = new Queue({
    store, clock, events: batcher, random: () => 0.5, resumeProbeMs: 5000, concurrency: 4, perDomain: 1,
    deliver: async (job) => {
      await gate;
      return inner(job);
    },
  });
  q.start();
  expect(states('later')).toEqual(['queued']);
  // The four results finish together and are written in one transaction; the third result's
  // attempt row meets the full disk, after two were already written inside it.
  let rows = 0;
  full.on({ test: (sql: string) => /INSERT INTO attempts/.test(sql) && ++rows >= 3 } as unknown as RegExp);
  release();
  await until(() => q.paused).toBe(true);
  // All or nothing: no result of the batch is on disk, and 'later' (due, its domain free) was not claimed.
  expect(['m0', 'm1', 'm2', 'm3'].map((id) => states(id)[0])).toEqual(['sending', 'sending', 'sending', 'sending']);
  expect(store.db.prepare('SELECT count(*) FROM attempts').pluck().get()).toBe(0);
  expect(states('later')).toEqual(['queued']);
  expect(sent).toHaveLength(4);
  full.off();
  clock.advance(5000);
  await until(() => q.paused).toBe(false);
  await q.drain();
  expect(['m0', 'm1', 'm2', 'm3', 'later'].map((id) => states(id)[0])).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'delivered']);
  expect(store.db.prepare('SELECT count(*) FROM attempts').pluck().get()).toBe(5);
  expect(sent.map((j) => j.messageId).sort()).toEqual(['later', 'm0', 'm1', 'm2', 'm3']);
  expect(rows).toBeGreaterThanOrEqual(3);
  await q.stop();
});
