import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import type { DeliveryJob, DeliveryOutcome, OutcomeStatus } from '../../../src-main/core/delivery/types';
import { EventBatcher } from '../../../src-main/core/events';
import { FIRST_RETRY_MS, retryDelayMs } from '../../../src-main/core/queue/backoff';
import { Queue, type QueueOptions } from '../../../src-main/core/queue/queue';
import { Store } from '../../../src-main/core/store/store';
import type { OutboxEvent } from '../../../shared/contract';
import { tmpDir } from '../../helpers/tmp';
import { insertQueued, newMessage } from '../store/fixtures';

const MIN = 60_000;
const HOUR = 60 * MIN;

let store: Store;
let clock: ManualClock;
let cleanup: () => void;
let jobs: DeliveryJob[];
let events: OutboxEvent[];
let batcher: EventBatcher;

beforeEach(() => {
  const t = tmpDir('outbox-queue-');
  cleanup = t.cleanup;
  store = Store.open(t.dir);
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  jobs = [];
  events = [];
  batcher = new EventBatcher(clock, 0);
  batcher.subscribe((b) => events.push(...b));
});
afterEach(() => {
  store.close();
  cleanup();
});

/** A deliver function answering every recipient with `status` (or per address via a map). */
function answering(status: OutcomeStatus | ((envelope: string) => OutcomeStatus)) {
  return async (job: DeliveryJob): Promise<DeliveryOutcome> => {
    jobs.push(job);
    const st = (env: string) => (typeof status === 'function' ? status(env) : status);
    const results = job.recipients.map((r) => ({
      recipientId: r.id,
      status: st(r.envelope),
      code: st(r.envelope) === 'delivered' ? 250 : st(r.envelope) === 'failed' ? 550 : 451,
      enhancedCode: st(r.envelope) === 'delivered' ? '2.0.0' : st(r.envelope) === 'failed' ? '5.1.1' : '4.3.0',
      reply: st(r.envelope),
      host: `mx.${job.domain}`,
      errorCode: st(r.envelope) === 'delivered' ? null : ('SMTP_REPLY' as const),
    }));
    return {
      recipients: results,
      attempts: [
        {
          startedAt: clock.now(), transport: 'direct', routeId: null, durationMs: 5, domain: job.domain, host: `mx.${job.domain}`, ip: '127.0.0.1', port: 25, stage: 'data',
          starttls: true, tlsVersion: 'TLSv1.3', tlsCipher: 'TLS_AES_256_GCM_SHA384', certFingerprint: null, verification: 'none',
          verificationReason: 'no policy', mtaStsMode: null, dane: false, requiretls: false, plaintextFallback: false,
          tlsrptPolicy: 'no-policy-found', tlsrptFailure: null, code: 250, enhancedCode: '2.0.0', reply: 'ok', errorCode: null,
          permanent: false, transcript: [{ at: clock.now(), dir: 'c', text: 'EHLO test' }],
          results: results.map(({ recipientId, status, code, enhancedCode, reply }) => ({ recipientId, status, code, enhancedCode, reply })),
        },
      ],
      dialedIps: [...job.dialedIps, '127.0.0.1'],
      hint: { domain: job.domain, starttls: true, requiretls: false, mtaStsMode: null, dane: false, seenAt: clock.now() },
    };
  };
}

function queue(deliver: QueueOptions['deliver'], extra: Partial<QueueOptions> = {}) {
  return new Queue({ store, clock, deliver, events: batcher, random: () => 0.5, ...extra });
}

function states(id = 'm1') {
  return store.getMessage(id)!.recipients.map((r) => r.state);
}

test('the first attempt happens at once and a delivered recipient is done', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = queue(answering('delivered'));
  q.start();
  await q.drain();
  expect(jobs).toHaveLength(1);
  expect(states()).toEqual(['delivered']);
  const m = store.getMessage('m1')!;
  expect(m.attempts).toHaveLength(1);
  expect(m.attempts[0]!.results[0]!.status).toBe('delivered');
  expect(store.domainHints(['one.example'])[0]).toMatchObject({ starttls: true });
  batcher.flush();
  expect(events.filter((e) => e.type === 'recipient-state').map((e) => (e as { state: string }).state)).toEqual(['sending', 'delivered']);
});

test('recipients of one message at one domain travel in one job; other domains in their own', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example', 'b@one.example', 'c@two.example']));
  const q = queue(answering('delivered'));
  q.start();
  await q.drain();
  expect(jobs.map((j) => [j.domain, j.recipients.map((r) => r.envelope)]).sort()).toEqual([
    ['one.example', ['a@one.example', 'b@one.example']],
    ['two.example', ['c@two.example']],
  ]);
});

test('the retry schedule doubles from 7.5 minutes and gives up after the 8th failed retry', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = queue(answering('deferred'), { lifetimeMs: 365 * 24 * HOUR });
  q.start();
  await q.drain();
  const gaps: number[] = [];
  let last = clock.now();
  for (let i = 0; i < 8; i++) {
    const next = store.getMessage('m1')!.recipients[0]!.nextAttemptAt!;
    gaps.push(next - last);
    clock.set(next);
    await q.drain();
    last = next;
  }
  expect(gaps.map((g) => g / MIN)).toEqual([7.5, 15, 30, 60, 120, 240, 480, 960]);
  expect(jobs).toHaveLength(9);
  const r = store.getMessage('m1')!.recipients[0]!;
  expect(r.state).toBe('failed');
  expect(r.lastErrorCode).toBe('GIVE_UP');
  expect(r.attempts).toBe(9);
  const notices = store.db.prepare('SELECT kind, text FROM notices').all() as { kind: string; text: string }[];
  expect(notices.some((n) => n.kind === 'failure' && n.text.includes('gave up after 9 attempts'))).toBe(true);
});

test('jitter stays within ±10 % of the schedule', () => {
  expect(retryDelayMs(1, () => 0)).toBe(Math.round(FIRST_RETRY_MS * 0.9));
  expect(retryDelayMs(1, () => 1)).toBe(Math.round(FIRST_RETRY_MS * 1.1));
  expect(retryDelayMs(3, () => 0.5)).toBe(FIRST_RETRY_MS * 4);
});

test('the configurable lifetime ends retries early', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = queue(answering('deferred'), { lifetimeMs: 20 * MIN });
  q.start();
  await q.drain();
  clock.advance(7.5 * MIN);
  await q.drain();
  expect(states()).toEqual(['deferred']);
  clock.advance(15 * MIN);
  await q.drain();
  expect(states()).toEqual(['failed']);
  expect(store.getMessage('m1')!.recipients[0]!.lastErrorCode).toBe('GIVE_UP');
});

test('a permanent failure ends the recipient at once with a failure notice; others go on', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['bad@one.example', 'good@one.example']));
  const q = queue(answering((env) => (env.startsWith('bad') ? 'failed' : 'delivered')));
  q.start();
  await q.drain();
  expect(states()).toEqual(['failed', 'delivered']);
  batcher.flush();
  expect(events.some((e) => e.type === 'notice' && e.kind === 'failure' && e.text.includes('bad@one.example'))).toBe(true);
});

test('a delay notice is emitted once after the configured time', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = queue(answering('deferred'), { delayNoticeMs: 4 * HOUR });
  q.start();
  await q.drain();
  for (let i = 0; i < 6; i++) {
    clock.set(store.getMessage('m1')!.recipients[0]!.nextAttemptAt!);
    await q.drain();
  }
  const delays = store.db.prepare("SELECT * FROM notices WHERE kind = 'delay'").all();
  expect(clock.now() - Date.UTC(2026, 0, 1)).toBeGreaterThan(4 * HOUR);
  expect(delays).toHaveLength(1);
});

describe('actions', () => {
  test('hold stops retries, resume queues at once, cancel ends, retry now skips the wait', async () => {
    insertQueued(store, newMessage('m1', clock.now(), ['a@one.example', 'b@one.example']));
    const q = queue(answering('deferred'));
    q.start();
    await q.drain();
    expect(states()).toEqual(['deferred', 'deferred']);
    const [a, b] = store.getMessage('m1')!.recipients;

    expect(q.act('hold', 'm1', a!.id)).toEqual([a!.id]);
    clock.advance(8 * MIN);
    await q.drain();
    expect(states()).toEqual(['held', 'deferred']);
    expect(jobs).toHaveLength(2);

    q.act('resume', 'm1', a!.id);
    await q.drain();
    expect(jobs).toHaveLength(3);
    expect(jobs[2]!.recipients.map((r) => r.id)).toEqual([a!.id]);

    q.act('cancel', 'm1', b!.id);
    expect(states()[1]).toBe('canceled');
    clock.advance(24 * HOUR);
    await q.drain();
    expect(jobs.flatMap((j) => j.recipients.map((r) => r.id)).filter((id) => id === b!.id)).toHaveLength(2);

    const before = jobs.length;
    q.act('retry', 'm1');
    await q.drain();
    expect(jobs.length).toBe(before + 1);
    // Canceled stays canceled; every action is in the message's history.
    expect(states()[1]).toBe('canceled');
    expect(store.getMessage('m1')!.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['hold', 'resume', 'cancel', 'retry']));
  });

  test('hold and cancel are refused for recipients already delivered', async () => {
    insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
    const q = queue(answering('delivered'));
    q.start();
    await q.drain();
    expect(q.act('hold', 'm1')).toEqual([]);
    expect(q.act('cancel', 'm1')).toEqual([]);
    expect(states()).toEqual(['delivered']);
  });

  test('cancel during sending aborts and the recipient ends canceled unless it was delivered', async () => {
    insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
    let release!: () => void;
    let sawAbort = false;
    const q = queue(async (job) => {
      await new Promise<void>((r) => {
        release = r;
        job.signal?.addEventListener('abort', () => {
          sawAbort = true;
          r();
        });
      });
      return answering('deferred')(job);
    });
    q.start();
    expect(states()).toEqual(['sending']);
    q.act('cancel', 'm1');
    void release;
    await q.drain();
    expect(sawAbort).toBe(true);
    expect(states()).toEqual(['canceled']);
  });

  test('changing the TLS mode of a queued message is recorded in its history', () => {
    insertQueued(store, { ...newMessage('m1', clock.now()), tlsMode: 'requiretls' });
    const q = queue(answering('deferred'));
    expect(q.setTlsMode('m1', 'default')).toBe(true);
    const m = store.getMessage('m1')!;
    expect(m.tlsMode).toBe('default');
    expect(m.events.find((e) => e.kind === 'tls-mode')?.detail).toBe('requiretls → default');
    expect(q.setTlsMode('nope', 'default')).toBe(false);
  });
});

test('concurrency: at most N deliveries at once and at most M per domain', async () => {
  for (let i = 0; i < 30; i++) insertQueued(store, newMessage(`m${i}`, clock.now(), [`a@d${i % 3}.example`]));
  let active = 0;
  let maxActive = 0;
  const perDomain = new Map<string, number>();
  let maxPerDomain = 0;
  const release: (() => void)[] = [];
  const inner = answering('delivered');
  const q = queue(
    async (job) => {
      active++;
      perDomain.set(job.domain, (perDomain.get(job.domain) ?? 0) + 1);
      maxActive = Math.max(maxActive, active);
      maxPerDomain = Math.max(maxPerDomain, perDomain.get(job.domain)!);
      await new Promise<void>((r) => release.push(r));
      active--;
      perDomain.set(job.domain, perDomain.get(job.domain)! - 1);
      return inner(job);
    },
    { concurrency: 5, perDomain: 2 },
  );
  q.start();
  const done = q.drain();
  while (jobs.length < 30) {
    await new Promise((r) => setImmediate(r));
    release.splice(0).forEach((r) => r());
  }
  await done;
  expect(maxActive).toBe(5);
  expect(maxPerDomain).toBe(2);
  expect(store.listMessages({ status: 'delivered', limit: 100 }).total).toBe(30);
});

test('crash recovery: recipients left in sending become deferred "interrupted" and are retried', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  store.db.prepare("UPDATE recipients SET state = 'sending'").run();
  const q = queue(answering('delivered'));
  q.start();
  await q.drain();
  expect(states()).toEqual(['delivered']);
  expect(store.getMessage('m1')!.events.map((e) => e.kind)).toContain('interrupted');
});

test('a throwing deliver function defers (never loses) the recipients', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  const q = queue(async () => {
    throw new Error('boom');
  });
  q.start();
  await q.drain();
  expect(states()).toEqual(['deferred']);
  expect(store.getMessage('m1')!.recipients[0]!.lastErrorCode).toBe('INTERNAL');
});
