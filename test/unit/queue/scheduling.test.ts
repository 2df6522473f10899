/**
 * Issue 14 items 1 and 5: scheduling that costs O(due work), not O(queue).
 *
 * - The in-memory due set is exactly the store's pending set after every kind of transition
 *   (enqueue, claim, outcome, user action, hold rule, crash recovery), and a restart rebuilds the
 *   same set (compared with a direct store query).
 * - No busy polling: over an idle period with deferred work, and while due work waits for its
 *   domain's limit, the queue wakes at most once a minute (delay notices) and never reads the
 *   due work from SQLite (counted with an injected clock and a statement spy, no wall clock).
 * - Group commit: results that finish in the same turn are written in one transaction, with
 *   the claims of the next work.
 * - A domain whose delivery ended is served next, back to back (session reuse), within a bound.
 * - Per-domain concurrency with slow start (Postfix: start at 5, grow on success up to the limit,
 *   back off on connection trouble).
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { ManualClock, type TimerHandle } from '../../../src-main/core/clock';
import { blankAttempt } from '../../../src-main/core/delivery/record';
import type { DeliveryJob, DeliveryOutcome, OutcomeStatus } from '../../../src-main/core/delivery/types';
import { EventBatcher } from '../../../src-main/core/events';
import { DomainConcurrency, INITIAL_DOMAIN_CONCURRENCY, destinationFeedback } from '../../../src-main/core/queue/concurrency';
import { GROUP_COMMIT_MS, Queue, type QueueOptions } from '../../../src-main/core/queue/queue';
import type { PendingChange } from '../../../src-main/core/store/pending-feed';
import { Store } from '../../../src-main/core/store/store';
import { prng } from '../../helpers/prng';
import { spyStatements, type StatementSpy } from '../../helpers/sql-spy';
import { tmpDir } from '../../helpers/tmp';
import { insertQueued, newMessage } from '../store/fixtures';

const MIN = 60_000;

/** A ManualClock that counts the timers it fires; past `cap` armed timers it stops arming (a busy loop ends the test instead of hanging it). */
class CountingClock extends ManualClock {
  wakeups = 0;
  armed = 0;
  constructor(private readonly cap = 5000) {
    super(Date.UTC(2026, 0, 1));
  }
  override setTimer(ms: number, fn: () => void): TimerHandle {
    this.armed++;
    if (this.armed > this.cap) return { cancel() {} };
    return super.setTimer(ms, () => {
      this.wakeups++;
      fn();
    });
  }
}

let dir: string;
let cleanup: () => void;
let store: Store;
let clock: CountingClock;
let spy: StatementSpy;
let jobs: DeliveryJob[];
const queues: Queue[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tmpDir('outbox-sched-'));
  store = Store.open(dir);
  spy = spyStatements(store.db);
  clock = new CountingClock();
  jobs = [];
});
afterEach(() => {
  store.close();
  cleanup();
});

function outcome(job: DeliveryJob, status: (envelope: string) => OutcomeStatus, errorCode: 'SMTP_REPLY' | 'CONNECT_FAILED' = 'SMTP_REPLY'): DeliveryOutcome {
  const recipients = job.recipients.map((r) => {
    const s = status(r.envelope);
    return {
      recipientId: r.id,
      status: s,
      code: errorCode === 'CONNECT_FAILED' ? null : s === 'delivered' ? 250 : s === 'failed' ? 550 : 451,
      enhancedCode: s === 'delivered' ? '2.0.0' : s === 'failed' ? '5.7.1' : '4.3.0',
      reply: s,
      host: `mx.${job.domain}`,
      errorCode: s === 'delivered' ? null : errorCode,
    };
  });
  return { recipients, attempts: [], dialedIps: [...job.dialedIps], hint: null };
}

function queue(deliver: QueueOptions['deliver'], extra: Partial<QueueOptions> = {}): Queue {
  // The UI event batcher has a clock of its own: only the queue's timers are counted.
  const q = new Queue({ store, clock, deliver, events: new EventBatcher(new ManualClock(), 0), random: () => 0.5, ...extra });
  queues.push(q);
  return q;
}

/** The pending set as the store holds it: a direct query, not the queue's code. */
function storePending(s: Store = store): PendingChange[] {
  return s.db
    .prepare(
      `SELECT id, message_id AS messageId, domain, next_attempt_at AS at FROM recipients
       WHERE state IN ('queued', 'deferred') AND next_attempt_at IS NOT NULL ORDER BY id`,
    )
    .all() as PendingChange[];
}

const turn = () => new Promise((r) => setImmediate(r));
/** Past the group-commit window of a delivery that ended (its deferred pump has run). */
const windowPassed = async () => {
  await turn();
  await new Promise((r) => setTimeout(r, GROUP_COMMIT_MS + 5));
};

test('the in-memory due set equals the store after every transition, and a restart rebuilds exactly the same set', async () => {
  const random = prng(1414);
  const domains = ['a.example', 'b.example', 'c.example', 'd.example'];
  const deliver = async (job: DeliveryJob) => {
    jobs.push(job);
    return outcome(job, () => (['delivered', 'deferred', 'deferred', 'failed'] as const)[Math.floor(random() * 4)]!);
  };
  let q = queue(deliver, { concurrency: 3, perDomain: 2 });
  q.start();
  let n = 0;
  let rule: number | null = null;
  const checks: number[] = [];
  for (let step = 0; step < 120; step++) {
    const r = random();
    if (r < 0.35) {
      const rcpts = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => `r${n}x${i}@${domains[Math.floor(random() * domains.length)]!}`);
      // Some are queued for later (a not-before time), most at once.
      const m = newMessage(`m${n++}`, clock.now(), rcpts);
      insertQueued(store, random() < 0.2 ? { ...m, nextAttemptAt: clock.now() + Math.floor(random() * 30) * MIN } : m);
      q.pump();
    } else if (r < 0.55) {
      const id = `m${Math.floor(random() * Math.max(1, n))}`;
      const action = (['hold', 'resume', 'retry', 'cancel'] as const)[Math.floor(random() * 4)]!;
      if (store.messageRow(id)) q.act(action, id);
    } else if (r < 0.62) {
      if (rule === null) rule = store.holdRules.add({ sender: null, recipient: domains[Math.floor(random() * domains.length)]! }, clock.now()).rule.id;
      else {
        store.holdRules.remove(rule, clock.now());
        rule = null;
      }
      q.pump();
    } else if (r < 0.8) {
      clock.advance(Math.floor(random() * 20) * MIN);
    } else if (r < 0.85) {
      // A crash: the queue stops with results written; 'sending' rows (none here) are recovered.
      await q.drain();
      await q.stop();
      store.close();
      store = Store.open(dir);
      q = queue(deliver, { concurrency: 3, perDomain: 2 });
      q.start();
    }
    await q.drain();
    await turn();
    expect(q.dueSnapshot(), `step ${step}`).toEqual(storePending());
    checks.push(q.dueSnapshot().length);
  }
  // Not a vacuous run: work was pending at many checks, and deliveries happened.
  expect(checks.filter((c) => c > 0).length).toBeGreaterThan(30);
  expect(jobs.length).toBeGreaterThan(50);

  // Restart: a new queue on a reopened store rebuilds the same set as the store holds.
  const before = q.dueSnapshot();
  await q.stop();
  store.close();
  store = Store.open(dir);
  const again = queue(deliver);
  again.start();
  expect(again.dueSnapshot()).toEqual(storePending());
  expect(again.dueSnapshot()).toEqual(before);
  await again.stop();
});

test('a change committed by another process (the CLI beside the app) is picked up by the next pump', async () => {
  const q = queue(async (job) => (jobs.push(job), outcome(job, () => 'deferred')));
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  q.start();
  await q.drain();
  await turn();
  expect(q.dueSnapshot()).toEqual(storePending());
  const other = new Database(store.db.name);
  other.prepare('UPDATE recipients SET next_attempt_at = ? WHERE message_id = ?').run(clock.now(), 'm1');
  other.close();
  q.pump();
  await q.drain();
  expect(jobs).toHaveLength(2);
  await turn();
  expect(q.dueSnapshot()).toEqual(storePending());
  await q.stop();
});

test('no busy polling: idle with deferred work, the queue wakes at most once a minute and never queries the due work', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  insertQueued(store, newMessage('m2', clock.now(), ['b@two.example']));
  const q = queue(async (job) => (jobs.push(job), outcome(job, () => 'deferred')));
  q.start();
  await q.drain();
  await turn();
  expect(jobs).toHaveLength(2);
  clock.wakeups = 0;
  clock.armed = 0;
  spy.reset();
  // Seven idle minutes (the first retry is due after 7.5).
  clock.advance(7 * MIN);
  await turn();
  expect(jobs).toHaveLength(2);
  expect(clock.wakeups).toBeLessThanOrEqual(7);
  // No statement read the due work; per wake-up only a constant handful ran (data_version, the
  // once-a-minute delay-notice scan).
  expect(spy.count(/JOIN messages m ON m\.id = r\.message_id/)).toBe(0);
  expect(spy.count(/next_attempt_at/)).toBe(0);
  expect(spy.count()).toBeLessThanOrEqual(3 * clock.wakeups);
  // The retry then happens at its time.
  clock.advance(MIN);
  await q.drain();
  expect(jobs).toHaveLength(4);
  await q.stop();
});

test('no busy polling: due work held back by its domain limit waits for the running delivery, without timers or queries', async () => {
  insertQueued(store, newMessage('m1', clock.now(), ['a@one.example']));
  insertQueued(store, newMessage('m2', clock.now(), ['b@one.example']));
  const release: (() => void)[] = [];
  const q = queue(
    async (job) => {
      jobs.push(job);
      // A silent server: no activity at all, so the delivery counts as stalled after 2 s.
      await new Promise<void>((r) => release.push(r));
      return outcome(job, () => 'delivered');
    },
    { perDomain: 1 },
  );
  q.start();
  expect(jobs).toHaveLength(1);
  clock.wakeups = 0;
  clock.armed = 0;
  spy.reset();
  clock.advance(10 * MIN);
  expect(jobs).toHaveLength(1);
  // Today's main re-armed a 0 ms timer here, for ever: thousands of wake-ups, each a due() query.
  expect(clock.wakeups).toBeLessThanOrEqual(10);
  expect(spy.count(/JOIN messages m ON m\.id = r\.message_id/)).toBe(0);
  // The end of the running delivery releases the waiting one at once.
  release.shift()!();
  await windowPassed();
  expect(jobs).toHaveLength(2);
  release.shift()!();
  await q.drain();
  expect(store.listMessages({ status: 'delivered', limit: 10 }).total).toBe(2);
  await q.stop();
});

test('group commit: results that finish together are written in one transaction, with the claims of the next work', async () => {
  for (let i = 0; i < 10; i++) insertQueued(store, newMessage(`m${i}`, clock.now() - 100 + i, [`r${i}@d${i % 5}.example`]));
  const gates: (() => void)[] = [];
  const waves = [new Promise<void>((r) => gates.push(r)), new Promise<void>((r) => gates.push(r))];
  const q = queue(
    async (job) => {
      const wave = jobs.length < 5 ? 0 : 1;
      jobs.push(job);
      await waves[wave];
      return outcome(job, () => 'deferred');
    },
    { concurrency: 5, perDomain: 1 },
  );
  const commits: PendingChange[][] = [];
  const unlisten = store.pending.listen((c) => commits.push([...c]));
  q.start();
  expect(jobs).toHaveLength(5);
  commits.length = 0;
  // The five deliveries end in the same turn: one commit writes their five results and claims
  // the five messages due next.
  gates[0]!();
  await windowPassed();
  expect(jobs).toHaveLength(10);
  expect(commits).toHaveLength(1);
  expect(commits[0]!.filter((c) => c.at !== null)).toHaveLength(5); // five results: deferred
  expect(commits[0]!.filter((c) => c.at === null)).toHaveLength(5); // five claims
  gates[1]!();
  await q.drain();
  expect(store.db.prepare("SELECT count(*) FROM recipients WHERE state = 'deferred'").pluck().get()).toBe(10);
  unlisten();
  await q.stop();
});

test('group commit: a result that cannot be written is undone alone (its attempt rows too); the others of the same transaction stand', async () => {
  for (let i = 0; i < 3; i++) insertQueued(store, newMessage(`m${i}`, clock.now() - 100 + i, [`r${i}@d${i}.example`]));
  // A write failure that is not a full disk, after the result's attempt row was inserted.
  store.db.exec(`CREATE TRIGGER refuse_m1 BEFORE UPDATE OF state ON recipients WHEN OLD.message_id = 'm1' AND NEW.state <> 'sending'
    BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
  const release: (() => void)[] = [];
  const q = queue(
    async (job) => {
      jobs.push(job);
      await new Promise<void>((r) => release.push(r));
      return { ...outcome(job, () => 'delivered'), attempts: [{ ...blankAttempt(job.domain, clock.now()), results: job.recipients.map((r) => ({ recipientId: r.id, status: 'delivered' as const, code: 250, enhancedCode: '2.0.0', reply: '250 ok' })) }] };
    },
    { concurrency: 3, perDomain: 1 },
  );
  const commits: PendingChange[][] = [];
  const unlisten = store.pending.listen((c) => commits.push([...c]));
  q.start();
  expect(jobs).toHaveLength(3);
  const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
  const drained = q.drain();
  for (const r of release) setImmediate(r);
  await drained;
  expect(logged).toHaveBeenCalledWith('queue: could not record outcome', expect.anything());
  logged.mockRestore();
  const rows = store.db.prepare('SELECT message_id AS m, state FROM recipients ORDER BY id').all();
  expect(rows).toEqual([{ m: 'm0', state: 'delivered' }, { m: 'm1', state: 'sending' }, { m: 'm2', state: 'delivered' }]);
  // Nothing of m1's result was kept: no attempt row without its recipient's new state.
  expect(store.db.prepare('SELECT message_id FROM attempts ORDER BY id').pluck().all()).toEqual(['m0', 'm2']);
  expect(q.dueSnapshot()).toEqual(storePending());
  unlisten();
  await q.stop();
});

/**
 * Five deliveries to five domains started and waiting (release ends each, deferred), and the
 * pending-set changes of every commit from now on.
 */
function fiveOnTheWire() {
  for (let i = 0; i < 5; i++) insertQueued(store, newMessage(`m${i}`, clock.now() - 100 + i, [`r${i}@d${i}.example`]));
  const release: (() => void)[] = [];
  const q = queue(
    async (job) => {
      jobs.push(job);
      await new Promise<void>((r) => release.push(r));
      return outcome(job, () => 'deferred');
    },
    { concurrency: 5, perDomain: 1 },
  );
  const commits: PendingChange[][] = [];
  const unlisten = store.pending.listen((c) => commits.push([...c]));
  q.start();
  expect(jobs).toHaveLength(5);
  commits.length = 0;
  return { q, release, commits, unlisten };
}

test('group commit window: results that end in separate turns of the event loop, within GROUP_COMMIT_MS, share one transaction', async () => {
  const { q, release, commits, unlisten } = fiveOnTheWire();
  // Five deliveries end one event-loop turn after another (five sockets' replies in five polls):
  // one commit per turn before the window (319 transactions for 2000 messages in the profile).
  // The window's timer is faked, so however slow the machine, it has not passed until we say so.
  vi.useFakeTimers({ toFake: ['setTimeout'] });
  try {
    for (const r of release) {
      r();
      await turn();
      await turn();
    }
    expect(commits).toHaveLength(0);
    vi.advanceTimersByTime(GROUP_COMMIT_MS);
  } finally {
    vi.useRealTimers();
  }
  expect(commits).toHaveLength(1);
  expect(commits[0]!.filter((c) => c.at !== null)).toHaveLength(5);
  unlisten();
  await q.stop();
});

test('group commit under drain() (CLI run --once, send --wait): results that end in separate callbacks of one event-loop phase share one transaction', async () => {
  const { q, release, commits, unlisten } = fiveOnTheWire();
  const drained = q.drain();
  // Five deliveries end in five callbacks of the same event-loop phase (as five sockets' replies
  // in one poll): drain() must leave them to the deferred pump, not commit each one alone.
  for (const r of release) setImmediate(r);
  await drained;
  expect(commits).toHaveLength(1);
  expect(commits[0]!.filter((c) => c.at !== null)).toHaveLength(5);
  expect(store.db.prepare("SELECT count(*) FROM recipients WHERE state = 'deferred'").pluck().get()).toBe(5);
  unlisten();
  await q.stop();
});

test('a domain whose delivery ended is served next, back to back (session reuse), but not for ever', async () => {
  insertQueued(store, newMessage('a1', clock.now() - 100, ['x@a.example']));
  insertQueued(store, newMessage('b1', clock.now() - 99, ['x@b.example']));
  for (let i = 2; i <= 30; i++) insertQueued(store, newMessage(`a${i}`, clock.now() - 99 + i, ['x@a.example']));
  const q = queue(async (job) => (jobs.push(job), outcome(job, () => 'delivered')), { concurrency: 1, perDomain: 1 });
  q.start();
  await q.drain();
  const order = jobs.map((j) => j.messageId);
  // b1 is older than a2…a30, yet a2 follows a1 on the same slot; b1 still gets its turn
  // within the back-to-back bound.
  expect(order.slice(0, 2)).toEqual(['a1', 'a2']);
  expect(order.indexOf('b1')).toBeGreaterThan(1);
  expect(order.indexOf('b1')).toBeLessThanOrEqual(21);
  expect(order).toHaveLength(31);
  await q.stop();
});

test('slow start: a domain starts at 5 deliveries at once, grows with success up to the limit, backs off on connection trouble', async () => {
  const w = new DomainConcurrency(() => 20);
  expect(w.limit('x')).toBe(INITIAL_DOMAIN_CONCURRENCY);
  let deliveries = 0;
  while (w.limit('x') < 20) {
    w.feedback('x', 'handled');
    deliveries++;
  }
  // About (20² − 5²) / 2 deliveries, as Postfix's 1/concurrency feedback.
  expect(deliveries).toBeGreaterThan(150);
  expect(deliveries).toBeLessThan(250);
  w.feedback('x', 'handled');
  expect(w.limit('x')).toBe(20);
  for (let i = 0; i < 200; i++) w.feedback('x', 'struggling');
  expect(w.limit('x')).toBe(1);
  // The configured limit caps the window, also below the initial value.
  expect(new DomainConcurrency(() => 2).limit('y')).toBe(2);
  expect(destinationFeedback([{ status: 'delivered', code: 250, errorCode: null }])).toBe('handled');
  expect(destinationFeedback([{ status: 'deferred', code: null, errorCode: 'CONNECT_FAILED' }])).toBe('struggling');
  expect(destinationFeedback([{ status: 'deferred', code: 421, errorCode: 'SMTP_REPLY' }])).toBe('struggling');
  expect(destinationFeedback([{ status: 'failed', code: null, errorCode: 'MESSAGE_FILE' }])).toBe('neutral');

  // In the queue: one busy domain, 60 messages, at most 5 at once at first, more later.
  for (let i = 0; i < 60; i++) insertQueued(store, newMessage(`m${i}`, clock.now() - 100 + i, [`r${i}@busy.example`]));
  let active = 0;
  const seen: number[] = [];
  const q = queue(
    async (job) => {
      jobs.push(job);
      active++;
      seen.push(active);
      await turn();
      active--;
      return outcome(job, () => 'delivered');
    },
    { concurrency: 20, perDomain: 20 },
  );
  q.start();
  expect(active).toBe(5);
  await q.drain();
  expect(jobs).toHaveLength(60);
  expect(Math.max(...seen)).toBeGreaterThan(5);
  expect(Math.max(...seen)).toBeLessThanOrEqual(20);
  expect(q.domainLimit('busy.example')).toBe(INITIAL_DOMAIN_CONCURRENCY); // forgotten once its work is done
  await q.stop();
});

test('a not-before time (undo send) is the next-attempt time: nothing is claimed before it, one timer fires at it', async () => {
  const q = queue(async (job) => (jobs.push(job), outcome(job, () => 'delivered')));
  q.start();
  clock.wakeups = 0;
  insertQueued(store, { ...newMessage('m1', clock.now(), ['a@one.example']), nextAttemptAt: clock.now() + 10_000 });
  q.pump();
  clock.advance(9_999);
  expect(jobs).toHaveLength(0);
  clock.advance(1);
  expect(jobs).toHaveLength(1);
  expect(clock.wakeups).toBe(1);
  await q.drain();
  expect(store.getMessage('m1')!.recipients[0]!.state).toBe('delivered');
  await q.stop();
});
