/**
 * Issue 10 item 11: a reply code is never shown twice ("250 250 OK", "250 2.0.0 250 2.0.0 Ok",
 * "451 4.3.0 gave up …; last: 451 4.3.0 …"). describeReply (shared/domain.ts) is the one
 * formatter; the queue's failure notice, the message detail and the CLI use it, on the reply
 * texts the engine actually stores.
 */
import { afterEach, beforeEach, expect, test } from 'vitest';
import { describeReply } from '../../../shared/domain';
import { ManualClock } from '../../../src-main/core/clock';
import type { DeliveryJob, DeliveryOutcome } from '../../../src-main/core/delivery/types';
import { EventBatcher } from '../../../src-main/core/events';
import { Queue } from '../../../src-main/core/queue/queue';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { insertQueued, newMessage } from '../store/fixtures';

/** How often `token` appears as a word in `s`. */
const count = (s: string, token: string) => s.split(/[\s;:()/]+/).filter((w) => w === token).length;

test.each([
  // The engine's own reply text (smtp/reply.ts replyText): code first, then the server's text.
  [{ code: 250, enhancedCode: '2.0.0', reply: '250 2.0.0 Ok: queued as 4F' }, '250 2.0.0 Ok: queued as 4F'],
  [{ code: 250, enhancedCode: null, reply: '250 OK' }, '250 OK'],
  [{ code: 550, enhancedCode: '5.1.1', reply: '550 5.1.1 <a@x.test>: user unknown / 550 5.1.1 see https://x.test' }, '550 5.1.1 <a@x.test>: user unknown / 550 5.1.1 see https://x.test'],
  // A text that carries the enhanced code but not the basic one.
  [{ code: 250, enhancedCode: '2.0.0', reply: '2.0.0 Ok' }, '250 2.0.0 Ok'],
  // Our own messages, without codes in them.
  [{ code: 451, enhancedCode: '4.4.1', reply: 'connection timed out' }, '451 4.4.1 connection timed out'],
  [{ code: null, enhancedCode: null, reply: 'DNS lookup failed' }, 'DNS lookup failed'],
  [{ code: 550, enhancedCode: '5.1.1', reply: null }, '550 5.1.1'],
  // A give-up quotes the last reply, which already shows the codes.
  [{ code: 451, enhancedCode: '4.3.0', reply: 'gave up after 9 attempts; last: 451 4.3.0 try again later' }, 'gave up after 9 attempts; last: 451 4.3.0 try again later'],
  // A relay refusal built from the reply's lines.
  [{ code: 554, enhancedCode: '5.7.1', reply: '554 5.7.1 relay access denied' }, '554 5.7.1 relay access denied'],
])('describeReply(%j) = %j', (r, want) => {
  expect(describeReply(r)).toBe(want);
});

let store: Store;
let clock: ManualClock;
let cleanup: () => void;
beforeEach(() => {
  const t = tmpDir('outbox-reply-text-');
  cleanup = t.cleanup;
  store = Store.open(t.dir);
  clock = new ManualClock(Date.UTC(2026, 0, 1));
});
afterEach(() => {
  store.close();
  cleanup();
});

/** Answers like the engine: the stored reply is the server's line with its codes. */
function replying(code: number, enhancedCode: string, reply: string, status: 'failed' | 'deferred') {
  return async (job: DeliveryJob): Promise<DeliveryOutcome> => ({
    recipients: job.recipients.map((r) => ({ recipientId: r.id, status, code, enhancedCode, reply, host: `mx.${job.domain}`, errorCode: 'SMTP_REPLY' as const })),
    attempts: [],
    dialedIps: job.dialedIps,
    hint: null,
  });
}

const notices = () => (store.db.prepare("SELECT text FROM notices WHERE kind = 'failure'").pluck().all() as string[]);

test('a permanent failure: the notice and the detail show "550 5.1.1" once', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = new Queue({ store, clock, deliver: replying(550, '5.1.1', '550 5.1.1 no such user', 'failed'), events: new EventBatcher(clock, 0), random: () => 0.5 });
  q.start();
  await q.drain();
  await q.stop();
  expect(notices()).toEqual(['Delivery to a@one.example failed at mx.one.example: 550 5.1.1 no such user']);
  const r = store.getMessage('m1')!.recipients[0]!;
  expect(describeReply({ code: r.lastCode, enhancedCode: r.lastEnhanced, reply: r.lastReply })).toBe('550 5.1.1 no such user');
});

test('a give-up: the notice and the detail show the last reply\'s codes once', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = new Queue({ store, clock, deliver: replying(451, '4.3.0', '451 4.3.0 try again later', 'deferred'), events: new EventBatcher(clock, 0), random: () => 0.5, lifetimeMs: 365 * 24 * 3600_000 });
  q.start();
  await q.drain();
  for (let i = 0; i < 8; i++) {
    clock.set(store.getMessage('m1')!.recipients[0]!.nextAttemptAt!);
    await q.drain();
  }
  await q.stop();
  const r = store.getMessage('m1')!.recipients[0]!;
  expect(r.state).toBe('failed');
  const shown = describeReply({ code: r.lastCode, enhancedCode: r.lastEnhanced, reply: r.lastReply });
  expect(shown).toBe('gave up after 9 attempts; last: 451 4.3.0 try again later');
  const [notice] = notices();
  expect(notice).toBe('Delivery to a@one.example failed at mx.one.example: gave up after 9 attempts; last: 451 4.3.0 try again later');
  expect([count(shown, '451'), count(notice!, '451'), count(notice!, '4.3.0')]).toEqual([1, 1, 1]);
});

test('a give-up whose last attempt had codes but no reply text names them once', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = new Queue({ store, clock, deliver: async (job) => ({ ...(await replying(421, '4.4.2', '', 'deferred')(job)), recipients: job.recipients.map((x) => ({ recipientId: x.id, status: 'deferred' as const, code: 421, enhancedCode: '4.4.2', reply: null, host: 'mx.one.example', errorCode: 'TIMEOUT' as const })) }), events: new EventBatcher(clock, 0), random: () => 0.5, lifetimeMs: 365 * 24 * 3600_000 });
  q.start();
  await q.drain();
  for (let i = 0; i < 8; i++) {
    clock.set(store.getMessage('m1')!.recipients[0]!.nextAttemptAt!);
    await q.drain();
  }
  await q.stop();
  const r = store.getMessage('m1')!.recipients[0]!;
  const shown = describeReply({ code: r.lastCode, enhancedCode: r.lastEnhanced, reply: r.lastReply });
  expect(shown).toBe('gave up after 9 attempts; last: 421 4.4.2 TIMEOUT');
  expect(notices()[0]).toMatch(/: gave up after 9 attempts; last: 421 4\.4\.2 TIMEOUT$/);
});
