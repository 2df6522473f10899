/**
 * Suppression list, hold rules and pause (rules §15) on the real outbox core: a real SQLite
 * file, the real queue and admission; only the delivery answers are scripted, so we can count
 * connections (deliver calls) exactly.
 */
import { afterEach, beforeEach, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import type { DeliveryJob, DeliveryOutcome } from '../../../src-main/core/delivery/types';
import { Outbox } from '../../../src-main/core/outbox';
import { SUPPRESSING_STATUS } from '../../../src-main/core/queue/admission';
import { createHandlers, dispatch } from '../../../src-main/ipc-handlers';
import { tmpDir } from '../../helpers/tmp';

let dir: string;
let cleanup: () => void;
let clock: ManualClock;
let jobs: DeliveryJob[];
let core: Outbox;
/** Per local part: what the "server" answers. */
const answers: Record<string, { status: 'failed' | 'deferred'; code: number; enhanced: string }> = {
  nobody: { status: 'failed', code: 550, enhanced: '5.1.1' },
  disabled: { status: 'failed', code: 550, enhanced: '5.2.1' },
  full: { status: 'failed', code: 552, enhanced: '5.2.2' },
  later: { status: 'deferred', code: 451, enhanced: '4.2.1' },
};

async function deliver(job: DeliveryJob): Promise<DeliveryOutcome> {
  jobs.push(job);
  const results = job.recipients.map((r) => {
    const a = answers[r.envelope.split('@')[0]!];
    return {
      recipientId: r.id, status: a?.status ?? ('delivered' as const), code: a?.code ?? 250, enhancedCode: a?.enhanced ?? '2.0.0',
      reply: a ? `${a.enhanced} says the server` : 'ok', host: `mx.${job.domain}`, errorCode: a ? ('SMTP_REPLY' as const) : null,
    };
  });
  return { recipients: results, attempts: [], dialedIps: [], hint: null };
}

function open(): Outbox {
  return new Outbox({ dataDir: dir, clock, deliver, network: { ehloName: 'h.example' }, random: () => 0.5 });
}

beforeEach(() => {
  ({ dir, cleanup } = tmpDir('outbox-features-'));
  clock = new ManualClock(Date.UTC(2026, 11, 1));
  jobs = [];
  core = open();
  core.queue.start();
});
afterEach(async () => {
  await core.close();
  cleanup();
});

async function send(to: string[], from = 'me@sender.example') {
  const r = await core.submit({ from, to, cc: [], bcc: [], subject: 's', text: 't', attachments: [], tlsMode: 'default' });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  await core.queue.drain();
  return core.store.getMessage(r.messageId)!;
}

test('a 5.1.1 puts the address on the list; the next send to it fails at once, with the reason, and no connection', async () => {
  const first = await send(['nobody@dest.example']);
  expect(first.recipients[0]).toMatchObject({ state: 'failed', attempts: 1, lastEnhanced: '5.1.1' });
  expect(core.features.listSuppressions()).toMatchObject([
    { address: 'nobody@dest.example', source: 'auto', enhancedCode: '5.1.1', code: 550, reply: '5.1.1 says the server', messageId: first.id, identityId: null },
  ]);
  const calls = jobs.length;
  const second = await send(['nobody@dest.example', 'ok@dest.example']);
  expect(jobs.length).toBe(calls + 1); // only ok@ travelled
  expect(jobs.at(-1)!.recipients.map((r) => r.envelope)).toEqual(['ok@dest.example']);
  const [bad, ok] = second.recipients;
  expect(bad).toMatchObject({ state: 'failed', attempts: 0, lastErrorCode: 'SUPPRESSED' });
  expect(bad!.lastReply).toMatch(/^suppressed: 5\.1\.1 from mx\.dest\.example/);
  expect(ok!.state).toBe('delivered');
  expect(core.store.listNotices(10).some((n) => n.recipientId === bad!.id && n.kind === 'failure' && /suppression list/.test(n.text))).toBe(true);

  // One action removes it; the address is tried again.
  expect(core.features.removeSuppression('Nobody@DEST.example')).toBe(1);
  expect((await send(['nobody@dest.example'])).recipients[0]).toMatchObject({ state: 'failed', attempts: 1 });
});

test('which permanent replies suppress: the no-such-user family only, never 4xx, never a full mailbox', async () => {
  expect([...SUPPRESSING_STATUS].sort()).toEqual(['5.1.1', '5.1.10', '5.1.2', '5.1.3', '5.1.6', '5.2.1']);
  await send(['disabled@dest.example', 'full@dest.example', 'later@dest.example']);
  expect(core.features.listSuppressions().map((s) => s.address)).toEqual(['disabled@dest.example']);
});

test('manual entries: per identity or for all, with a reason; bad addresses are refused and change nothing', async () => {
  const idA = core.store.insertIdentity({ address: 'a@sender.example', displayName: 'A' }, clock.now());
  core.store.insertIdentity({ address: 'b@sender.example', displayName: 'B' }, clock.now());
  core.features.addSuppression('x@dest.example', 'asked to be left alone', idA);
  core.features.addSuppression('y@dest.example', undefined);
  expect(() => core.features.addSuppression('not an address', 'x')).toThrow(/not|address/);
  expect(core.features.listSuppressions()).toHaveLength(2);
  expect(core.features.suppressionOf('x@dest.example', idA)).toBe('asked to be left alone');
  expect(core.features.suppressionOf('x@dest.example', null)).toBeNull();
  expect(core.features.suppressionOf('y@dest.example', idA)).toBe('added by the user');

  const fromA = await send(['x@dest.example', 'y@dest.example'], 'a@sender.example');
  expect(fromA.recipients.map((r) => r.state)).toEqual(['failed', 'failed']);
  const fromB = await send(['x@dest.example', 'y@dest.example'], 'b@sender.example');
  expect(fromB.recipients.map((r) => r.state)).toEqual(['delivered', 'failed']);
});

test('a hold rule holds new mail it matches and what already waits; removing it releases exactly that', async () => {
  const waiting = await send(['later@slow.example']);
  expect(waiting.recipients[0]!.state).toBe('deferred');
  const rule = core.features.addHoldRule({ recipient: 'Slow.Example' });
  expect(rule).toMatchObject({ sender: null, recipient: 'slow.example', held: 1 });
  expect(core.store.getMessage(waiting.id)!.recipients[0]).toMatchObject({ state: 'held', heldByRule: rule.id });

  const bySender = core.features.addHoldRule({ sender: 'boss@sender.example' });
  const m = await send(['a@slow.example', 'b@fast.example']);
  expect(m.recipients.map((r) => [r.state, r.heldByRule])).toEqual([['held', rule.id], ['delivered', null]]);
  const fromBoss = await send(['c@fast.example'], 'boss@sender.example');
  expect(fromBoss.recipients[0]).toMatchObject({ state: 'held', heldByRule: bySender.id });

  // A recipient the user held by hand stays held when a rule goes.
  const manual = await send(['later@other.example']);
  core.queue.act('hold', manual.id);

  expect(() => core.features.addHoldRule({ recipient: 'bad domain!' })).toThrow(/recipient/);
  expect(core.features.removeHoldRule(rule.id)).toEqual({ released: 2 });
  await core.queue.drain();
  expect(core.store.getMessage(m.id)!.recipients[0]!.state).toBe('delivered');
  expect(core.store.getMessage(waiting.id)!.recipients[0]).toMatchObject({ state: 'deferred', heldByRule: null });
  expect(core.store.getMessage(manual.id)!.recipients[0]!.state).toBe('held');
  expect(core.store.getMessage(fromBoss.id)!.recipients[0]!.state).toBe('held');
  expect(() => core.features.removeHoldRule(rule.id)).toThrow(/no hold rule/);
});

test('pause holds everything, survives a restart, and resuming releases what it held', async () => {
  const waiting = await send(['later@slow.example']);
  core.features.pause();
  expect(core.features.paused).toBe(true);
  expect(core.store.getMessage(waiting.id)!.recipients[0]!.state).toBe('held');

  await core.close();
  core = open();
  core.queue.start();
  expect(core.features.paused).toBe(true);
  const calls = jobs.length;
  const m = await send(['new@fast.example']);
  clock.advance(24 * 3600_000);
  await core.queue.drain();
  expect(jobs.length).toBe(calls); // nothing went out while paused
  expect(core.store.getMessage(m.id)!.recipients[0]!.state).toBe('held');
  expect(core.features.pause().id).toBe(core.features.listHoldRules()[0]!.id); // pausing twice is one rule

  expect(core.features.unpause()).toEqual({ released: 2 });
  expect(core.features.paused).toBe(false);
  await core.queue.drain();
  expect(core.store.getMessage(m.id)!.recipients[0]!.state).toBe('delivered');
  expect(jobs.length).toBe(calls + 2);
});

test('a delivery in flight when sending is paused comes back held, not scheduled', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await core.close();
  core = new Outbox({ dataDir: dir, clock, network: { ehloName: 'h.example' }, random: () => 0.5, deliver: async (job) => (await gate, deliver(job)) });
  core.queue.start();
  const r = await core.submit({ from: 'me@sender.example', to: ['later@slow.example'], cc: [], bcc: [], subject: 's', text: 't', attachments: [], tlsMode: 'default' });
  if (!r.ok) throw new Error('not queued');
  expect(core.store.getMessage(r.messageId)!.recipients[0]!.state).toBe('sending');
  core.features.pause();
  release();
  await core.queue.drain();
  expect(core.store.getMessage(r.messageId)!.recipients[0]).toMatchObject({ state: 'held', attempts: 1 });
});

test('over IPC: the chip check names a suppressed address; list, add, remove; hold rules and pause; the DSN of a failure', async () => {
  const table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
  const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;
  const failed = await send(['nobody@dest.example']);
  const checks = await call('compose.checkAddresses', { addresses: ['Nobody <nobody@dest.example>', 'ok@dest.example'] });
  expect(checks.value.map((c: { suppressed: string | null }) => c.suppressed)).toEqual(['5.1.1 from mx.dest.example', null]);
  expect((await call('suppression.list', {})).value).toMatchObject([{ address: 'nobody@dest.example', source: 'auto' }]);
  expect((await call('suppression.add', { address: 'bad' })).error.code).toBe('VALIDATION');
  expect((await call('suppression.add', { address: 'x@dest.example', reason: 'asked', identityId: 999 })).error.code).toBe('NOT_FOUND');
  expect((await call('suppression.add', { address: 'x@dest.example', reason: 'asked' })).value).toMatchObject({ address: 'x@dest.example', source: 'manual', reason: 'asked' });
  expect((await call('suppression.remove', { address: 'nobody@dest.example' })).value).toEqual({ removed: 1 });

  const rule = (await call('holdRules.add', { recipient: 'slow.example' })).value;
  expect((await call('holdRules.add', { sender: 'x y' })).error.code).toBe('VALIDATION');
  expect((await call('queue.pause', {})).value).toEqual({ paused: true });
  expect((await call('holdRules.list', {})).value).toMatchObject({ paused: true, rules: [{ id: rule.id, recipient: 'slow.example' }, { sender: null, recipient: null }] });
  expect((await call('queue.resume', {})).value).toEqual({ released: 0 });
  expect((await call('holdRules.remove', { id: rule.id })).value).toEqual({ released: 0 });
  expect((await call('holdRules.remove', { id: rule.id })).error.code).toBe('NOT_FOUND');

  const dsn = await call('dsn.get', { messageId: failed.id });
  expect(dsn.value).toMatchObject({ failed: 1, delayed: 0 });
  expect(dsn.value.eml).toContain('Final-Recipient: rfc822; nobody@dest.example');
  expect((await call('dsn.save', { messageId: failed.id })).value).toEqual({ path: null }); // the user canceled the dialog
  const delivered = await send(['ok@dest.example']);
  expect((await call('dsn.get', { messageId: delivered.id })).error.code).toBe('NOT_FOUND');
});
