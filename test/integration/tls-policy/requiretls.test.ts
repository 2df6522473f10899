/**
 * delivery-rules §5 (RFC 8689 §4) through the real engine: a REQUIRETLS message goes only to
 * hosts protected by DANE or an MTA-STS enforce policy, over verified TLS, to a server that
 * announced REQUIRETLS after STARTTLS, with `MAIL FROM:<...> REQUIRETLS`. Hosts that do not
 * qualify fail with 5.7.30; when all do, the failure is permanent at once. Never plaintext.
 */
import { expect, test } from 'vitest';
import { type CertFiles } from '../../helpers/certs';
import { type Harness, mailCommands, mx, plainPeer, recordingPeer, stsPolicy, tlsaData, useHarness } from './harness';

const pki = useHarness();
const harness = pki.harness;
const selfSigned = pki.selfSigned;

/** A DNSSEC-signed MX host with a DANE-EE 3 1 1 record for `cert`. */
function daneHost(x: Harness, domain: string, hosts: { host: string; ip: string; cert: CertFiles; pref?: number; ipv6?: string }[]): void {
  x.dns.add(domain, 'MX', hosts.map((o, i) => ({ preference: o.pref ?? 10 * (i + 1), exchange: o.host })), { ad: true });
  for (const o of hosts) {
    x.dns.add(o.host, 'A', [o.ip], { ad: true });
    if (o.ipv6) x.dns.add(o.host, 'AAAA', [o.ipv6], { ad: true });
    x.dns.add(`_25._tcp.${o.host}`, 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: tlsaData(o.cert.certPem, 1, 1) }], { ad: true });
  }
}

test('§5 REQUIRETLS behind DANE: the server announces REQUIRETLS after STARTTLS → delivered with MAIL FROM:<...> REQUIRETLS', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.rt-dane.test']);
  const peer = await recordingPeer(x, { cert, ehloAfterTls: ['REQUIRETLS'] });
  daneHost(x, 'rt-dane.test', [{ host: 'mx.rt-dane.test', ip: '127.0.1.1', cert }]);
  x.routes.set('127.0.1.1', peer.peer.port);

  const m = await x.send({ to: ['a@rt-dane.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(mailCommands(peer)).toEqual(['MAIL FROM:<sender@outbox.test> REQUIRETLS']);
  expect(peer.messages).toHaveLength(1);
  expect(peer.messages[0]!.secure).toBe(true);
  expect(m.attempts[0]).toMatchObject({ requiretls: true, verification: 'dane-ee', starttls: true });
});

test('§5 REQUIRETLS behind MTA-STS enforce (PKIX) → delivered with MAIL FROM:<...> REQUIRETLS', async () => {
  const x = await harness();
  const cert = pki.ca.issue({ names: ['mx.rt-sts.test'] });
  const peer = await recordingPeer(x, { cert, ehloAfterTls: ['REQUIRETLS'] });
  mx(x.dns, 'rt-sts.test', [[10, 'mx.rt-sts.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);
  stsPolicy(x, 'rt-sts.test', { id: 'v1', mode: 'enforce', mx: ['mx.rt-sts.test'] });

  const m = await x.send({ to: ['a@rt-sts.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(mailCommands(peer)).toEqual(['MAIL FROM:<sender@outbox.test> REQUIRETLS']);
  expect(peer.messages[0]!.secure).toBe(true);
  expect(m.attempts[0]).toMatchObject({ requiretls: true, verification: 'pkix', mtaStsMode: 'enforce' });
});

test('§5 REQUIRETLS: a qualified host that does not announce REQUIRETLS → 5.7.30, no MAIL sent; the only host, so failed at once', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.rt-noext.test']);
  // REQUIRETLS only before TLS does not count (RFC 8689 §4.2.1 / rules §4: post-TLS EHLO only).
  const peer = await recordingPeer(x, { cert, ehloBeforeTls: ['REQUIRETLS'] });
  daneHost(x, 'rt-noext.test', [{ host: 'mx.rt-noext.test', ip: '127.0.1.1', cert }]);
  x.routes.set('127.0.1.1', peer.peer.port);

  const m = await x.send({ to: ['a@rt-noext.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'failed', attempts: 1, lastEnhanced: '5.7.30' });
  expect(mailCommands(peer)).toEqual([]);
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ requiretls: true, starttls: true, enhancedCode: '5.7.30' });
});

test('§5 REQUIRETLS: a host without DANE or MTA-STS enforce → 5.7.30, never dialed; every host refused → failed permanently at once', async () => {
  const x = await harness();
  // Trusted certificate and REQUIRETLS announced: still not protected against DNS spoofing.
  const cert = pki.ca.issue({ names: ['mx.rt-none.test'] });
  const peer = await recordingPeer(x, { cert, ehloAfterTls: ['REQUIRETLS'] });
  mx(x.dns, 'rt-none.test', [[10, 'mx.rt-none.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);

  const m = await x.send({ to: ['a@rt-none.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'failed', attempts: 1, lastEnhanced: '5.7.30', lastErrorCode: 'REQUIRETLS_UNSUPPORTED' });
  expect(x.dialed).toEqual([]);
  expect(peer.sessions).toHaveLength(0);
  expect(x.core.store.listNotices(10).some((n) => n.kind === 'failure' && n.text.includes('a@rt-none.test'))).toBe(true);
});

test('§5 REQUIRETLS: MTA-STS testing does not qualify a host → 5.7.30', async () => {
  const x = await harness();
  const cert = pki.ca.issue({ names: ['mx.rt-testing.test'] });
  const peer = await recordingPeer(x, { cert, ehloAfterTls: ['REQUIRETLS'] });
  mx(x.dns, 'rt-testing.test', [[10, 'mx.rt-testing.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);
  stsPolicy(x, 'rt-testing.test', { id: 'v1', mode: 'testing', mx: ['mx.rt-testing.test'] });

  const m = await x.send({ to: ['a@rt-testing.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'failed', attempts: 1, lastEnhanced: '5.7.30' });
  expect(peer.sessions).toHaveLength(0);
});

test('§5 REQUIRETLS: every host refused for different 5.7.30 reasons (unqualified, no extension) → failed permanently at once', async () => {
  const x = await harness();
  const cert = selfSigned(['mx1.rt-all.test']);
  const qualified = await recordingPeer(x, { cert }); // DANE, but no REQUIRETLS
  x.dns.add('rt-all.test', 'MX', [{ preference: 10, exchange: 'mx1.rt-all.test' }, { preference: 20, exchange: 'mx2.rt-all.test' }], { ad: true });
  x.dns.add('mx1.rt-all.test', 'A', ['127.0.1.1'], { ad: true });
  x.dns.add('_25._tcp.mx1.rt-all.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: tlsaData(cert.certPem, 1, 1) }], { ad: true });
  x.dns.add('mx2.rt-all.test', 'A', ['127.0.1.2'], { ad: true }); // no TLSA: unqualified
  x.routes.set('127.0.1.1', qualified.peer.port);

  const m = await x.send({ to: ['a@rt-all.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'failed', attempts: 1, lastEnhanced: '5.7.30' });
  expect(m.attempts.map((a) => [a.host, a.enhancedCode])).toEqual([
    ['mx1.rt-all.test', '5.7.30'],
    ['mx2.rt-all.test', '5.7.30'],
  ]);
  expect(qualified.messages).toHaveLength(0);
});

test('§5 REQUIRETLS: one host refused (5.7.30), another merely unreachable → deferred, not failed', async () => {
  const x = await harness();
  const cert1 = selfSigned(['mx1.rt-mixed.test']);
  const cert2 = selfSigned(['mx2.rt-mixed.test']);
  const refusing = await recordingPeer(x, { cert: cert1 });
  daneHost(x, 'rt-mixed.test', [
    { host: 'mx1.rt-mixed.test', ip: '127.0.1.1', cert: cert1 },
    { host: 'mx2.rt-mixed.test', ip: '127.0.1.2', cert: cert2 }, // no route: connection refused
  ]);
  x.routes.set('127.0.1.1', refusing.peer.port);

  const m = await x.send({ to: ['a@rt-mixed.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', attempts: 1 });
  expect(refusing.messages).toHaveLength(0);
});

test('§5 REQUIRETLS: a dual-stack qualified host refusing on both addresses is one refused host → failed permanently at once', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.rt-dual.test']);
  const peer = await recordingPeer(x, { cert }); // no REQUIRETLS
  daneHost(x, 'rt-dual.test', [{ host: 'mx.rt-dual.test', ip: '127.0.1.1', ipv6: '::1', cert }]);
  x.routes.set('127.0.1.1', peer.peer.port);
  x.routes.set('::1', peer.peer.port);

  const m = await x.send({ to: ['a@rt-dual.test'], tlsMode: 'requiretls' });
  expect(x.dialed).toEqual(['127.0.1.1', '::1']);
  expect(m.recipients[0]).toMatchObject({ state: 'failed', attempts: 1, lastEnhanced: '5.7.30' });
  expect(peer.messages).toHaveLength(0);
});

test('§5 REQUIRETLS: a dual-stack host refusing twice plus an unreachable host → deferred (not every host refused)', async () => {
  const x = await harness();
  const cert1 = selfSigned(['mx1.rt-dual2.test']);
  const cert2 = selfSigned(['mx2.rt-dual2.test']);
  const peer = await recordingPeer(x, { cert: cert1 });
  daneHost(x, 'rt-dual2.test', [
    { host: 'mx1.rt-dual2.test', ip: '127.0.1.1', ipv6: '::1', cert: cert1 },
    { host: 'mx2.rt-dual2.test', ip: '127.0.1.2', cert: cert2 }, // unreachable
  ]);
  x.routes.set('127.0.1.1', peer.peer.port);
  x.routes.set('::1', peer.peer.port);

  const m = await x.send({ to: ['a@rt-dual2.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', attempts: 1 });
});

test('§5 REQUIRETLS never falls back to plaintext: qualified host without STARTTLS → not delivered', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.rt-strip.test']);
  const peer = await plainPeer(x);
  daneHost(x, 'rt-strip.test', [{ host: 'mx.rt-strip.test', ip: '127.0.1.1', cert }]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@rt-strip.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TLS_REQUIRED' });
  expect(peer.messages).toHaveLength(0);
  expect(m.unencrypted).toBe(false);
});

test('§5 REQUIRETLS never falls back to plaintext: handshake failure → no reconnect, no MAIL', async () => {
  const x = await harness();
  const peer = await recordingPeer(x, { breakHandshake: true, ehloAfterTls: ['REQUIRETLS'] });
  mx(x.dns, 'rt-hs.test', [[10, 'mx.rt-hs.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);
  stsPolicy(x, 'rt-hs.test', { id: 'v1', mode: 'enforce', mx: ['mx.rt-hs.test'] });

  const m = await x.send({ to: ['a@rt-hs.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]!.state).toBe('deferred');
  expect(peer.sessions).toHaveLength(1);
  expect(mailCommands(peer)).toEqual([]);
  expect(m.unencrypted).toBe(false);
});

test('§5 REQUIRETLS never ignores a verification error: DANE mismatch → not delivered', async () => {
  const x = await harness();
  const presented = selfSigned(['mx.rt-bad.test']);
  const published = selfSigned(['mx.rt-bad.test']);
  const peer = await recordingPeer(x, { cert: presented, ehloAfterTls: ['REQUIRETLS'] });
  daneHost(x, 'rt-bad.test', [{ host: 'mx.rt-bad.test', ip: '127.0.1.1', cert: published }]);
  x.routes.set('127.0.1.1', peer.peer.port);

  const m = await x.send({ to: ['a@rt-bad.test'], tlsMode: 'requiretls' });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'CERT_INVALID' });
  expect(mailCommands(peer)).toEqual([]);
});
