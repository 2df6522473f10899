import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { createTestCa, type TestCa } from '../../helpers/certs';
import { startScriptedPeer, startSmtpPeer, serveBasic, type SmtpPeer } from '../../helpers/smtp-peer';
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
  await h.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function tlsPeer(name: string, extra: Parameters<typeof startSmtpPeer>[0] = {}): Promise<SmtpPeer> {
  const leaf = ca.issue({ names: [name] });
  const p = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem }, ...extra });
  peers.push(p);
  return p;
}

function mx(domain: string, hosts: [number, string, string][]) {
  h.dns.add(domain, 'MX', hosts.map(([preference, exchange]) => ({ preference, exchange })));
  for (const [, exchange, ip] of hosts) h.dns.add(exchange, 'A', [ip]);
}

test('§8/§4: recipients at one domain go in one STARTTLS transaction; verified PKIX is recorded', async () => {
  const peer = await tlsPeer('mx1.one.test');
  mx('one.test', [[10, 'mx1.one.test', '127.0.1.1']]);
  h.routes.set('127.0.1.1', peer.port);
  const id = await h.send({ to: ['a@one.test', 'B <b@one.test>'] });
  const m = h.core.store.getMessage(id)!;
  expect(m.recipients.map((r) => r.state)).toEqual(['delivered', 'delivered']);
  expect(peer.messages).toHaveLength(1);
  expect(peer.messages[0]!.rcptTo).toEqual(['a@one.test', 'b@one.test']);
  expect(peer.messages[0]!.secure).toBe(true);
  // Dot-stuffing round trip: the body's lone "." line arrived intact.
  expect(peer.messages[0]!.body.toString()).toMatch(/Hello there\.\r\n\.\r\nA dot line above\./);
  expect(peer.messages[0]!.body.toString()).not.toMatch(/^Bcc:/im);
  const a = m.attempts[0]!;
  expect(a).toMatchObject({ host: 'mx1.one.test', ip: '127.0.1.1', starttls: true, verification: 'pkix', plaintextFallback: false, code: 250 });
  expect(a.tlsVersion).toMatch(/^TLSv1\.[23]$/);
  expect(a.certFingerprint).toMatch(/^[0-9a-f]{64}$/);
  expect(a.transcript.some((l) => l.dir === 'c' && l.text.startsWith('EHLO client.outbox.test'))).toBe(true);
  expect(a.transcript.some((l) => l.text.includes('Hello there'))).toBe(false); // never the body
  expect(h.core.store.domainHints(['one.test'])[0]).toMatchObject({ starttls: true, requiretls: false });
});

test('§4: a failed TLS handshake without a policy falls back to plaintext and says so', async () => {
  let connections = 0;
  let delivered: Buffer | undefined;
  const peer = await startScriptedPeer(async (c) => {
    connections++;
    if (connections === 1) {
      c.write('220 broken.test ESMTP\r\n');
      await c.readLine();
      c.write('250-broken.test\r\n250 STARTTLS\r\n');
      await c.readLine();
      c.write('220 go ahead\r\n');
      c.write('this is not a TLS server hello\r\n');
      c.end();
      return;
    }
    await serveBasic(c, { ehlo: ['PIPELINING', 'STARTTLS'], onData: (b) => (delivered = b) });
  });
  peers.push(peer);
  mx('broken.test', [[10, 'mx.broken.test', '127.0.1.2']]);
  h.routes.set('127.0.1.2', peer.port);
  const id = await h.send({ to: ['a@broken.test'] });
  const m = h.core.store.getMessage(id)!;
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(delivered?.toString()).toContain('Hello there');
  const a = m.attempts.at(-1)!;
  expect(a).toMatchObject({ starttls: false, plaintextFallback: true });
  expect(m.unencrypted).toBe(true);
  expect(connections).toBe(2);
});

test('§8: one recipient rejected with its 5xx while the other is delivered', async () => {
  const peer = await tlsPeer('mx.mixed.test', { rejectRcpt: { 'nobody@mixed.test': 550 } });
  mx('mixed.test', [[10, 'mx.mixed.test', '127.0.1.3']]);
  h.routes.set('127.0.1.3', peer.port);
  const id = await h.send({ to: ['nobody@mixed.test', 'somebody@mixed.test'] });
  const [bad, good] = h.core.store.getMessage(id)!.recipients;
  expect(bad).toMatchObject({ state: 'failed', lastCode: 550 });
  expect(good).toMatchObject({ state: 'delivered' });
  expect(peer.messages[0]!.rcptTo).toEqual(['somebody@mixed.test']);
  const notices = h.core.store.listNotices(10);
  expect(notices.some((n) => n.kind === 'failure' && n.text.includes('nobody@mixed.test'))).toBe(true);
});

test('§7: an unreachable first MX falls through to the second', async () => {
  const peer = await tlsPeer('mx2.fall.test');
  mx('fall.test', [
    [10, 'mx1.fall.test', '127.0.1.4'],
    [20, 'mx2.fall.test', '127.0.1.5'],
  ]);
  h.routes.set('127.0.1.5', peer.port); // .4 refuses connections
  const id = await h.send({ to: ['a@fall.test'] });
  const m = h.core.store.getMessage(id)!;
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts.map((a) => [a.host, a.errorCode])).toEqual([
    ['mx1.fall.test', 'CONNECT_FAILED'],
    ['mx2.fall.test', null],
  ]);
  expect(h.dialed).toEqual(['127.0.1.4', '127.0.1.5']);
});

test('§1: null MX fails at once with 5.1.10; NXDOMAIN with 5.1.2; implicit MX delivers', async () => {
  h.dns.add('null.test', 'MX', [{ preference: 0, exchange: '.' }]);
  const id1 = await h.send({ to: ['a@null.test'] });
  expect(h.core.store.getMessage(id1)!.recipients[0]).toMatchObject({ state: 'failed', lastEnhanced: '5.1.10', attempts: 1 });

  const id2 = await h.send({ to: ['a@nowhere.test'] });
  expect(h.core.store.getMessage(id2)!.recipients[0]).toMatchObject({ state: 'failed', lastEnhanced: '5.1.2' });

  const peer = await tlsPeer('implicit.test');
  h.dns.add('implicit.test', 'A', ['127.0.1.6']);
  h.routes.set('127.0.1.6', peer.port);
  const id3 = await h.send({ to: ['a@implicit.test'] });
  expect(h.core.store.getMessage(id3)!.recipients[0]!.state).toBe('delivered');
});

test('§8: 452 "too many recipients" sends the rest in another transaction right after', async () => {
  const bodies: string[][] = [];
  const peer = await startScriptedPeer(async (c) => {
    let batch: string[] = [];
    await serveBasic(c, {
      ehlo: ['PIPELINING', '8BITMIME'],
      rcpt: (addr, i) => {
        if (i >= 2) return '452 4.5.3 too many recipients';
        batch.push(addr);
        return '250 2.1.5 ok';
      },
      onData: () => {
        bodies.push(batch);
        batch = [];
      },
    });
  });
  peers.push(peer);
  mx('many.test', [[10, 'mx.many.test', '127.0.1.7']]);
  h.routes.set('127.0.1.7', peer.port);
  const id = await h.send({ to: ['a@many.test', 'b@many.test', 'c@many.test', 'd@many.test', 'e@many.test'] });
  expect(h.core.store.getMessage(id)!.recipients.map((r) => r.state)).toEqual(Array(5).fill('delivered'));
  expect(bodies).toEqual([['a@many.test', 'b@many.test'], ['c@many.test', 'd@many.test'], ['e@many.test']]);
});

test('§7: a 4xx defers with the next attempt scheduled; the reply is kept', async () => {
  const peer = await tlsPeer('mx.grey.test', { rejectRcpt: { 'a@grey.test': 450 } });
  mx('grey.test', [[10, 'mx.grey.test', '127.0.1.8']]);
  h.routes.set('127.0.1.8', peer.port);
  const before = Date.now();
  const id = await h.send({ to: ['a@grey.test'] });
  const r = h.core.store.getMessage(id)!.recipients[0]!;
  expect(r).toMatchObject({ state: 'deferred', lastCode: 450, attempts: 1 });
  expect(r.nextAttemptAt! - before).toBeGreaterThan(6 * 60_000);
});

test('§7: a 5.7.x policy rejection on the first attempt to a dual-stack host is temporary; on a single-stack host it is permanent', async () => {
  const scripted = await startScriptedPeer((c) => serveBasic(c, { ehlo: ['PIPELINING', 'ENHANCEDSTATUSCODES'], rcpt: () => '550 5.7.1 Service unavailable; client host blocked' }));
  peers.push(scripted);
  h.dns.add('dual.test', 'MX', [{ preference: 10, exchange: 'mx.dual.test' }]);
  h.dns.add('mx.dual.test', 'A', ['127.0.1.9']);
  h.dns.add('mx.dual.test', 'AAAA', ['fd00::9']);
  h.dns.add('single.test', 'MX', [{ preference: 10, exchange: 'mx.single.test' }]);
  h.dns.add('mx.single.test', 'A', ['127.0.1.10']);
  h.routes.set('127.0.1.9', scripted.port);
  h.routes.set('127.0.1.10', scripted.port);
  const dual = h.core.store.getMessage(await h.send({ to: ['a@dual.test'] }))!.recipients[0]!;
  expect(dual).toMatchObject({ state: 'deferred', lastCode: 550, lastEnhanced: '5.7.1', attempts: 1 });
  const single = h.core.store.getMessage(await h.send({ to: ['a@single.test'] }))!.recipients[0]!;
  expect(single).toMatchObject({ state: 'failed', lastCode: 550, lastEnhanced: '5.7.1' });
});
