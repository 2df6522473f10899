/**
 * delivery-rules §11 (what the engine remembers per recipient domain) and §12 (RFC 8460
 * TLSRPT facts per attempt), plus the pre-send probe, through the real engine.
 */
import { expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { recipientVerdict } from '../../../shared/verdict';
import { mx, plainPeer, recordingPeer, stsPolicy, tlsaData, tlsPeer, useHarness } from './harness';

const pki = useHarness();
const harness = pki.harness;
const selfSigned = pki.selfSigned;

test('§11 after a session the recipient_domain_tls hint records STARTTLS, REQUIRETLS (announced after TLS), DANE and seenAt', async () => {
  const clock = new ManualClock(Date.now());
  const x = await harness({ clock });
  const cert = selfSigned(['mx.hint-rt.test']);
  const peer = await recordingPeer(x, { cert, ehloAfterTls: ['REQUIRETLS'] });
  x.dns.add('hint-rt.test', 'MX', [{ preference: 10, exchange: 'mx.hint-rt.test' }], { ad: true });
  x.dns.add('mx.hint-rt.test', 'A', ['127.0.1.1'], { ad: true });
  x.dns.add('_25._tcp.mx.hint-rt.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: tlsaData(cert.certPem, 1, 1) }], { ad: true });
  x.routes.set('127.0.1.1', peer.peer.port);
  expect(x.core.store.domainHints(['hint-rt.test'])).toEqual([]);

  const m = await x.send({ to: ['a@hint-rt.test'] }); // a default message: REQUIRETLS not asked for
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(x.core.store.domainHints(['hint-rt.test'])).toEqual([
    { domain: 'hint-rt.test', starttls: true, requiretls: true, mtaStsMode: null, dane: true, seenAt: clock.now() },
  ]);
});

test('§11 a server without STARTTLS leaves a hint with starttls and requiretls false (REQUIRETLS without TLS does not count)', async () => {
  const clock = new ManualClock(Date.now());
  const x = await harness({ clock });
  const peer = await recordingPeer(x, { ehloBeforeTls: ['REQUIRETLS'] }); // no STARTTLS at all
  mx(x.dns, 'hint-plain.test', [[10, 'mx.hint-plain.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);

  const m = await x.send({ to: ['a@hint-plain.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.unencrypted).toBe(true);
  expect(x.core.store.domainHints(['hint-plain.test'])[0]).toMatchObject({ starttls: false, requiretls: false, dane: false, seenAt: clock.now() });
  // §12: no policy, and the missing STARTTLS is the recorded failure.
  expect(m.attempts[0]).toMatchObject({ tlsrptPolicy: 'no-policy-found', tlsrptFailure: 'starttls-not-supported', starttls: false });
});

test('§11 the hint is updated by a later session (seenAt moves, STARTTLS now seen)', async () => {
  const clock = new ManualClock(Date.now());
  const x = await harness({ clock });
  const plain = await plainPeer(x);
  mx(x.dns, 'hint-upd.test', [[10, 'mx.hint-upd.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', plain.port);
  await x.send({ to: ['a@hint-upd.test'] });
  const first = x.core.store.domainHints(['hint-upd.test'])[0]!;
  expect(first.starttls).toBe(false);

  clock.advance(60_000);
  const tls = await tlsPeer(x, pki.ca.issue({ names: ['mx.hint-upd.test'] }));
  x.routes.set('127.0.1.1', tls.port);
  await x.send({ to: ['b@hint-upd.test'] });
  expect(x.core.store.domainHints(['hint-upd.test'])[0]).toMatchObject({ starttls: true, requiretls: false, seenAt: first.seenAt + 60_000 });
});

test('§12 attempts carry the TLSRPT policy type and failure: sts, tlsa, no-policy-found', async () => {
  const x = await harness();
  // sts: enforce policy with an untrusted certificate.
  const stsPeer = await tlsPeer(x, selfSigned(['mx.rpt-sts.test']));
  mx(x.dns, 'rpt-sts.test', [[10, 'mx.rpt-sts.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', stsPeer.port);
  stsPolicy(x, 'rpt-sts.test', { id: 'v1', mode: 'enforce', mx: ['mx.rpt-sts.test'] });
  // tlsa: DANE with a trust anchor record the chain does not lead to.
  const danePeer = await tlsPeer(x, pki.ca.issue({ names: ['mx.rpt-dane.test'] }));
  x.dns.add('rpt-dane.test', 'MX', [{ preference: 10, exchange: 'mx.rpt-dane.test' }], { ad: true });
  x.dns.add('mx.rpt-dane.test', 'A', ['127.0.1.2'], { ad: true });
  x.dns.add('_25._tcp.mx.rpt-dane.test', 'TLSA', [{ usage: 2, selector: 1, matchingType: 1, data: Buffer.alloc(32, 7) }], { ad: true });
  x.routes.set('127.0.1.2', danePeer.port);
  // no-policy-found: verified TLS, nothing failed.
  const plainTls = await tlsPeer(x, pki.ca.issue({ names: ['mx.rpt-none.test'] }));
  mx(x.dns, 'rpt-none.test', [[10, 'mx.rpt-none.test', '127.0.1.3']]);
  x.routes.set('127.0.1.3', plainTls.port);

  const m = await x.send({ to: ['a@rpt-sts.test', 'a@rpt-dane.test', 'a@rpt-none.test'] });
  const byDomain = Object.fromEntries(m.attempts.map((a) => [a.domain, a]));
  expect(byDomain['rpt-sts.test']).toMatchObject({ tlsrptPolicy: 'sts', tlsrptFailure: 'certificate-not-trusted' });
  expect(byDomain['rpt-dane.test']).toMatchObject({ tlsrptPolicy: 'tlsa', tlsrptFailure: 'validation-failure' });
  expect(byDomain['rpt-none.test']).toMatchObject({ tlsrptPolicy: 'no-policy-found', tlsrptFailure: null, verification: 'pkix' });
  expect(m.recipients.map((r) => [r.domain, r.state])).toEqual([
    ['rpt-sts.test', 'deferred'],
    ['rpt-dane.test', 'deferred'],
    ['rpt-none.test', 'delivered'],
  ]);
});

test('§11 probe reports MX, MTA-STS mode, DANE and STARTTLS/REQUIRETLS per host, and updates the hint', async () => {
  const clock = new ManualClock(Date.now());
  const x = await harness({ clock });
  const cert = pki.ca.issue({ names: ['mx1.probe.test'] });
  const primary = await recordingPeer(x, { cert, ehloAfterTls: ['REQUIRETLS'] });
  const backup = await plainPeer(x);
  x.dns.add('probe.test', 'MX', [{ preference: 10, exchange: 'mx1.probe.test' }, { preference: 20, exchange: 'mx2.probe.test' }], { ad: true });
  x.dns.add('mx1.probe.test', 'A', ['127.0.1.1'], { ad: true });
  x.dns.add('mx2.probe.test', 'A', ['127.0.1.2'], { ad: true });
  x.dns.add('_25._tcp.mx1.probe.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: tlsaData(cert.certPem, 1, 1) }], { ad: true });
  x.routes.set('127.0.1.1', primary.peer.port);
  x.routes.set('127.0.1.2', backup.port);
  stsPolicy(x, 'probe.test', { id: 'p1', mode: 'enforce', mx: ['*.probe.test'] });

  const r = await x.core.probe('Probe.Test');
  expect(r).toMatchObject({ domain: 'probe.test', mx: ['mx1.probe.test', 'mx2.probe.test'], mtaStsMode: 'enforce', mtaStsId: 'p1', dane: true, error: null });
  expect(r.hosts).toEqual([
    expect.objectContaining({ host: 'mx1.probe.test', ip: '127.0.1.1', starttls: true, requiretls: true, verification: 'dane-ee', error: null }),
    expect.objectContaining({ host: 'mx2.probe.test', ip: '127.0.1.2', starttls: false, requiretls: false, verification: null, error: null }),
  ]);
  // A probe sends nothing.
  expect(primary.messages).toHaveLength(0);
  expect(backup.messages).toHaveLength(0);
  expect(primary.sessions.flatMap((s) => s.lines).some((l) => /^(MAIL|RCPT|DATA)/i.test(l))).toBe(false);
  expect(x.core.store.domainHints(['probe.test'])).toEqual([
    { domain: 'probe.test', starttls: true, requiretls: true, mtaStsMode: 'enforce', dane: true, seenAt: clock.now() },
  ]);
});

test('§11 probe of a domain whose primary MX has no STARTTLS and a certificate PKIX rejects on the backup', async () => {
  const x = await harness();
  const primary = await plainPeer(x);
  const backup = await tlsPeer(x, selfSigned(['mx2.probe2.test']));
  mx(x.dns, 'probe2.test', [
    [10, 'mx1.probe2.test', '127.0.1.1'],
    [20, 'mx2.probe2.test', '127.0.1.2'],
  ]);
  x.routes.set('127.0.1.1', primary.port);
  x.routes.set('127.0.1.2', backup.port);

  const r = await x.core.probe('probe2.test');
  expect(r).toMatchObject({ mtaStsMode: null, dane: false, error: null });
  expect(r.hosts[0]).toMatchObject({ host: 'mx1.probe2.test', starttls: false, requiretls: false });
  expect(r.hosts[1]).toMatchObject({ host: 'mx2.probe2.test', starttls: true, verification: 'none' });
  expect(r.hosts[1]!.verificationReason).toMatch(/self-signed/);
  expect(x.core.store.domainHints(['probe2.test'])[0]).toMatchObject({ starttls: false, requiretls: false });
});

test('§11 probe gives each host its TLSA class and MTA-STS match, and the verdict judges them as delivery would (DANE mismatch doomed)', async () => {
  const x = await harness();
  const cert = pki.ca.issue({ names: ['mx1.verdict.test'] });
  const peer = await tlsPeer(x, cert);
  x.dns.add('verdict.test', 'MX', [{ preference: 10, exchange: 'mx1.verdict.test' }], { ad: true });
  x.dns.add('mx1.verdict.test', 'A', ['127.0.1.1'], { ad: true });
  // A TLSA record that matches no certificate of the chain: DANE applies and fails.
  x.dns.add('_25._tcp.mx1.verdict.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 9) }], { ad: true });
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'verdict.test', { id: 'v1', mode: 'testing', mx: ['mx1.verdict.test'] });

  const r = await x.core.probe('verdict.test');
  expect(r.dane).toBe(true);
  expect(r.hosts[0]).toMatchObject({ tlsa: 'usable', mtaStsMatch: true, starttls: true, verification: 'none' });
  const v = recipientVerdict({ tlsMode: 'default', probe: { status: 'done', result: r }, hint: x.core.store.domainHints(['verdict.test'])[0] });
  expect(v.label).toBe('Will not be delivered: the server’s certificate does not match its DANE record');

  // The engine agrees: the message is not delivered to that host.
  const m = await x.send({ to: ['a@verdict.test'] });
  expect(m.recipients[0]!.state).not.toBe('delivered');
});

test('§1 probe of a null-MX domain and of a missing one: permanent, with the engine error code; the verdict says why', async () => {
  const x = await harness();
  x.dns.add('nullmx.test', 'MX', [{ preference: 0, exchange: '' }]);
  const nul = await x.core.probe('nullmx.test');
  expect(nul).toMatchObject({ errorCode: 'NULL_MX', errorPermanent: true });
  expect(recipientVerdict({ tlsMode: 'default', probe: { status: 'done', result: nul }, hint: undefined }).label).toBe(
    'Will not be delivered: the domain does not accept mail (null MX)',
  );
  const nx = await x.core.probe('nosuch.test');
  expect(nx).toMatchObject({ errorCode: 'DNS_NXDOMAIN', errorPermanent: true });
});

test('§3 probe: a failing TLSA lookup on a secure name is not "no DANE" — the host is not judged (delivery would defer it)', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx1.tlsafail.test'] }));
  x.dns.add('tlsafail.test', 'MX', [{ preference: 10, exchange: 'mx1.tlsafail.test' }], { ad: true });
  x.dns.add('mx1.tlsafail.test', 'A', ['127.0.1.1'], { ad: true });
  x.dns.servfail('_25._tcp.mx1.tlsafail.test', 'TLSA');
  x.routes.set('127.0.1.1', peer.port);
  const r = await x.core.probe('tlsafail.test');
  expect(r.hosts[0]!.error).toMatch(/DANE \(TLSA\) lookup failed/);
  const v = recipientVerdict({ tlsMode: 'default', probe: { status: 'done', result: r }, hint: undefined });
  expect(v.kind).toBe('unknown');
  expect(v.hosts[0]!.outcome).toMatch(/^Not reached: DANE \(TLSA\) lookup failed/);
});
