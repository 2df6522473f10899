/**
 * The engine under hostile and misbehaving peers (issue 10, engine half): each test is named
 * after the defect it reproduces and drives the real engine (Outbox → queue → delivery → SMTP
 * client) against in-process peers — shapes a real MTA will not produce on demand.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { describeReply } from '../../../shared/domain';
import { createTestCa, type TestCa } from '../../helpers/certs';
import { startScriptedPeer, startSmtpPeer, serveBasic, type ScriptedConnection, type ScriptedPeer } from '../../helpers/smtp-peer';
import { startHarness, type Harness } from './harness';

let ca: TestCa;
let h: Harness;
const peers: { close(): Promise<void> }[] = [];

beforeAll(() => {
  ca = createTestCa();
});
afterAll(() => ca.cleanup());
beforeEach(async () => {
  h = await startHarness({ extraCa: [ca.certPem] });
});
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await h.close();
});

async function scripted(script: (c: ScriptedConnection) => Promise<void> | void): Promise<ScriptedPeer> {
  const p = await startScriptedPeer(script);
  peers.push(p);
  return p;
}

type Stage = 'greeting' | 'ehlo' | 'mail' | 'rcpt' | 'data' | 'dot';

/** A server that answers normally except with `reply` at `stage` (EHLO refusals refuse HELO too). */
async function refusingAt(stage: Stage, reply: string): Promise<ScriptedPeer> {
  return scripted(async (c) => {
    if (stage === 'greeting') {
      c.write(`${reply}\r\n`);
      while ((await c.readLine()) !== null) c.write('503 5.5.1 no service\r\n');
      return;
    }
    c.write('220 refuser.test ESMTP\r\n');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      const verb = line.split(' ')[0]!.toUpperCase();
      const at = (s: Stage, ok: string) => c.write(`${stage === s ? reply : ok}\r\n`);
      if (verb === 'EHLO' || verb === 'HELO') at('ehlo', '250-refuser.test\r\n250 ENHANCEDSTATUSCODES');
      else if (verb === 'MAIL') at('mail', '250 2.1.0 ok');
      else if (verb === 'RCPT') at('rcpt', '250 2.1.5 ok');
      else if (verb === 'DATA') {
        if (stage === 'data') c.write(`${reply}\r\n`);
        else {
          c.write('354 go ahead\r\n');
          await c.readData();
          at('dot', '250 2.0.0 queued');
        }
      } else if (verb === 'RSET') c.write('250 2.0.0 ok\r\n');
      else if (verb === 'QUIT') {
        c.write('221 2.0.0 bye\r\n');
        c.end();
        return;
      } else c.write('502 5.5.1 unknown\r\n');
    }
  });
}

function dualStack(domain: string, v4: string, v6: string, port: number): void {
  h.dns.add(domain, 'MX', [{ preference: 10, exchange: `mx.${domain}` }]);
  h.dns.add(`mx.${domain}`, 'A', [v4]);
  h.dns.add(`mx.${domain}`, 'AAAA', [v6]);
  h.routes.set(v4, port);
  h.routes.set(v6, port);
}

function singleStack(domain: string, v4: string, port: number): void {
  h.dns.add(domain, 'MX', [{ preference: 10, exchange: `mx.${domain}` }]);
  h.dns.add(`mx.${domain}`, 'A', [v4]);
  h.routes.set(v4, port);
}

// ---- item 2: one classifier for every stage --------------------------------------------------

const STAGES: [Stage, string][] = [
  ['greeting', '554 5.7.1 your network is not welcome'],
  ['ehlo', '550 5.7.1 no PTR for your address'],
  ['mail', '550 5.7.1 sender address rejected: policy'],
  ['rcpt', '550 5.7.1 relaying denied for this client'],
  ['data', '554 5.7.1 client host blocked'],
  ['dot', '550 5.7.1 message refused: client on a block list'],
];

test.each(STAGES)('§7 one classifier: a 5.7.x at %s on the first attempt to a dual-stack host is temporary; single-stack permanent', async (stage, reply) => {
  const peer = await refusingAt(stage, reply);
  const n = STAGES.findIndex(([s]) => s === stage) + 20;
  dualStack(`dual-${stage}.test`, `127.0.1.${n}`, `fd00::${n}`, peer.port);
  singleStack(`single-${stage}.test`, `127.0.2.${n}`, peer.port);
  const code = Number(reply.slice(0, 3));

  const dual = h.core.store.getMessage(await h.send({ to: [`a@dual-${stage}.test`] }))!;
  expect(dual.recipients[0]).toMatchObject({ state: 'deferred', lastCode: code, lastEnhanced: '5.7.1', attempts: 1 });
  // The records agree with the queue: temporary, nothing delivered.
  expect(dual.attempts.every((a) => !a.permanent && a.results.every((r) => r.status !== 'delivered'))).toBe(true);

  const single = h.core.store.getMessage(await h.send({ to: [`a@single-${stage}.test`] }))!;
  expect(single.recipients[0]).toMatchObject({ state: 'failed', lastCode: code, lastEnhanced: '5.7.1' });
});

// ---- item 3: a reply between 354 and the final dot -------------------------------------------

test('§9 a reply after 354 and before the final dot is a protocol violation: temporary, never delivered', async () => {
  let sawTerminator = false;
  const peer = await scripted(async (c) => {
    c.write('220 early.test ESMTP\r\n');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      const verb = line.split(' ')[0]!.toUpperCase();
      if (verb === 'EHLO') c.write('250-early.test\r\n250 ENHANCEDSTATUSCODES\r\n');
      else if (verb === 'MAIL') c.write('250 2.1.0 ok\r\n');
      else if (verb === 'RCPT') c.write('250 2.1.5 ok\r\n');
      else if (verb === 'DATA') {
        // The hostile part: an "accepted" before the data, the real verdict after it.
        c.write('354 go ahead\r\n250 2.0.0 accepted (early)\r\n');
        try {
          await c.readData();
          sawTerminator = true;
          c.write('554 5.6.0 message refused\r\n');
        } catch {
          return;
        }
      } else if (verb === 'QUIT') {
        c.write('221 bye\r\n');
        c.end();
        return;
      } else c.write('250 ok\r\n');
    }
  });
  singleStack('early.test', '127.0.1.40', peer.port);
  const m = h.core.store.getMessage(await h.send({ to: ['a@early.test'] }))!;
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'SMTP_PROTOCOL' });
  expect(m.attempts.flatMap((a) => a.results).some((r) => r.status === 'delivered')).toBe(false);
  // The connection was dropped without the terminator: the server cannot take the message.
  expect(sawTerminator).toBe(false);
});

// ---- item 4: bounds --------------------------------------------------------------------------

test('§7 bounds: at most 10 MX hosts and 20 addresses per attempt (a domain with 30 dual-stack MX hosts)', async () => {
  const hosts = Array.from({ length: 30 }, (_, i) => ({ preference: i, exchange: `mx${i}.wide.test` }));
  h.dns.add('wide.test', 'MX', hosts);
  hosts.forEach((x, i) => {
    h.dns.add(x.exchange, 'A', [`127.0.3.${i + 1}`]);
    h.dns.add(x.exchange, 'AAAA', [`fd00::3:${i + 1}`]);
  });
  const m = h.core.store.getMessage(await h.send({ to: ['a@wide.test'] }))!;
  expect(m.recipients[0]!.state).toBe('deferred');
  expect(new Set(m.attempts.map((a) => a.host)).size).toBe(10);
  expect(h.dialed.length).toBe(20);
  const addressQueries = h.dns.queries.filter((q) => (q.type === 'A' || q.type === 'AAAA') && q.name.endsWith('.wide.test'));
  expect(new Set(addressQueries.map((q) => q.name)).size).toBe(10);
});

test('§7 bounds: an attempt to a domain of silent hosts ends within its wall-clock budget (deferred, 4.4.7)', async () => {
  await h.close();
  h = await startHarness({ extraCa: [ca.certPem], domainBudgetMs: 1_500, timeouts: { greeting: 300_000 } });
  const silent = await scripted(() => new Promise<void>(() => {})); // accepts, never greets
  h.dns.add('slow.test', 'MX', [1, 2, 3].map((i) => ({ preference: i, exchange: `mx${i}.slow.test` })));
  for (const i of [1, 2, 3]) {
    h.dns.add(`mx${i}.slow.test`, 'A', [`127.0.4.${i}`]);
    h.routes.set(`127.0.4.${i}`, silent.port);
  }
  const m = h.core.store.getMessage(await h.send({ to: ['a@slow.test'] }))!;
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TIMEOUT', lastEnhanced: '4.4.7' });
  // The budget ran out on the first silent host: the others were not dialed this attempt.
  expect(h.dialed).toEqual(['127.0.4.1']);
});

test('§7 a silent/tarpitting domain does not hold the outbox: 8 never-greeting domains, then a healthy one is delivered within 5 s', async () => {
  await h.close();
  h = await startHarness({ extraCa: [ca.certPem], timeouts: { greeting: 300_000 } });
  const tarpit = await scripted(() => new Promise<void>(() => {}));
  const healthy = await startSmtpPeer({});
  peers.push(healthy);
  for (let i = 1; i <= 8; i++) singleStack(`tarpit${i}.test`, `127.0.5.${i}`, tarpit.port);
  singleStack('healthy.test', '127.0.5.100', healthy.port);

  const core = h.core;
  core.queue.start();
  for (let i = 1; i <= 8; i++) {
    const r = await core.submit(draft(`a@tarpit${i}.test`));
    expect(r.ok).toBe(true);
  }
  // All eight are on the wire, waiting for greetings that never come.
  await until(() => tarpit.connections.length === 8, 5_000);
  const queuedAt = Date.now();
  const r = await core.submit(draft('b@healthy.test'));
  if (!r.ok) throw new Error('submit failed');
  await until(() => core.store.getMessage(r.messageId)!.recipients[0]!.state === 'delivered', 5_000);
  expect(Date.now() - queuedAt).toBeLessThan(5_000);
  expect(healthy.messages).toHaveLength(1);
  // Close the tarpit so the stuck sessions end and the queue can stop.
  await tarpit.close();
  await core.queue.stop();
});

// ---- item 11 (engine half): records that tell what happened -----------------------------------

test('§12 an MTA-STS discovery failure is not overwritten by a later STARTTLS failure', async () => {
  const peer = await startSmtpPeer({}); // no STARTTLS
  peers.push(peer);
  singleStack('stsfail.test', '127.0.1.50', peer.port);
  h.dns.add('_mta-sts.stsfail.test', 'TXT', ['v=STSv1; id=1']);
  // The policy host does not exist: the fetch fails (sts-policy-fetch-error).
  const m = h.core.store.getMessage(await h.send({ to: ['a@stsfail.test'] }))!;
  expect(m.recipients[0]!.state).toBe('delivered');
  const a = m.attempts.at(-1)!;
  expect(a).toMatchObject({ tlsrptPolicy: 'sts', tlsrptFailure: 'sts-policy-fetch-error', starttls: false });
  expect(a.verificationReason).toMatch(/STARTTLS/);
});

test('§12 a DNSSEC-bogus MX answer records the TLSRPT result dnssec-invalid', async () => {
  h.dns.servfail('bogus.test', 'MX', { ede: [{ code: 6, text: 'validation failure <bogus.test. MX>' }] });
  const m = h.core.store.getMessage(await h.send({ to: ['a@bogus.test'] }))!;
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'DNS_BOGUS' });
  expect(m.attempts[0]).toMatchObject({ stage: 'dns', tlsrptFailure: 'dnssec-invalid' });
});

test('§9 a reply code is shown once: the failure notice and the formatted reply say "550 5.1.1 …" once', async () => {
  const peer = await scripted((c) => serveBasic(c, { ehlo: ['ENHANCEDSTATUSCODES'], rcpt: () => '550 5.1.1 no such user' }));
  singleStack('once.test', '127.0.1.51', peer.port);
  const m = h.core.store.getMessage(await h.send({ to: ['nobody@once.test'] }))!;
  const r = m.recipients[0]!;
  expect(r.state).toBe('failed');
  expect(describeReply({ code: r.lastCode, enhancedCode: r.lastEnhanced, reply: r.lastReply })).toBe('550 5.1.1 no such user');
  const notice = h.core.store.listNotices(10).find((n) => n.kind === 'failure')!;
  expect(notice.text.match(/550/g)).toHaveLength(1);
  const a = m.attempts.at(-1)!;
  expect(describeReply({ code: a.results[0]!.code, enhancedCode: a.results[0]!.enhancedCode, reply: a.results[0]!.reply })).toBe('550 5.1.1 no such user');
});

// ---- item 13: SMTPUTF8 per transaction --------------------------------------------------------

test('§9 SMTPUTF8 is decided per transaction: the ASCII recipient is delivered to a server without SMTPUTF8, only the UTF-8 Bcc fails 5.6.7', async () => {
  let body = '';
  const recording = await scripted((c) => serveBasic(c, { ehlo: ['8BITMIME', 'ENHANCEDSTATUSCODES'], onData: (b) => (body = b.toString()) }));
  singleStack('ascii.test', '127.0.1.52', recording.port);
  const m = h.core.store.getMessage(await h.send({ to: ['plain@ascii.test'], bcc: ['jösé@ascii.test'] }))!;
  const byAddr = Object.fromEntries(m.recipients.map((r) => [r.envelope, r]));
  expect(byAddr['plain@ascii.test']).toMatchObject({ state: 'delivered' });
  expect(byAddr['jösé@ascii.test']).toMatchObject({ state: 'failed', lastEnhanced: '5.6.7' });
  expect(body).toContain('Hello there');
  expect(recording.connections.flatMap((c) => c.lines).some((l) => /^MAIL FROM:.*SMTPUTF8/i.test(l))).toBe(false);
});

// ---- helpers -----------------------------------------------------------------------------------

function draft(to: string) {
  return { from: 'Sender <sender@outbox.test>', to: [to], cc: [], bcc: [], subject: 'hello', text: 'Hello there.\n', attachments: [], tlsMode: 'default' as const };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
