/**
 * Issue 14 item 2: connection reuse (as Postfix's connection cache; RFC 5321 §4.1.4, §4.1.1.5)
 * through the real engine (Outbox → queue → delivery → SMTP client) against scripted peers that
 * log every connection and every line the client sent.
 *
 * - several messages to one destination go through one session, with RSET between them, and
 *   every attempt says whether its session was new or reused (record, store, export);
 * - a session is not reused when the next message's TLS requirement differs (REQUIRETLS, TLS
 *   optional): that message gets its own session, secured and checked under its own policy;
 * - an idle session is closed (QUIT) after the idle timeout (injected clock);
 * - a session carries at most maxTransactions transactions;
 * - a server that dropped the idle session: the next message opens a new one, and that is not
 *   a failure of the message (one attempt, delivered).
 */
import { PassThrough } from 'node:stream';
import { expect, test, vi } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { LocalDraft } from '../../../shared/domain';
import { exportAttempts } from '../../../src-main/core/export/export';
import { startScriptedPeer } from '../../helpers/smtp-peer';
import { mx, recordingPeer, stsPolicy, useHarness, type Harness, type RecordingPeer } from '../tls-policy/harness';

const pki = useHarness();

async function setup(opts: Parameters<typeof pki.harness>[0] = {}, peerOpts: { requireTls?: boolean } = {}): Promise<{ x: Harness; peer: RecordingPeer }> {
  const x = await pki.harness(opts);
  const cert = pki.ca.issue({ names: ['mx.reuse.test'] });
  const peer = await recordingPeer(x, { cert, ...(peerOpts.requireTls ? { ehloAfterTls: ['REQUIRETLS'] } : {}) });
  mx(x.dns, 'reuse.test', [[10, 'mx.reuse.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);
  return { x, peer };
}

const verbs = (lines: string[]) => lines.map((l) => l.split(/[ :]/)[0]!.toUpperCase());

test('item 2: three messages to one host go through one session, RSET between transactions; each attempt says new or reused', async () => {
  const { x, peer } = await setup();
  const ms = [];
  for (let i = 0; i < 3; i++) ms.push(await x.send({ to: [`r${i}@reuse.test`] }));
  expect(ms.map((m) => m.recipients[0]!.state)).toEqual(['delivered', 'delivered', 'delivered']);
  expect(peer.sessions).toHaveLength(1);
  expect(peer.messages).toHaveLength(3);
  expect(peer.messages.every((m) => m.secure)).toBe(true);
  // RFC 5321 §4.1.1.5: RSET before each further transaction, after the first one's data.
  const v = verbs(peer.sessions[0]!.lines);
  expect(v.filter((x) => x === 'EHLO')).toHaveLength(2); // before and after STARTTLS, once
  expect(v.filter((x) => x === 'STARTTLS')).toHaveLength(1);
  expect(v.slice(v.indexOf('MAIL'))).toEqual(['MAIL', 'RCPT', 'DATA', 'RSET', 'MAIL', 'RCPT', 'DATA', 'RSET', 'MAIL', 'RCPT', 'DATA']);
  expect(v).not.toContain('QUIT');

  const [a, b, c] = ms.map((m) => m.attempts[0]!);
  expect(a!.reusedSession).toBe(false);
  expect(b!.reusedSession).toBe(true);
  expect(c!.reusedSession).toBe(true);
  // The reused session's TLS facts are those it was established with, recorded again.
  for (const r of [b!, c!]) {
    expect(r).toMatchObject({ starttls: true, verification: 'pkix', tlsVersion: a!.tlsVersion, tlsCipher: a!.tlsCipher, certFingerprint: a!.certFingerprint, ip: '127.0.1.1' });
    // RFC 8460 §4.4 sending-mta-ip: the kept connection's, as recorded for the first message.
    expect(r.localIp).toBe(a!.localIp);
    expect(r.transcript.some((l) => l.dir === 'c' && l.text === 'RSET')).toBe(true);
    expect(r.transcript.some((l) => l.dir === 'c' && l.text.startsWith('EHLO'))).toBe(false);
  }
  expect(x.dialed).toEqual(['127.0.1.1']);

  // The export says it too (reused_session), one row per attempt result.
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (d: Buffer) => chunks.push(d));
  await exportAttempts(x.core.store, { format: 'ndjson' }, out);
  const rows = Buffer.concat(chunks).toString().trim().split('\n').map((l) => JSON.parse(l) as { recipient: string; reusedSession: boolean });
  expect(rows.map((r) => [r.recipient, r.reusedSession])).toEqual([
    ['r0@reuse.test', false],
    ['r1@reuse.test', true],
    ['r2@reuse.test', true],
  ]);

  // Closing the app closes the kept session politely.
  await x.close();
  await vi.waitFor(() => expect(verbs(peer.sessions[0]!.lines).at(-1)).toBe('QUIT'));
});

test('item 2: a session is not reused across a changed TLS requirement (REQUIRETLS to a host without it; TLS-Required: No)', async () => {
  const { x, peer } = await setup();
  stsPolicy(x, 'reuse.test', { id: 'p1', mode: 'enforce', mx: ['mx.reuse.test'] });
  const first = await x.send({ to: ['a@reuse.test'] });
  expect(first.recipients[0]!.state).toBe('delivered');
  expect(first.attempts[0]).toMatchObject({ verification: 'pkix', mtaStsMode: 'enforce', reusedSession: false });

  // REQUIRETLS: the kept session was established for a message without it; the host does
  // not announce REQUIRETLS, which only a session of its own finds out (RFC 8689 §4.2.1).
  const rt = await x.send({ to: ['b@reuse.test'], tlsMode: 'requiretls' });
  expect(rt.recipients[0]!.state).toBe('failed');
  expect(rt.recipients[0]!.lastEnhanced).toBe('5.7.30');
  expect(rt.attempts[0]).toMatchObject({ reusedSession: false, requiretls: true });
  expect(peer.sessions).toHaveLength(2);
  expect(peer.sessions[1]!.lines.some((l) => /^MAIL /i.test(l))).toBe(false);

  // TLS-Required: No is another policy (verification errors only recorded): its own session.
  const optional = await x.send({ to: ['c@reuse.test'], tlsMode: 'tls-optional' });
  expect(optional.recipients[0]!.state).toBe('delivered');
  expect(optional.attempts[0]!.reusedSession).toBe(false);
  expect(peer.sessions).toHaveLength(3);

  // The default message again: the first session, still kept under its policy, carries it.
  const again = await x.send({ to: ['d@reuse.test'] });
  expect(again.attempts[0]!.reusedSession).toBe(true);
  expect(peer.sessions).toHaveLength(3);
  expect(verbs(peer.sessions[0]!.lines).filter((v) => v === 'MAIL')).toHaveLength(2);
});

test('item 2: a changed MTA-STS policy (now enforce) is a different policy: a new session, PKIX-verified under it', async () => {
  const { x, peer } = await setup();
  const before = await x.send({ to: ['a@reuse.test'] });
  expect(before.attempts[0]).toMatchObject({ mtaStsMode: null, reusedSession: false });
  stsPolicy(x, 'reuse.test', { id: 'p2', mode: 'enforce', mx: ['mx.reuse.test'] });
  const after = await x.send({ to: ['b@reuse.test'] });
  expect(after.recipients[0]!.state).toBe('delivered');
  expect(after.attempts[0]).toMatchObject({ mtaStsMode: 'enforce', verification: 'pkix', reusedSession: false });
  expect(peer.sessions).toHaveLength(2);
});

test('item 2: an idle session is closed with QUIT after the idle timeout (injected clock); the next message opens a new one', async () => {
  const clock = new ManualClock(Date.now());
  const { x, peer } = await setup({ clock, network: { sessionPool: { idleMs: 4000 } } });
  await x.send({ to: ['a@reuse.test'] });
  clock.advance(3999);
  await new Promise((r) => setTimeout(r, 50));
  expect(verbs(peer.sessions[0]!.lines)).not.toContain('QUIT');
  clock.advance(1);
  await vi.waitFor(() => expect(verbs(peer.sessions[0]!.lines).at(-1)).toBe('QUIT'));
  const next = await x.send({ to: ['b@reuse.test'] });
  expect(next.recipients[0]!.state).toBe('delivered');
  expect(next.attempts[0]!.reusedSession).toBe(false);
  expect(peer.sessions).toHaveLength(2);
});

test('item 2: a session carries at most maxTransactions transactions, then QUIT and a new one', async () => {
  const { x, peer } = await setup({ network: { sessionPool: { maxTransactions: 2 } } });
  const ms = [];
  for (let i = 0; i < 5; i++) ms.push(await x.send({ to: [`r${i}@reuse.test`] }));
  expect(ms.every((m) => m.recipients[0]!.state === 'delivered')).toBe(true);
  expect(ms.map((m) => m.attempts[0]!.reusedSession)).toEqual([false, true, false, true, false]);
  expect(peer.sessions).toHaveLength(3);
  const mails = peer.sessions.map((s) => verbs(s.lines).filter((v) => v === 'MAIL').length);
  expect(mails).toEqual([2, 2, 1]);
  expect(verbs(peer.sessions[0]!.lines).at(-1)).toBe('QUIT');
  expect(verbs(peer.sessions[1]!.lines).at(-1)).toBe('QUIT');
});

/**
 * A plaintext server that ends an idle session after its first transaction, its own way: closes
 * it while idle, answers the next RSET with 421, or drops the connection at that RSET without a
 * reply. With `pipelining` false it does not announce PIPELINING (RSET goes lock-step).
 */
async function droppingPeer(x: Harness, drop: 'close' | '421-on-rset' | 'lost-at-rset', pipelining = true) {
  const sessions: string[][] = [];
  const delivered: string[] = [];
  let closed = 0;
  const peer = await startScriptedPeer(async (c) => {
    sessions.push(c.lines);
    c.write('220 drop.test ESMTP\r\n');
    let transactions = 0;
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      const verb = line.split(' ')[0]!.toUpperCase();
      if (verb === 'EHLO') c.write(pipelining ? '250-drop.test\r\n250 PIPELINING\r\n' : '250 drop.test\r\n');
      else if (verb === 'MAIL' || verb === 'RCPT') c.write('250 ok\r\n');
      else if (verb === 'DATA') {
        c.write('354 go ahead\r\n');
        await c.readData();
        delivered.push(`session ${sessions.length}`);
        c.write('250 2.0.0 queued\r\n');
        transactions++;
        // Postfix's smtpd closes a connection idle longer than its timeout; here after 100 ms.
        if (drop === 'close') {
          await new Promise((r) => setTimeout(r, 100));
          c.write('421 4.4.2 drop.test idle timeout\r\n');
          c.end();
          closed++;
          return;
        }
      } else if (verb === 'RSET') {
        if (drop === '421-on-rset' && transactions > 0) {
          c.write('421 4.4.2 drop.test closing transmission channel\r\n');
          c.end();
          return;
        }
        if (drop === 'lost-at-rset' && transactions > 0) {
          c.destroy();
          return;
        }
        c.write('250 ok\r\n');
      } else if (verb === 'QUIT') {
        c.write('221 bye\r\n');
        c.end();
        return;
      } else c.write('502 5.5.1 no\r\n');
    }
  });
  x.track(peer);
  mx(x.dns, 'drop.test', [[10, 'mx.drop.test', '127.0.1.9']]);
  x.routes.set('127.0.1.9', peer.port);
  return {
    sessions,
    delivered,
    get closed() {
      return closed;
    },
  };
}

for (const [drop, pipelining] of [
  ['close', true],
  ['421-on-rset', true],
  ['lost-at-rset', true],
  ['421-on-rset', false],
  ['lost-at-rset', false],
] as const) {
  test(`item 2: a server that dropped the idle session (${drop}${pipelining ? ', RSET pipelined' : ', no PIPELINING'}) → the next message opens a new one, not counted as a failure`, async () => {
    const x = await pki.harness();
    const p = await droppingPeer(x, drop, pipelining);
    const first = await x.send({ to: ['a@drop.test'] });
    expect(first.recipients[0]!.state).toBe('delivered');
    if (drop === 'close') await vi.waitFor(() => expect(p.closed).toBe(1));
    const second = await x.send({ to: ['b@drop.test'] });
    const r = second.recipients[0]!;
    expect(r.state).toBe('delivered');
    // One attempt, delivered, on a session of its own: nothing recorded as failed or deferred.
    expect(r.attempts).toBe(1);
    expect(second.attempts).toHaveLength(1);
    expect(second.attempts[0]).toMatchObject({ reusedSession: false, errorCode: null, code: 250 });
    expect(p.sessions).toHaveLength(2);
    expect(p.delivered).toEqual(['session 1', 'session 2']);
    if (drop !== 'close') {
      // The record shows the try on the kept session, then the new one's conversation.
      const t = second.attempts[0]!.transcript.map((l) => l.text);
      const fellBack = t.indexOf('the kept session is no longer usable; opening a new one');
      expect(t.slice(0, fellBack).some((l) => l === 'RSET')).toBe(true);
      expect(t.slice(fellBack).some((l) => l.startsWith('EHLO'))).toBe(true);
      // Under PIPELINING the server saw MAIL, RCPT and DATA behind the RSET, but no data.
      expect(p.sessions[0]!.filter((l) => l === 'RSET')).toHaveLength(1);
    }
  });
}

test("item 2: the queue's stop closes the idle kept sessions (QUIT): none lingers after stop", async () => {
  const { x, peer } = await setup();
  const m = await x.core.submit(LocalDraft.parse({ from: 'Sender <sender@outbox.test>', to: ['a@reuse.test'], subject: 'hello', text: 'Hello there.\n' }));
  if (!m.ok) throw new Error('submit failed');
  x.core.queue.start();
  await x.core.queue.firstAttemptsDone(m.messageId);
  // Delivered, and its session kept for the next message (the pool holds it).
  await vi.waitFor(() => expect(x.core.engine.sessionPool?.size).toBe(1));
  expect(verbs(peer.sessions[0]!.lines)).not.toContain('QUIT');
  await x.core.queue.stop();
  expect(x.core.engine.sessionPool?.size).toBe(0);
  await vi.waitFor(() => expect(verbs(peer.sessions[0]!.lines).at(-1)).toBe('QUIT'));
});

test('item 2: the per-session transaction limit is exact when a message splits across transactions (RCPTMAX): the rest go on a new session', async () => {
  const x = await pki.harness({ network: { sessionPool: { maxTransactions: 2 } } });
  const cert = pki.ca.issue({ names: ['mx.split.test'] });
  // RFC 9422: one recipient per transaction, so three recipients need three transactions.
  const peer = await recordingPeer(x, { cert, ehloAfterTls: ['LIMITS RCPTMAX=1'] });
  mx(x.dns, 'split.test', [[10, 'mx.split.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);
  const m = await x.send({ to: ['a@split.test', 'b@split.test', 'c@split.test'] });
  expect(m.recipients.map((r) => r.state)).toEqual(['delivered', 'delivered', 'delivered']);
  const mails = () => peer.sessions.map((s) => verbs(s.lines).filter((v) => v === 'MAIL').length);
  // Never more than two transactions on one session: 2 + 1, not 3.
  expect(mails()).toEqual([2, 1]);
  expect(verbs(peer.sessions[0]!.lines).at(-1)).toBe('QUIT');
  // Two attempt records, each truthful about its own session; none says failed or deferred.
  expect(m.attempts).toHaveLength(2);
  expect(m.attempts.map((a) => a.reusedSession)).toEqual([false, false]);
  expect(m.attempts.every((a) => a.errorCode === null)).toBe(true);
  expect(m.recipients.every((r) => r.attempts === 1)).toBe(true);

  // A kept session with one transaction left takes the next message's first transaction only.
  const n = await x.send({ to: ['d@split.test', 'e@split.test'] });
  expect(n.recipients.map((r) => r.state)).toEqual(['delivered', 'delivered']);
  expect(n.attempts.map((a) => a.reusedSession)).toEqual([true, false]);
  expect(mails()).toEqual([2, 2, 1]);
  expect(mails().every((c) => c <= 2)).toBe(true);
});
