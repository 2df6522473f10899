/**
 * delivery-rules §6 (RFC 8689 §5) through the real engine: a message marked "TLS-Required: No"
 * carries the header, and TLS policy failures (MTA-STS mismatch, DANE/PKIX verification errors,
 * policy lookup errors) are recorded but do not stop delivery; a failed handshake may fall back
 * to plaintext, which is recorded prominently.
 */
import { expect, test } from 'vitest';
import { type CertFiles } from '../../helpers/certs';
import { type Harness, mx, recordingPeer, stsPolicy, tlsaData, tlsPeer, useHarness } from './harness';

const pki = useHarness();
const harness = pki.harness;
const selfSigned = pki.selfSigned;

function secureDomain(x: Harness, domain: string, host: string, ip: string, published: CertFiles | null): void {
  x.dns.add(domain, 'MX', [{ preference: 10, exchange: host }], { ad: true });
  x.dns.add(host, 'A', [ip], { ad: true });
  if (published) x.dns.add(`_25._tcp.${host}`, 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: tlsaData(published.certPem, 1, 1) }], { ad: true });
}

const tlsRequiredNo = /^TLS-Required:[ \t]*No[ \t]*\r?$/im;

test('§6 TLS-Required: No — the message the peer receives carries the TLS-Required: No header', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.opt-hdr.test'] }));
  mx(x.dns, 'opt-hdr.test', [[10, 'mx.opt-hdr.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@opt-hdr.test'], tlsMode: 'tls-optional' });
  expect(m.recipients[0]!.state).toBe('delivered');
  const body = peer.messages[0]!.body.toString();
  const headers = body.slice(0, body.indexOf('\r\n\r\n'));
  expect(headers).toMatch(tlsRequiredNo);
  // Not on a default message: the control for the check above.
  await x.send({ to: ['b@opt-hdr.test'] });
  expect(peer.messages[1]!.body.toString()).not.toMatch(/^TLS-Required:/im);
});

test('§6 TLS-Required: No + MTA-STS enforce host mismatch → delivered anyway, mismatch recorded', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.elsewhere.test'] }));
  mx(x.dns, 'opt-sts.test', [[10, 'mx.elsewhere.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'opt-sts.test', { id: 'v1', mode: 'enforce', mx: ['mx.opt-sts.test'] });

  const m = await x.send({ to: ['a@opt-sts.test'], tlsMode: 'tls-optional' });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(peer.messages).toHaveLength(1);
  expect(m.attempts[0]).toMatchObject({ mtaStsMode: 'enforce', tlsrptPolicy: 'sts', tlsrptFailure: 'validation-failure' });
  expect(m.attempts[0]!.verificationReason).toMatch(/MTA-STS/);
});

test('§6 TLS-Required: No + MTA-STS enforce + untrusted certificate → delivered anyway, certificate-not-trusted recorded', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, selfSigned(['mx.opt-cert.test']));
  mx(x.dns, 'opt-cert.test', [[10, 'mx.opt-cert.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'opt-cert.test', { id: 'v1', mode: 'enforce', mx: ['mx.opt-cert.test'] });

  const m = await x.send({ to: ['a@opt-cert.test'], tlsMode: 'tls-optional' });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(peer.messages[0]!.secure).toBe(true);
  expect(m.attempts[0]).toMatchObject({ verification: 'none', tlsrptFailure: 'certificate-not-trusted', mtaStsMode: 'enforce' });
});

test('§6 TLS-Required: No + DANE mismatch → delivered anyway, validation-failure recorded', async () => {
  const x = await harness();
  const presented = selfSigned(['mx.opt-dane.test']);
  const peer = await tlsPeer(x, presented);
  secureDomain(x, 'opt-dane.test', 'mx.opt-dane.test', '127.0.1.1', selfSigned(['mx.opt-dane.test']));
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@opt-dane.test'], tlsMode: 'tls-optional' });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ dane: true, verification: 'none', tlsrptPolicy: 'tlsa', tlsrptFailure: 'validation-failure' });
  expect(m.attempts[0]!.verificationReason).toMatch(/DANE/);
});

for (const policy of ['MTA-STS enforce', 'DANE'] as const) {
  test(`§6 TLS-Required: No + ${policy} + TLS handshake failure → plaintext fallback allowed and recorded`, async () => {
    const x = await harness();
    const peer = await recordingPeer(x, { breakHandshake: true });
    if (policy === 'DANE') {
      secureDomain(x, 'opt-hs.test', 'mx.opt-hs.test', '127.0.1.1', selfSigned(['mx.opt-hs.test']));
    } else {
      mx(x.dns, 'opt-hs.test', [[10, 'mx.opt-hs.test', '127.0.1.1']]);
      stsPolicy(x, 'opt-hs.test', { id: 'v1', mode: 'enforce', mx: ['mx.opt-hs.test'] });
    }
    x.routes.set('127.0.1.1', peer.peer.port);

    const m = await x.send({ to: ['a@opt-hs.test'], tlsMode: 'tls-optional' });
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(peer.sessions).toHaveLength(2);
    expect(peer.plaintextMessages).toHaveLength(1);
    expect(peer.plaintextMessages[0]!.toString()).toMatch(tlsRequiredNo);
    expect(m.attempts.at(-1)).toMatchObject({ plaintextFallback: true, starttls: false });
    expect(m.unencrypted).toBe(true);
  });
}

test('§6 TLS-Required: No + temporary DNS error on the MTA-STS TXT → delivered anyway, sts-policy-fetch-error recorded', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.opt-dns.test'] }));
  mx(x.dns, 'opt-dns.test', [[10, 'mx.opt-dns.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  x.dns.servfail('_mta-sts.opt-dns.test', 'TXT');

  const m = await x.send({ to: ['a@opt-dns.test'], tlsMode: 'tls-optional' });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ tlsrptPolicy: 'sts', tlsrptFailure: 'sts-policy-fetch-error', verification: 'pkix' });
});

test('§6 TLS-Required: No + TLSA lookup failure on a secure name → delivered anyway, dnssec-invalid recorded', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.opt-tlsa.test'] }));
  secureDomain(x, 'opt-tlsa.test', 'mx.opt-tlsa.test', '127.0.1.1', null);
  x.dns.servfail('_25._tcp.mx.opt-tlsa.test', 'TLSA');
  x.routes.set('127.0.1.1', peer.port);

  const m = await x.send({ to: ['a@opt-tlsa.test'], tlsMode: 'tls-optional' });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ tlsrptPolicy: 'tlsa', tlsrptFailure: 'dnssec-invalid' });
});
