/**
 * Issue 14 item 3: TLS session resumption to the same MX host (RFC 8446 §2.2; RFC 5077), through
 * the real engine (Outbox → queue → delivery → SMTP client) against node:tls servers on
 * loopback. Connection reuse is off here, so every message opens a new connection and only the
 * TLS session can be carried over.
 *
 * - a server keeping its ticket keys resumes the second connection; the verification outcome of
 *   the full handshake is recorded again, not recomputed (the peer chain is not even read:
 *   getPeerCertificate runs once, at the full handshake), and the attempt says tlsResumed;
 * - a changed MTA-STS policy (or DANE records, or CA set) is another key: full handshake;
 * - a server that does not resume: full handshake, verified as ever;
 * - a hostile server that presents another certificate (it cannot resume our ticket): the full
 *   handshake is verified and refused under MTA-STS enforce; nothing is sent;
 * - resumable(): a cached outcome that does not satisfy the policy's requirement is never used.
 */
import tls from 'node:tls';
import { afterEach, expect, test, vi } from 'vitest';
import { sessionKey, type HostPlan } from '../../../src-main/core/delivery/host-attempt';
import type { HostPolicy } from '../../../src-main/core/delivery/host-policy';
import type { SessionFacts } from '../../../src-main/core/delivery/session-pool';
import { resumable, TlsSessionCache } from '../../../src-main/core/delivery/tls-sessions';
import { ManualClock } from '../../../src-main/core/clock';
import type { EngineOptions } from '../../../src-main/core/delivery/types';
import { mailCommands, mx, recordingPeer, stsPolicy, tlsaData, useHarness } from '../tls-policy/harness';

const pki = useHarness();

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Counts the SMTP connections whose peer chain was read (the input of every verification: ours,
 * and Node's own name check): a resumed session has none to read. Connections to the MTA-STS
 * policy server (its own PKIX check) are not counted.
 */
function countChainReads(): { readonly count: number } {
  const spy = vi.spyOn(tls.TLSSocket.prototype, 'getPeerCertificate');
  return {
    get count() {
      const sockets = new Set(spy.mock.contexts.filter((s) => String((s as tls.TLSSocket & { servername?: unknown }).servername ?? '').startsWith('mx.')));
      return sockets.size;
    },
  };
}

async function setup(contextFor: (connection: number) => tls.SecureContext, domain = 'resume.test') {
  const x = await pki.harness({ network: { sessionPool: false } });
  const peer = await recordingPeer(x, { secureContext: contextFor });
  mx(x.dns, domain, [[10, `mx.${domain}`, '127.0.1.1']]);
  x.routes.set('127.0.1.1', peer.peer.port);
  return { x, peer };
}

/** One server context, as a real server keeps: its ticket keys outlive the connection. */
function steadyServer(names = ['mx.resume.test']) {
  const cert = pki.ca.issue({ names });
  const ctx = tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem });
  return { cert, contextFor: () => ctx };
}

test('item 3: the second connection resumes the TLS session; the verification is recorded again, not recomputed (chain read once), and the attempt says tlsResumed', async () => {
  const { contextFor } = steadyServer();
  const { x, peer } = await setup(contextFor);
  const reads = countChainReads();
  const ms = [];
  for (let i = 0; i < 3; i++) ms.push(await x.send({ to: [`r${i}@resume.test`] }));
  expect(ms.map((m) => m.recipients[0]!.state)).toEqual(['delivered', 'delivered', 'delivered']);
  expect(peer.sessions).toHaveLength(3);
  expect(peer.messages.every((m) => m.secure)).toBe(true);
  const [a, b, c] = ms.map((m) => m.attempts[0]!);
  expect(a).toMatchObject({ tlsResumed: false, reusedSession: false, verification: 'pkix' });
  for (const r of [b!, c!]) {
    expect(r).toMatchObject({ tlsResumed: true, reusedSession: false, starttls: true, verification: 'pkix', certFingerprint: a!.certFingerprint, tlsVersion: a!.tlsVersion });
    expect(r.transcript.some((l) => l.dir === 'i' && /TLS session resumed/.test(l.text))).toBe(true);
  }
  // The chain was read (and verified) for the full handshake only.
  expect(reads.count).toBe(1);
  // The store keeps it.
  expect(x.core.store.getMessage(ms[2]!.id)!.attempts[0]!.tlsResumed).toBe(true);
});

test('item 3: DANE-EE: the resumed session carries the DANE verdict of its full handshake; a changed TLSA set is another key (full handshake)', async () => {
  const cert = pki.selfSigned(['mx.dane-resume.test']);
  const ctx = tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem });
  const { x } = await setup(() => ctx, 'dane-resume.test');
  const tlsa = (data: Buffer) => [{ usage: 3, selector: 1, matchingType: 1, data }];
  const good = tlsaData(cert.certPem, 1, 1);
  const secure = (records: ReturnType<typeof tlsa>) => {
    x.dns.add('dane-resume.test', 'MX', [{ preference: 10, exchange: 'mx.dane-resume.test' }], { ad: true });
    x.dns.add('mx.dane-resume.test', 'A', ['127.0.1.1'], { ad: true });
    x.dns.add('_25._tcp.mx.dane-resume.test', 'TLSA', records, { ad: true });
  };
  secure(tlsa(good));
  const reads = countChainReads();
  const first = await x.send({ to: ['a@dane-resume.test'] });
  const second = await x.send({ to: ['b@dane-resume.test'] });
  expect(first.attempts[0]).toMatchObject({ verification: 'dane-ee', dane: true, tlsResumed: false });
  expect(second.recipients[0]!.state).toBe('delivered');
  expect(second.attempts[0]).toMatchObject({ verification: 'dane-ee', dane: true, tlsResumed: true });
  expect(reads.count).toBe(1);
  // A second record added (key rollover): another policy — a full handshake verifies under it.
  secure([...tlsa(good), ...tlsa(Buffer.alloc(32, 7))]);
  const third = await x.send({ to: ['c@dane-resume.test'] });
  expect(third.attempts[0]).toMatchObject({ verification: 'dane-ee', tlsResumed: false });
  expect(reads.count).toBe(2);
});

test('item 3: not resumed across a changed MTA-STS policy: the session verified without one is not offered to an enforce host', async () => {
  const { contextFor } = steadyServer();
  const { x } = await setup(contextFor);
  const reads = countChainReads();
  const before = await x.send({ to: ['a@resume.test'] });
  expect(before.attempts[0]).toMatchObject({ mtaStsMode: null, tlsResumed: false });
  stsPolicy(x, 'resume.test', { id: 'p1', mode: 'enforce', mx: ['mx.resume.test'] });
  const after = await x.send({ to: ['b@resume.test'] });
  expect(after.recipients[0]!.state).toBe('delivered');
  expect(after.attempts[0]).toMatchObject({ mtaStsMode: 'enforce', verification: 'pkix', tlsResumed: false });
  expect(reads.count).toBe(2);
  // Under the same enforce policy again, the session verified under it is resumed.
  const again = await x.send({ to: ['c@resume.test'] });
  expect(again.attempts[0]).toMatchObject({ mtaStsMode: 'enforce', verification: 'pkix', tlsResumed: true });
  expect(reads.count).toBe(2);
});

test('item 3: a server that does not resume (new ticket keys on every connection) gets a full handshake, verified as ever', async () => {
  const cert = pki.ca.issue({ names: ['mx.resume.test'] });
  const { x, peer } = await setup(() => tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem }));
  const reads = countChainReads();
  const ms = [];
  for (let i = 0; i < 2; i++) ms.push(await x.send({ to: [`r${i}@resume.test`] }));
  expect(ms.map((m) => m.recipients[0]!.state)).toEqual(['delivered', 'delivered']);
  expect(ms.map((m) => m.attempts[0]!.tlsResumed)).toEqual([false, false]);
  expect(ms.map((m) => m.attempts[0]!.verification)).toEqual(['pkix', 'pkix']);
  expect(peer.sessions).toHaveLength(2);
  expect(reads.count).toBe(2);
});

test('item 3: a hostile server presenting another certificate (it cannot resume our ticket) is verified on its full handshake: refused under MTA-STS enforce, nothing sent', async () => {
  const good = steadyServer();
  const bad = pki.selfSigned(['mx.resume.test']);
  const badCtx = tls.createSecureContext({ key: bad.keyPem, cert: bad.chainPem });
  const { x, peer } = await setup((n) => (n === 0 ? good.contextFor() : badCtx));
  stsPolicy(x, 'resume.test', { id: 'p1', mode: 'enforce', mx: ['mx.resume.test'] });
  const first = await x.send({ to: ['a@resume.test'] });
  expect(first.attempts[0]).toMatchObject({ verification: 'pkix', tlsResumed: false });
  const second = await x.send({ to: ['b@resume.test'] });
  expect(second.recipients[0]!.state).toBe('deferred');
  expect(second.attempts[0]).toMatchObject({ tlsResumed: false, errorCode: 'CERT_INVALID' });
  expect(second.attempts[0]!.certFingerprint).not.toBe(first.attempts[0]!.certFingerprint);
  expect(peer.messages).toHaveLength(1);
  expect(mailCommands(peer)).toHaveLength(1);
});

// ---- the rules, directly ---------------------------------------------------------------------

const facts = (verdict: SessionFacts['verdict'], daneApplied = false): SessionFacts => ({
  tls: { version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', chain: [], leafFingerprint: undefined, authorized: verdict?.kind === 'verified', authorizationError: undefined },
  starttlsMissing: false,
  daneApplied,
  verdict,
});
type Allowed = Extract<HostPolicy, { allowed: true }>;
const policy = (p: Partial<Allowed>): Allowed => ({ allowed: true, tlsRequired: false, requiredVerification: 'none', ignoreVerifyErrors: true, requireTlsExtension: false, reportOnly: false, ...p });

test('item 3: resumable(): a cached outcome that does not satisfy the requirement is never offered (DANE, MTA-STS PKIX, REQUIRETLS)', () => {
  const pkix = facts({ kind: 'verified', method: 'pkix' });
  const daneEe = facts({ kind: 'verified', method: 'dane-ee' }, true);
  const unverified = facts({ kind: 'not-verified', reason: 'self-signed', failure: null });
  const dane = policy({ tlsRequired: true, requiredVerification: 'dane', ignoreVerifyErrors: false });
  const enforce = policy({ tlsRequired: true, requiredVerification: 'pkix', ignoreVerifyErrors: false });
  const requireTls = policy({ tlsRequired: true, requiredVerification: 'pkix', ignoreVerifyErrors: false, requireTlsExtension: true });
  expect(resumable(dane, daneEe)).toBe(true);
  expect(resumable(dane, pkix)).toBe(false);
  expect(resumable(dane, unverified)).toBe(false);
  expect(resumable(policy({ requiredVerification: 'dane' }), unverified)).toBe(false); // TLS-Required: No with DANE
  expect(resumable(enforce, pkix)).toBe(true);
  expect(resumable(enforce, unverified)).toBe(false);
  expect(resumable(requireTls, unverified)).toBe(false);
  expect(resumable(requireTls, pkix)).toBe(true);
  expect(resumable(policy({}), unverified)).toBe(true); // opportunistic: the same verdict again
  expect(resumable(policy({}), { ...pkix, tls: null })).toBe(false);
});

test('item 3: the one reuse key (session pool and TLS sessions) changes with the CA configuration, the policy and the SNI host', () => {
  const plan = (p: Partial<{ host: string; policy: Allowed; stsMode: 'enforce' | null }> = {}) =>
    ({ job: { tlsMode: 'default' }, facts: { host: p.host ?? 'mx.a.test' }, policy: p.policy ?? policy({}), stsMode: p.stsMode ?? null, tlsa: [], daneNames: [] }) as unknown as HostPlan;
  const o = (extraCa: string[]) => ({ ehloName: 'client.test', extraCa }) as unknown as EngineOptions;
  const base = sessionKey(plan(), '127.0.1.1', 25, o([]));
  expect(sessionKey(plan(), '127.0.1.1', 25, o([]))).toBe(base);
  expect(sessionKey(plan(), '127.0.1.1', 25, o(['-----BEGIN CERTIFICATE-----x']))).not.toBe(base);
  expect(sessionKey(plan({ stsMode: 'enforce', policy: policy({ tlsRequired: true, requiredVerification: 'pkix' }) }), '127.0.1.1', 25, o([]))).not.toBe(base);
  expect(sessionKey(plan({ host: 'mx.b.test' }), '127.0.1.1', 25, o([]))).not.toBe(base);
  expect(sessionKey(plan(), '127.0.1.2', 25, o([]))).not.toBe(base);
});

test('item 3: the TLS session cache is bounded (least recently used dropped) and entries expire', () => {
  const clock = new ManualClock(Date.now());
  const cache = new TlsSessionCache({ clock, ttlMs: 1000, maxEntries: 2 });
  const f = facts({ kind: 'verified', method: 'pkix' });
  const far = Date.now() + 86_400_000;
  cache.set('a', Buffer.from('a'), f, far);
  cache.set('b', Buffer.from('b'), f, far);
  expect(cache.get('a')?.ticket.toString()).toBe('a'); // a is now the most recent
  cache.set('c', Buffer.from('c'), f, far);
  expect(cache.get('b')).toBeUndefined();
  expect(cache.size).toBe(2);
  clock.advance(1000);
  expect(cache.get('a')).toBeUndefined();
  expect(cache.get('c')).toBeUndefined();
  // Never past the leaf's notAfter.
  cache.set('d', Buffer.from('d'), f, clock.now() + 10);
  clock.advance(10);
  expect(cache.get('d')).toBeUndefined();
});
