/**
 * delivery-rules §2 (RFC 8461) through the real engine: policy discovery (TXT, HTTPS fetch with
 * PKIX, SQLite cache, 5-minute fetch backoff), MX matching and enforce-mode TLS requirements.
 * The downgrade cases assert on what the peer received: nothing, and never in plaintext.
 */
import { expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { TlsPolicyError } from '../../../src-main/core/tls-policy/policy-error';
import { type Harness, mailCommands, mx, plainPeer, recordingPeer, stsPolicy, tlsPeer, useHarness } from './harness';

const pki = useHarness();
const harness = pki.harness;
const selfSigned = pki.selfSigned;

function policyRows(x: Harness): { domain: string; policy_id: string | null; mode: string | null; last_failure_at: number | null }[] {
  return x.core.store.db.prepare('SELECT domain, policy_id, mode, last_failure_at FROM mtasts_policies ORDER BY domain').all() as never;
}

test('§2 MTA-STS enforce + matching MX + trusted certificate → delivered, verification pkix, mtaStsMode enforce', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx1.sts-ok.test'] }));
  mx(x.dns, 'sts-ok.test', [[10, 'mx1.sts-ok.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-ok.test', { id: 'v1', mode: 'enforce', mx: ['*.sts-ok.test'] });

  const m = await x.send({ to: ['a@sts-ok.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(peer.messages).toHaveLength(1);
  expect(peer.messages[0]!.secure).toBe(true);
  expect(m.attempts).toHaveLength(1);
  expect(m.attempts[0]).toMatchObject({ host: 'mx1.sts-ok.test', starttls: true, verification: 'pkix', mtaStsMode: 'enforce', tlsrptPolicy: 'sts', tlsrptFailure: null, plaintextFallback: false });
  expect(x.policyRequests.get('sts-ok.test')).toBe(1);
  // RFC 8460 §4.4: the policy in force is recorded on the attempt (a later report says what applied then).
  expect(m.attempts[0]!.tlsrptPolicyString).toEqual(expect.arrayContaining(['version: STSv1', 'mode: enforce', 'mx: *.sts-ok.test']));
  expect(m.attempts[0]!.tlsrptMxHost).toEqual(['*.sts-ok.test']);
});

test('§2 MTA-STS enforce: an MX not matching the policy is skipped with the reason recorded; the matching second MX gets the mail', async () => {
  const x = await harness();
  const rogue = await tlsPeer(x, pki.ca.issue({ names: ['mx.attacker.test'] }));
  const good = await tlsPeer(x, pki.ca.issue({ names: ['mx2.sts-skip.test'] }));
  mx(x.dns, 'sts-skip.test', [
    [10, 'mx.attacker.test', '127.0.1.1'],
    [20, 'mx2.sts-skip.test', '127.0.1.2'],
  ]);
  x.routes.set('127.0.1.1', rogue.port);
  x.routes.set('127.0.1.2', good.port);
  stsPolicy(x, 'sts-skip.test', { id: 'v1', mode: 'enforce', mx: ['mx2.sts-skip.test'] });

  const m = await x.send({ to: ['a@sts-skip.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'delivered', lastHost: 'mx2.sts-skip.test' });
  expect(rogue.messages).toHaveLength(0);
  expect(x.dialed).toEqual(['127.0.1.2']); // the non-matching host is never even contacted
  expect(good.messages).toHaveLength(1);
  const [skipped, delivered] = m.attempts;
  expect(skipped).toMatchObject({ host: 'mx.attacker.test', stage: 'policy', errorCode: 'POLICY_MISMATCH', ip: null, mtaStsMode: 'enforce', tlsrptPolicy: 'sts' });
  expect(skipped!.reply).toMatch(/MTA-STS/);
  expect(delivered).toMatchObject({ host: 'mx2.sts-skip.test', verification: 'pkix' });
});

test('§2 MTA-STS enforce: when no MX matches, nothing is sent and the message is deferred', async () => {
  const x = await harness();
  const rogue = await tlsPeer(x, pki.ca.issue({ names: ['mx.attacker.test'] }));
  mx(x.dns, 'sts-none.test', [[10, 'mx.attacker.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', rogue.port);
  stsPolicy(x, 'sts-none.test', { id: 'v1', mode: 'enforce', mx: ['mx.sts-none.test'] });

  const m = await x.send({ to: ['a@sts-none.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', attempts: 1, lastErrorCode: 'POLICY_MISMATCH' });
  expect(x.dialed).toEqual([]);
  expect(rogue.messages).toHaveLength(0);
});

for (const [label, make, failure] of [
  ['self-signed', () => selfSigned(['mx.sts-bad.test']), 'certificate-not-trusted'],
  ['wrong-name', () => pki.ca.issue({ names: ['other.example.test'] }), 'certificate-host-mismatch'],
  ['expired', () => pki.ca.issue({ names: ['mx.sts-bad.test'], expired: true }), 'certificate-expired'],
] as const) {
  test(`§2 MTA-STS enforce + ${label} certificate → not delivered (deferred), tlsrptFailure ${failure}`, async () => {
    const x = await harness();
    const peer = await tlsPeer(x, make());
    mx(x.dns, 'sts-bad.test', [[10, 'mx.sts-bad.test', '127.0.1.1']]);
    x.routes.set('127.0.1.1', peer.port);
    stsPolicy(x, 'sts-bad.test', { id: 'v1', mode: 'enforce', mx: ['mx.sts-bad.test'] });

    const m = await x.send({ to: ['a@sts-bad.test'] });
    expect(m.recipients[0]).toMatchObject({ state: 'deferred', attempts: 1, lastErrorCode: 'CERT_INVALID', lastEnhanced: '4.7.5' });
    expect(peer.messages).toHaveLength(0);
    expect(m.attempts[0]).toMatchObject({ starttls: true, verification: 'none', tlsrptPolicy: 'sts', tlsrptFailure: failure, plaintextFallback: false });
    expect(m.attempts[0]!.transcript.some((l) => l.dir === 'c' && /^MAIL FROM/i.test(l.text))).toBe(false);
    expect(m.unencrypted).toBe(false);
  });
}

test('§2 MTA-STS enforce + peer without STARTTLS (stripped) → not delivered in plaintext, starttls-not-supported', async () => {
  const x = await harness();
  const peer = await plainPeer(x);
  mx(x.dns, 'sts-strip.test', [[10, 'mx.sts-strip.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-strip.test', { id: 'v1', mode: 'enforce', mx: ['mx.sts-strip.test'] });

  const m = await x.send({ to: ['a@sts-strip.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TLS_REQUIRED' });
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ starttls: false, plaintextFallback: false, tlsrptFailure: 'starttls-not-supported' });
  expect(m.unencrypted).toBe(false);
});

test('§2 MTA-STS enforce + TLS handshake failure → no plaintext fallback', async () => {
  const x = await harness();
  const peer = await recordingPeer(x, { breakHandshake: true });
  mx(x.dns, 'sts-hs.test', [[10, 'mx.sts-hs.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);
  stsPolicy(x, 'sts-hs.test', { id: 'v1', mode: 'enforce', mx: ['mx.sts-hs.test'] });

  const m = await x.send({ to: ['a@sts-hs.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TLS_FAILED' });
  expect(peer.sessions).toHaveLength(1); // no reconnect in plaintext
  expect(mailCommands(peer)).toEqual([]);
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ plaintextFallback: false, starttls: false });
  expect(m.unencrypted).toBe(false);
});

test('§2 MTA-STS testing + untrusted certificate → delivered anyway, failure recorded', async () => {
  const x = await harness();
  const self = selfSigned(['mx.sts-test.test']);
  const peer = await tlsPeer(x, self);
  mx(x.dns, 'sts-test.test', [[10, 'mx.sts-test.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-test.test', { id: 'v1', mode: 'testing', mx: ['mx.sts-test.test'] });

  const m = await x.send({ to: ['a@sts-test.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(peer.messages[0]!.secure).toBe(true);
  expect(m.attempts[0]).toMatchObject({ mtaStsMode: 'testing', tlsrptPolicy: 'sts', tlsrptFailure: 'certificate-not-trusted', verification: 'none' });
});

test('§2 MTA-STS testing: a non-matching MX still gets the mail (testing only reports)', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.elsewhere.test'] }));
  mx(x.dns, 'sts-test2.test', [[10, 'mx.elsewhere.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-test2.test', { id: 'v1', mode: 'testing', mx: ['mx.sts-test2.test'] });

  const m = await x.send({ to: ['a@sts-test2.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ mtaStsMode: 'testing', tlsrptPolicy: 'sts', tlsrptFailure: 'validation-failure' });
  expect(m.attempts[0]!.verificationReason).toMatch(/MTA-STS/);
});

test('§2 MTA-STS policy is cached in the database (mtasts_policies) and stays in force when the TXT record disappears', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.sts-cache.test'] }));
  mx(x.dns, 'sts-cache.test', [[10, 'mx.sts-cache.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-cache.test', { id: 'v1', mode: 'enforce', mx: ['mx.sts-cache.test'] });

  const m1 = await x.send({ to: ['a@sts-cache.test'] });
  expect(m1.recipients[0]!.state).toBe('delivered');
  expect(policyRows(x)).toEqual([{ domain: 'sts-cache.test', policy_id: 'v1', mode: 'enforce', last_failure_at: null }]);

  // An attacker removes the TXT record and the policy file, and points the MX at their host.
  x.dns.remove('_mta-sts.sts-cache.test');
  x.policies.delete('sts-cache.test');
  const rogue = await tlsPeer(x, pki.ca.issue({ names: ['mx.attacker.test'] }));
  mx(x.dns, 'sts-cache.test', [[10, 'mx.attacker.test', '127.0.1.9']]);
  x.routes.set('127.0.1.9', rogue.port);

  const m2 = await x.send({ to: ['b@sts-cache.test'] });
  expect(m2.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'POLICY_MISMATCH' });
  expect(m2.attempts[0]).toMatchObject({ mtaStsMode: 'enforce', host: 'mx.attacker.test' });
  expect(rogue.messages).toHaveLength(0);
  expect(x.policyRequests.get('sts-cache.test')).toBe(1); // served from the cache
});

test('§2 MTA-STS temporary DNS error on the TXT with a cached policy → the cached policy applies', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.sts-cached-dns.test'] }));
  mx(x.dns, 'sts-cached-dns.test', [[10, 'mx.sts-cached-dns.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-cached-dns.test', { id: 'v1', mode: 'enforce', mx: ['mx.sts-cached-dns.test'] });
  expect((await x.send({ to: ['a@sts-cached-dns.test'] })).recipients[0]!.state).toBe('delivered');

  x.dns.servfail('_mta-sts.sts-cached-dns.test', 'TXT');
  const m = await x.send({ to: ['b@sts-cached-dns.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ mtaStsMode: 'enforce', verification: 'pkix' });
});

test('§2 MTA-STS fetch failure → treated as no policy (opportunistic delivery), failure recorded, not refetched for 5 minutes', async () => {
  const clock = new ManualClock(Date.now());
  let calls = 0;
  const fetcher = async (domain: string): Promise<string> => {
    calls++;
    throw new TlsPolicyError({ code: 'CONNECT_FAILED', message: `fetching the MTA-STS policy from mta-sts.${domain} failed: refused`, tlsrptFailure: 'sts-policy-fetch-error', host: `mta-sts.${domain}` });
  };
  const x = await harness({ clock, network: { mtaStsFetcher: fetcher } });
  // Not trusted: with a policy in force this would not be delivered.
  const self = selfSigned(['mx.sts-fail.test']);
  const peer = await tlsPeer(x, self);
  mx(x.dns, 'sts-fail.test', [[10, 'mx.sts-fail.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  x.dns.add('_mta-sts.sts-fail.test', 'TXT', ['v=STSv1; id=v1']);

  const m1 = await x.send({ to: ['a@sts-fail.test'] });
  expect(m1.recipients[0]!.state).toBe('delivered');
  expect(calls).toBe(1);
  expect(m1.attempts[0]).toMatchObject({ mtaStsMode: null, tlsrptPolicy: 'sts', tlsrptFailure: 'sts-policy-fetch-error', verification: 'none' });
  expect(policyRows(x)[0]).toMatchObject({ domain: 'sts-fail.test', policy_id: null, last_failure_at: clock.now() });

  clock.advance(4 * 60_000 + 59_000);
  const m2 = await x.send({ to: ['b@sts-fail.test'] });
  expect(m2.recipients[0]!.state).toBe('delivered');
  expect(calls).toBe(1); // within the 5-minute backoff: no new fetch

  clock.advance(2_000); // now past 5 minutes
  await x.send({ to: ['c@sts-fail.test'] });
  expect(calls).toBe(2);
});

test('§2 MTA-STS TXT id change → the policy is fetched again and the new one applies', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx1.sts-id.test'] }));
  mx(x.dns, 'sts-id.test', [[10, 'mx1.sts-id.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-id.test', { id: 'v1', mode: 'enforce', mx: ['mx1.sts-id.test'] });

  await x.send({ to: ['a@sts-id.test'] });
  await x.send({ to: ['b@sts-id.test'] });
  expect(x.policyRequests.get('sts-id.test')).toBe(1); // same id: cached

  // New id, new policy that no longer lists mx1.
  stsPolicy(x, 'sts-id.test', { id: 'v2', mode: 'enforce', mx: ['mx2.sts-id.test'] });
  const m = await x.send({ to: ['c@sts-id.test'] });
  expect(x.policyRequests.get('sts-id.test')).toBe(2);
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'POLICY_MISMATCH' });
  expect(peer.messages).toHaveLength(2);
  expect(policyRows(x)[0]).toMatchObject({ policy_id: 'v2' });
});

test('§2 MTA-STS temporary DNS error on the TXT with no cached policy → deferred, nothing dialed', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.sts-dns.test'] }));
  mx(x.dns, 'sts-dns.test', [[10, 'mx.sts-dns.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  x.dns.servfail('_mta-sts.sts-dns.test', 'TXT');

  const m = await x.send({ to: ['a@sts-dns.test'] });
  expect(m.recipients[0]).toMatchObject({ state: 'deferred', attempts: 1 });
  expect(m.recipients[0]!.lastEnhanced).toMatch(/^4\./);
  expect(x.dialed).toEqual([]);
  expect(peer.messages).toHaveLength(0);
  expect(m.attempts[0]).toMatchObject({ stage: 'policy', tlsrptPolicy: 'sts', tlsrptFailure: 'sts-policy-fetch-error' });
});

test('§2 MTA-STS is looked up for the recipient domain, never for its CNAME target', async () => {
  const x = await harness();
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.target.test'] }));
  x.dns.add('alias.test', 'CNAME', ['target.test']);
  mx(x.dns, 'target.test', [[10, 'mx.target.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  // The target's enforce policy would refuse mx.target.test; it must not be consulted.
  stsPolicy(x, 'target.test', { id: 'v1', mode: 'enforce', mx: ['other.target.test'] });

  const m = await x.send({ to: ['a@alias.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  const txtNames = x.dns.queries.filter((q) => q.type === 'TXT').map((q) => q.name);
  expect(txtNames).toContain('_mta-sts.alias.test');
  expect(txtNames).not.toContain('_mta-sts.target.test');
  expect(x.policyRequests.get('target.test')).toBeUndefined();
});

test('§2 MTA-STS cached policy whose TXT record disappeared ends at max_age', async () => {
  const clock = new ManualClock(Date.now());
  const x = await harness({ clock });
  const peer = await tlsPeer(x, pki.ca.issue({ names: ['mx.sts-expire.test'] }));
  mx(x.dns, 'sts-expire.test', [[10, 'mx.sts-expire.test', '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.port);
  stsPolicy(x, 'sts-expire.test', { id: 'v1', mode: 'enforce', mx: ['mx.sts-expire.test'], maxAge: 600 });
  expect((await x.send({ to: ['a@sts-expire.test'] })).recipients[0]!.state).toBe('delivered');

  x.dns.remove('_mta-sts.sts-expire.test');
  const other = await tlsPeer(x, pki.ca.issue({ names: ['mx.moved.test'] }));
  mx(x.dns, 'sts-expire.test', [[10, 'mx.moved.test', '127.0.1.2']]);
  x.routes.set('127.0.1.2', other.port);

  clock.advance(599_000); // still in force
  expect((await x.send({ to: ['b@sts-expire.test'] })).recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'POLICY_MISMATCH' });
  clock.advance(2_000); // past max_age: no policy any more
  const m = await x.send({ to: ['c@sts-expire.test'] });
  expect(m.recipients[0]!.state).toBe('delivered');
  expect(m.attempts[0]).toMatchObject({ host: 'mx.moved.test', mtaStsMode: null, tlsrptPolicy: 'no-policy-found' });
  expect(other.messages).toHaveLength(1);
});
