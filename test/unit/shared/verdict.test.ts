/**
 * shared/verdict.ts: the one plain-language verdict per recipient, from the probe of every MX
 * host (through the engine's own host-policy decision), the stored hint, or the attempt.
 */
import { describe, expect, test } from 'vitest';
import type { DomainTlsHint, ProbeHost, ProbeResult } from '../../../shared/domain';
import { deliveredVerdict, failedVerdict, outcomeVerdict, pickRecipientTls, recipientVerdict, type RecipientTls } from '../../../shared/verdict';

const host = (o: Partial<ProbeHost> = {}): ProbeHost => ({
  host: 'mx1.x.test',
  ip: '127.0.1.1',
  starttls: true,
  requiretls: false,
  tlsVersion: 'TLSv1.3',
  verification: 'none',
  verificationReason: null,
  error: null,
  tlsa: 'none',
  mtaStsMatch: null,
  ...o,
});
const probe = (hosts: ProbeHost[], o: Partial<ProbeResult> = {}) => ({
  status: 'done' as const,
  result: { domain: 'x.test', mx: hosts.map((h) => h.host), mtaStsMode: null, mtaStsId: null, dane: false, hosts, error: null, errorCode: null, errorPermanent: false, at: 1000, ...o },
});
const v = (hosts: ProbeHost[], o: Partial<ProbeResult> = {}, tlsMode: 'default' | 'requiretls' | 'tls-optional' = 'default') =>
  recipientVerdict({ tlsMode, probe: probe(hosts, o), hint: undefined });

describe('before sending, from the probe of every host', () => {
  test('DANE record matching the certificate: encrypted and verified (DANE)', () => {
    const r = v([host({ tlsa: 'usable', verification: 'dane-ee' })], { dane: true });
    expect(r).toMatchObject({ kind: 'dane', label: 'Encrypted and verified (DANE)', short: 'Verified', basis: 'probe', at: 1000 });
    expect(r.hosts[0]!.facts).toContain('certificate matches the DANE record (DANE-EE)');
  });

  test('DANE record NOT matching: will not be delivered, never "verified" although the dane flag is set', () => {
    const r = v([host({ tlsa: 'usable', verification: 'none', verificationReason: 'no TLSA record matches' })], { dane: true });
    expect(r.kind).toBe('undeliverable');
    expect(r.label).toBe("Will not be delivered: the server’s certificate does not match its DANE record");
    expect(r.hosts[0]!.facts).toContain('certificate not verified: no TLSA record matches');
  });

  test('MTA-STS enforce with a valid certificate on a listed host: verified (MTA-STS)', () => {
    expect(v([host({ verification: 'pkix', mtaStsMatch: true })], { mtaStsMode: 'enforce' }).label).toBe('Encrypted and verified (MTA-STS)');
  });

  test('MTA-STS enforce with an invalid certificate, or a host not listed: will not be delivered', () => {
    expect(v([host({ verification: 'none', mtaStsMatch: true })], { mtaStsMode: 'enforce' }).reason).toMatch(/not valid.*MTA-STS/);
    expect(v([host({ verification: 'pkix', mtaStsMatch: false })], { mtaStsMode: 'enforce' }).reason).toMatch(/does not list/);
  });

  test('MTA-STS testing and plain STARTTLS: encrypted, not verified — even with a valid certificate', () => {
    expect(v([host({ verification: 'pkix', mtaStsMatch: false })], { mtaStsMode: 'testing' }).label).toBe('Encrypted, not verified');
    const r = v([host({ verification: 'pkix' })]);
    expect(r.kind).toBe('unverified');
    expect(r.hosts[0]!.outcome).toMatch(/no policy requires it/);
  });

  test('no STARTTLS: will be sent unencrypted; with DANE it cannot be delivered instead', () => {
    expect(v([host({ starttls: false, verification: null })]).label).toBe('Will be sent unencrypted');
    expect(v([host({ starttls: false, verification: null, tlsa: 'usable' })]).reason).toMatch(/requires encryption/);
  });

  test('the weakest host that may receive the mail decides; a doomed backup does not doom the domain', () => {
    const r = v([host({ tlsa: 'usable', verification: 'dane-ee' }), host({ host: 'mx2.x.test', starttls: false, verification: null })]);
    expect(r.kind).toBe('unencrypted');
    expect(r.hosts.map((h) => h.kind)).toEqual(['dane', 'unencrypted']);
    const s = v([host({ tlsa: 'usable', verification: 'dane-ee' }), host({ host: 'mx2.x.test', tlsa: 'usable', verification: 'none' })]);
    expect(s.kind).toBe('dane');
  });

  test('unreachable hosts say nothing; none reachable: unknown (or the hint)', () => {
    expect(v([host({ error: 'connect ECONNREFUSED' }), host({ host: 'mx2.x.test', tlsa: 'usable', verification: 'dane-ta' })]).kind).toBe('dane');
    expect(v([host({ error: 'connect ECONNREFUSED' })]).kind).toBe('unknown');
  });

  test('REQUIRETLS impossible: no DANE/MTA-STS, or REQUIRETLS not announced', () => {
    expect(v([host({ verification: 'pkix', requiretls: true })], {}, 'requiretls').reason).toMatch(/REQUIRETLS is impossible.*not protected/);
    expect(v([host({ tlsa: 'usable', verification: 'dane-ee', requiretls: false })], {}, 'requiretls').reason).toMatch(/does not support REQUIRETLS/);
    expect(v([host({ tlsa: 'usable', verification: 'dane-ee', requiretls: true })], {}, 'requiretls').kind).toBe('dane');
  });

  test('TLS-Required: No verifies nothing that could stop delivery: a DANE mismatch is "not verified", not doomed', () => {
    expect(v([host({ tlsa: 'usable', verification: 'none' })], {}, 'tls-optional').kind).toBe('unverified');
    expect(v([host({ tlsa: 'usable', verification: 'dane-ee' })], {}, 'tls-optional').kind).toBe('unverified');
  });

  test('doomed domains: null MX, no such domain; a temporary DNS error is only "could not check"', () => {
    expect(v([], { error: '5.1.10 x.test does not accept mail (null MX)', errorCode: 'NULL_MX', errorPermanent: true }).label).toBe(
      'Will not be delivered: the domain does not accept mail (null MX)',
    );
    expect(v([], { error: 'NXDOMAIN', errorCode: 'DNS_NXDOMAIN', errorPermanent: true }).label).toBe('Will not be delivered: the domain does not exist');
    const t = v([], { error: 'SERVFAIL', errorCode: 'DNS_TEMPORARY', errorPermanent: false });
    expect(t.kind).toBe('unknown');
    expect(t.label).toBe('Could not check: SERVFAIL');
  });
});

describe('before the probe answers: the stored hint, or "checking"', () => {
  const hint = (o: Partial<DomainTlsHint>): DomainTlsHint => ({ domain: 'x.test', starttls: true, requiretls: false, mtaStsMode: null, dane: false, seenAt: 50, ...o });
  test('no probe, no hint: checking', () => {
    expect(recipientVerdict({ tlsMode: 'default', probe: { status: 'pending' }, hint: undefined }).kind).toBe('checking');
  });
  test('the hint stands in and says where it comes from', () => {
    expect(recipientVerdict({ tlsMode: 'default', probe: undefined, hint: hint({ starttls: false }) })).toMatchObject({ kind: 'unencrypted', basis: 'hint', at: 50 });
    expect(recipientVerdict({ tlsMode: 'default', probe: { status: 'pending' }, hint: hint({ dane: true }) }).kind).toBe('dane');
    expect(recipientVerdict({ tlsMode: 'requiretls', probe: undefined, hint: hint({}) }).reason).toMatch(/REQUIRETLS is impossible/);
  });
  test('a live probe overrides the hint', () => {
    const r = recipientVerdict({ tlsMode: 'default', probe: probe([host({ tlsa: 'usable', verification: 'none' })]), hint: hint({ dane: true }) });
    expect(r.kind).toBe('undeliverable');
  });
});

describe('after sending: the same words', () => {
  const tls = (o: Partial<RecipientTls>): RecipientTls => ({ recipientId: 1, status: 'delivered', starttls: true, verification: 'none', mtaStsMode: null, plaintextFallback: false, dane: false, startedAt: 5, ...o });
  test('delivered', () => {
    expect(deliveredVerdict(tls({ verification: 'dane-ta', dane: true })).label).toBe('Encrypted and verified (DANE)');
    expect(deliveredVerdict(tls({ verification: 'pkix', mtaStsMode: 'enforce' })).label).toBe('Encrypted and verified (MTA-STS)');
    expect(deliveredVerdict(tls({ verification: 'pkix' })).label).toBe('Encrypted, not verified');
    expect(deliveredVerdict(tls({ starttls: false })).label).toBe('Sent unencrypted');
    expect(deliveredVerdict(tls({ plaintextFallback: true })).kind).toBe('unencrypted');
  });
  test('failed: the reason in the vocabulary used before sending', () => {
    expect(failedVerdict({ errorCode: 'CERT_INVALID', enhancedCode: null, dane: true, at: 1 }).label).toBe("Not delivered: the server’s certificate does not match its DANE record");
    expect(failedVerdict({ errorCode: 'SMTP_REPLY', enhancedCode: '5.7.30', dane: false, at: 1 }).reason).toMatch(/REQUIRETLS/);
    expect(failedVerdict({ errorCode: 'NULL_MX', enhancedCode: '5.1.10', dane: false, at: 1 }).label).toBe('Not delivered: the domain does not accept mail (null MX)');
  });
  test('the deciding attempt is the delivering one, else the latest; pending recipients have no verdict', () => {
    const picked = pickRecipientTls([tls({ status: 'deferred', startedAt: 1 }), tls({ status: 'delivered', startedAt: 2, verification: 'dane-ee' }), tls({ status: 'deferred', startedAt: 3 }), tls({ recipientId: 2, status: 'deferred', startedAt: 1 }), tls({ recipientId: 2, status: 'failed', startedAt: 4, dane: true })]);
    expect(picked.map((p) => [p.recipientId, p.status, p.startedAt])).toEqual([[1, 'delivered', 2], [2, 'failed', 4]]);
    const r = { lastErrorCode: 'CERT_INVALID', lastEnhanced: null, lastAttemptAt: 4 };
    expect(outcomeVerdict({ id: 1, state: 'delivered', ...r }, picked)!.kind).toBe('dane');
    expect(outcomeVerdict({ id: 2, state: 'failed', ...r }, picked)!.reason).toMatch(/DANE/);
    expect(outcomeVerdict({ id: 2, state: 'deferred', ...r }, picked)).toBeNull();
  });
});
