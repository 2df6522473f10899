/**
 * delivery-rules §3 (RFC 7672, RFC 6698, RFC 7671) through the real engine: DANE applies only
 * to a DNSSEC-authentic MX → address → TLSA chain; usable records make STARTTLS mandatory and
 * decide verification (DANE-EE, DANE-TA); unusable ones still require TLS; lookup failures on
 * secure names defer the host. Downgrades (no STARTTLS, broken handshake) never yield plaintext.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type CertFiles, createTestCa, type TestCa } from '../../helpers/certs';
import { type Harness, mailCommands, plainPeer, recordingPeer, stsPolicy, tlsaData, tlsPeer, useHarness } from './harness';

const pki = useHarness();
const harness = pki.harness;
const selfSigned = pki.selfSigned;
/** A CA the PKIX store does not know: only DANE-TA can make its leaves acceptable. */
let daneCa: TestCa;

beforeAll(() => {
  daneCa = createTestCa({ commonName: 'DANE-only CA' });
});
afterAll(() => daneCa.cleanup());

type Tlsa = { usage: number; selector: number; matchingType: number; data: Buffer };
const ee = (cert: CertFiles, selector: 0 | 1 = 1, matchingType: 0 | 1 | 2 = 1): Tlsa => ({ usage: 3, selector, matchingType, data: tlsaData(cert.certPem, selector, matchingType) });

/** A signed zone: MX, the host's A (AAAA is then a secure NODATA) and TLSA, all with AD. */
function secureDomain(x: Harness, domain: string, host: string, ip: string, tlsa: Tlsa[] | null, ad: { mx?: boolean; a?: boolean; tlsa?: boolean } = {}): void {
  x.dns.add(domain, 'MX', [{ preference: 10, exchange: host }], { ad: ad.mx ?? true });
  x.dns.add(host, 'A', [ip], { ad: ad.a ?? true });
  if (tlsa) x.dns.add(`_25._tcp.${host}`, 'TLSA', tlsa, { ad: ad.tlsa ?? true });
}

for (const [selector, matchingType] of [[1, 1], [0, 1], [1, 2], [0, 0]] as const) {
  test(`§3 DANE-EE 3 ${selector} ${matchingType} match → verified dane-ee, delivered`, async () => {
    const x = await harness();
    // Self-signed: PKIX would reject it, so only DANE can have verified it.
    const cert = selfSigned(['mx.dane-ee.test']);
    const peer = await tlsPeer(x, cert);
    secureDomain(x, 'dane-ee.test', 'mx.dane-ee.test', '127.0.1.1', [ee(cert, selector, matchingType)]);
    x.routes.set('127.0.1.1', peer.port);

    const m = await x.send({ to: ['a@dane-ee.test'] });
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(peer.messages[0]!.secure).toBe(true);
    expect(m.attempts[0]).toMatchObject({ starttls: true, verification: 'dane-ee', dane: true, tlsrptPolicy: 'tlsa', tlsrptFailure: null });
  });
}

test('§3 DANE-EE checks neither the name nor the validity period of the certificate', async () => {
  const x = await harness();
  const cert = selfSigned(['unrelated.example.test'], { expired: true });
  const peer = await tlsPeer(x, cert);
  secureDomain(x, 'dane-ee2.test', 'mx.dane-ee2.test', '127.0.1.1', [ee(cert)]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-ee2.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ verification: 'dane-ee' });
});

test('§3 DANE TLSA mismatch → deferred, nothing sent, tlsrptFailure validation-failure', async () => {
  const x = await harness();
  const presented = pki.ca.issue({ names: ['mx.dane-bad.test'] }); // even PKIX-valid: DANE decides
  const published = selfSigned(['mx.dane-bad.test']);
  const peer = await tlsPeer(x, presented);
  secureDomain(x, 'dane-bad.test', 'mx.dane-bad.test', '127.0.1.1', [ee(published)]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-bad.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'CERT_INVALID', lastEnhanced: '4.7.5' });
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ starttls: true, dane: true, verification: 'none', tlsrptPolicy: 'tlsa', tlsrptFailure: 'validation-failure' });
  expect(m.attempts[0]!.transcript.some((l) => l.dir === 'c' && /^MAIL FROM/i.test(l.text))).toBe(false);
});

for (const which of ['mx', 'a', 'tlsa'] as const) {
  test(`§3 non-authentic ${which.toUpperCase()} answer (AD off) → no DANE, opportunistic delivery`, async () => {
    const x = await harness();
    const presented = selfSigned(['mx.dane-insecure.test']);
    const published = selfSigned(['mx.dane-insecure.test']);
    const peer = await tlsPeer(x, presented);
    // The (mismatching) TLSA would defer the message if DANE applied.
    secureDomain(x, 'dane-insecure.test', 'mx.dane-insecure.test', '127.0.1.1', [ee(published)], { [which]: false });
    x.routes.set('127.0.1.1', peer.port);

    const m = await x.send({ to: ['a@dane-insecure.test'] });
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(peer.messages[0]!.secure).toBe(true);
    expect(m.attempts[0]).toMatchObject({ dane: false, verification: 'none', tlsrptPolicy: 'no-policy-found' });
    if (which !== 'tlsa') {
      // RFC 7672 §2.2: an insecure MX or address answer means TLSA is not even asked for.
      expect(x.dns.queries.some((q) => q.type === 'TLSA')).toBe(false);
    }
  });
}

test('§3 DANE-TA 2 0 1 / 2 1 1 matching the issuing CA, leaf naming the MX host → verified dane-ta', async () => {
  for (const selector of [0, 1] as const) {
    const x = await harness();
    const leaf = daneCa.issue({ names: ['mx.dane-ta.test'] });
    const peer = await tlsPeer(x, leaf); // chainPem carries the CA certificate
    secureDomain(x, 'dane-ta.test', 'mx.dane-ta.test', '127.0.1.1', [{ usage: 2, selector, matchingType: 1, data: tlsaData(daneCa.certPem, selector, 1) }]);
    x.routes.set('127.0.1.1', peer.port);

    const m = await x.send({ to: ['a@dane-ta.test'] });
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(m.attempts[0]).toMatchObject({ verification: 'dane-ta', dane: true, tlsrptPolicy: 'tlsa' });
    await x.close();
  }
});

test('§3 DANE-TA with a leaf not naming the MX host → deferred, certificate-host-mismatch', async () => {
  const x = await harness();
  const leaf = daneCa.issue({ names: ['somewhere-else.test'] });
  const peer = await tlsPeer(x, leaf);
  secureDomain(x, 'dane-ta2.test', 'mx.dane-ta2.test', '127.0.1.1', [{ usage: 2, selector: 1, matchingType: 1, data: tlsaData(daneCa.certPem, 1, 1) }]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-ta2.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'CERT_INVALID' });
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ tlsrptFailure: 'certificate-host-mismatch' });
});

test('§3 only usage 0/1 (PKIX-TA/PKIX-EE) TLSA records → TLS required but unverified: delivered over TLS with verification none', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.dane-pkix.test']);
  const peer = await tlsPeer(x, cert);
  secureDomain(x, 'dane-pkix.test', 'mx.dane-pkix.test', '127.0.1.1', [
    { usage: 1, selector: 1, matchingType: 1, data: tlsaData(cert.certPem, 1, 1) },
    { usage: 0, selector: 0, matchingType: 1, data: tlsaData(pki.ca.certPem, 0, 1) },
  ]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-pkix.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(peer.messages[0]!.secure).toBe(true);
  expect(m.attempts[0]).toMatchObject({ starttls: true, verification: 'none' });
});

test('§3 only usage 0/1 TLSA records + peer without STARTTLS → not delivered (no plaintext)', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.dane-pkix2.test']);
  const peer = await plainPeer(x);
  secureDomain(x, 'dane-pkix2.test', 'mx.dane-pkix2.test', '127.0.1.1', [{ usage: 1, selector: 1, matchingType: 1, data: tlsaData(cert.certPem, 1, 1) }]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-pkix2.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TLS_REQUIRED' });
  expect(peer.messages).toHaveLength(0);
  expect(m.unencrypted).toBe(false);
});

test('§3 TLSA lookup SERVFAIL on a secure name → that host is deferred (never dialed); the next MX delivers', async () => {
  const x = await harness();
  const cert2 = selfSigned(['mx2.dane-fail.test']);
  const first = await plainPeer(x);
  const second = await tlsPeer(x, cert2);
  x.dns.add('dane-fail.test', 'MX', [{ preference: 10, exchange: 'mx1.dane-fail.test' }, { preference: 20, exchange: 'mx2.dane-fail.test' }], { ad: true });
  x.dns.add('mx1.dane-fail.test', 'A', ['127.0.1.1'], { ad: true });
  x.dns.add('mx2.dane-fail.test', 'A', ['127.0.1.2'], { ad: true });
  x.dns.servfail('_25._tcp.mx1.dane-fail.test', 'TLSA');
  x.dns.add('_25._tcp.mx2.dane-fail.test', 'TLSA', [ee(cert2)], { ad: true });
  x.routes.set('127.0.1.1', first.port);
  x.routes.set('127.0.1.2', second.port);

  const m = await x.send({ to: ['a@dane-fail.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'delivered', lastHost: 'mx2.dane-fail.test' });
  expect(x.dialed).toEqual(['127.0.1.2']);
  expect(first.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ host: 'mx1.dane-fail.test', stage: 'dns', ip: null, tlsrptFailure: 'dnssec-invalid' });
  expect(m.attempts[1]).toMatchObject({ host: 'mx2.dane-fail.test', verification: 'dane-ee' });
});

test('§3 TLSA lookup SERVFAIL on the only (secure) MX → deferred, nothing dialed', async () => {
  const x = await harness();
  const peer = await plainPeer(x);
  secureDomain(x, 'dane-fail2.test', 'mx.dane-fail2.test', '127.0.1.1', null);
  x.dns.servfail('_25._tcp.mx.dane-fail2.test', 'TLSA');
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-fail2.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', attempts: 1, lastEnhanced: '4.7.5' });
  expect(x.dialed).toEqual([]);
});

test('§3 DANE host without STARTTLS (stripped) → no plaintext delivery, starttls-not-supported', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.dane-strip.test']);
  const peer = await plainPeer(x);
  secureDomain(x, 'dane-strip.test', 'mx.dane-strip.test', '127.0.1.1', [ee(cert)]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-strip.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TLS_REQUIRED' });
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ starttls: false, plaintextFallback: false, tlsrptPolicy: 'tlsa', tlsrptFailure: 'starttls-not-supported' });
});

test('§3 DANE host with a failing TLS handshake → no plaintext fallback', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.dane-hs.test']);
  const peer = await recordingPeer(x, { breakHandshake: true });
  secureDomain(x, 'dane-hs.test', 'mx.dane-hs.test', '127.0.1.1', [ee(cert)]);
  x.routes.set('127.0.1.1', peer.peer.port);

  const m = await x.send({ to: ['a@dane-hs.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TLS_FAILED' });
  expect(peer.sessions).toHaveLength(1);
  expect(mailCommands(peer)).toEqual([]);
  expect(m.attempts[0]).toMatchObject({ plaintextFallback: false });
  expect(m.unencrypted).toBe(false);
});

test('§3 a failing AAAA lookup on a secure host does not switch DANE off (bogus AAAA is not a downgrade)', async () => {
  const x = await harness();
  const presented = selfSigned(['mx.dane-aaaa.test']);
  const published = selfSigned(['mx.dane-aaaa.test']);
  const peer = await tlsPeer(x, presented);
  secureDomain(x, 'dane-aaaa.test', 'mx.dane-aaaa.test', '127.0.1.1', [ee(published)]);
  x.dns.servfail('mx.dane-aaaa.test', 'AAAA'); // what a validating resolver says for a forged AAAA
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-aaaa.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'CERT_INVALID' });
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ dane: true, tlsrptPolicy: 'tlsa' });
});

test('§3 CNAME-expanded MX host (secure) → TLSA looked up at the expanded name', async () => {
  const x = await harness();
  const cert = selfSigned(['real.dane-cname.test']);
  const peer = await tlsPeer(x, cert);
  x.dns.add('dane-cname.test', 'MX', [{ preference: 10, exchange: 'mx.dane-cname.test' }], { ad: true });
  x.dns.add('mx.dane-cname.test', 'CNAME', ['real.dane-cname.test'], { ad: true });
  x.dns.add('real.dane-cname.test', 'A', ['127.0.1.1'], { ad: true });
  x.dns.add('_25._tcp.real.dane-cname.test', 'TLSA', [ee(cert)], { ad: true });
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-cname.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ verification: 'dane-ee' });
  const tlsaNames = x.dns.queries.filter((q) => q.type === 'TLSA').map((q) => q.name);
  expect(tlsaNames).toEqual(['_25._tcp.real.dane-cname.test']);
});

test('§3 DANE decides verification, MTA-STS enforce still decides the hosts: a DANE host outside the policy is skipped', async () => {
  const x = await harness();
  const cert = selfSigned(['mx.dane-sts.test']);
  const peer = await tlsPeer(x, cert);
  secureDomain(x, 'dane-sts.test', 'mx.dane-sts.test', '127.0.1.1', [ee(cert)]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'dane-sts.test', { id: 'v1', mode: 'enforce', mx: ['other.dane-sts.test'] });

  const m = await x.send({ to: ['a@dane-sts.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'POLICY_MISMATCH' });
  expect(x.dialed).toEqual([]);

  // And a listed DANE host with a certificate PKIX would reject is verified by DANE.
  stsPolicy(x, 'dane-sts.test', { id: 'v2', mode: 'enforce', mx: ['mx.dane-sts.test'] });
  const m2 = await x.send({ to: ['b@dane-sts.test'] });
  expect(m2.recipients[0]!.state).toBe('delivered');
  expect(m2.attempts[0]).toMatchObject({ verification: 'dane-ee', mtaStsMode: 'enforce' });
});

// ---- RFC 7672 §2.2.2: TLSA at the original MX name when the secure expansion has none ----------

/** mx.<domain> is a secure CNAME to real.<domain>, which has an A but (authenticated) no TLSA. */
function cnameWithoutTlsaAtTarget(x: Harness, domain: string, ip: string): void {
  x.dns.add(domain, 'MX', [{ preference: 10, exchange: `mx.${domain}` }], { ad: true });
  x.dns.add(`mx.${domain}`, 'CNAME', [`real.${domain}`], { ad: true });
  x.dns.add(`real.${domain}`, 'A', [ip], { ad: true });
  x.dns.add(`_25._tcp.real.${domain}`, 'TLSA', [], { ad: true }); // secure NODATA
}

test('§3 RFC 7672 §2.2.2: secure CNAME-expanded MX name without TLSA → TLSA at the original MX name; a non-matching one stops delivery', async () => {
  const x = await harness();
  const served = selfSigned(['real.dane-orig.test']);
  const other = selfSigned(['mx.dane-orig.test']);
  const peer = await recordingPeer(x, { cert: served });
  cnameWithoutTlsaAtTarget(x, 'dane-orig.test', '127.0.1.1');
  x.dns.add('_25._tcp.mx.dane-orig.test', 'TLSA', [ee(other)], { ad: true });
  x.routes.set('127.0.1.1', peer.peer.port);

  const m = await x.send({ to: ['a@dane-orig.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'CERT_INVALID' });
  expect(m.attempts[0]).toMatchObject({ dane: true, tlsrptPolicy: 'tlsa', verification: 'none' });
  expect(peer.messages).toHaveLength(0);
  expect(mailCommands(peer)).toEqual([]);
  const tlsaNames = x.dns.queries.filter((q) => q.type === 'TLSA').map((q) => q.name);
  expect(tlsaNames).toEqual(['_25._tcp.real.dane-orig.test', '_25._tcp.mx.dane-orig.test']);
});

test('§3 RFC 7672 §2.2.2: secure CNAME-expanded MX name without TLSA → a matching TLSA at the original MX name gives dane-ee', async () => {
  const x = await harness();
  const cert = selfSigned(['real.dane-orig2.test']);
  const peer = await tlsPeer(x, cert);
  cnameWithoutTlsaAtTarget(x, 'dane-orig2.test', '127.0.1.1');
  x.dns.add('_25._tcp.mx.dane-orig2.test', 'TLSA', [ee(cert)], { ad: true });
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@dane-orig2.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ verification: 'dane-ee', dane: true, tlsrptPolicy: 'tlsa' });
});

test('§3 the probe allows the recipient domain\'s CNAME-expanded name for DANE-TA (RFC 7672 §3.2.2)', async () => {
  const x = await harness();
  // probe-ta.test is a secure CNAME to hosted-ta.test; the leaf names only the expanded domain.
  const leaf = daneCa.issue({ names: ['hosted-ta.test'] });
  const peer = await tlsPeer(x, leaf);
  x.dns.add('probe-ta.test', 'CNAME', ['hosted-ta.test'], { ad: true });
  x.dns.add('hosted-ta.test', 'MX', [{ preference: 10, exchange: 'mx.provider-ta.test' }], { ad: true });
  x.dns.add('mx.provider-ta.test', 'A', ['127.0.1.1'], { ad: true });
  x.dns.add('_25._tcp.mx.provider-ta.test', 'TLSA', [{ usage: 2, selector: 1, matchingType: 1, data: tlsaData(daneCa.certPem, 1, 1) }], { ad: true });
  x.routes.set('127.0.1.1', peer.port);

  const r = await x.core.probe('probe-ta.test');
  expect(r.dane).toBe(true);
  expect(r.hosts[0]).toMatchObject({ host: 'mx.provider-ta.test', starttls: true, verification: 'dane-ta', verificationReason: null });
  // Delivery agrees with the probe.
  const m = await x.send({ to: ['a@probe-ta.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ verification: 'dane-ta' });
});
