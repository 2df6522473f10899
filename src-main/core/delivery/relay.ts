/**
 * Delivery through a relay: a smarthost (plain SMTP relay, no AUTH) or a submission server
 * (RFC 6409 port 587 with STARTTLS, or RFC 8314 §3 implicit TLS on 465, with SASL AUTH,
 * RFC 4954). mox: queue/submit.go. The relay takes responsibility for the recipients; the
 * recipient domain's MX, MTA-STS and DANE are the relay's business from then on.
 *
 *   1. addresses: the relay host's A/AAAA (or the IP literal), filtered by the IP family.
 *   2. connect: TCP; for implicit TLS the handshake comes before the greeting.
 *   3. TLS: STARTTLS must be offered (no plaintext to a relay, rules §13); the certificate must
 *      verify with PKIX against the relay's host name unless the user marked the transport
 *      unverified (recorded as such on every attempt).
 *   4. REQUIRETLS (RFC 8689 §4.2.1): the relay must announce it after TLS, over a verified
 *      connection; else 5.7.30 — permanent at once, there is no other host to try.
 *   5. AUTH (submission): the configured mechanism or the strongest offered; never before TLS
 *      (the session refuses). A refused password is permanent: retrying with the same password
 *      only locks the account (no retry storm).
 *   6. the transaction(s): MAIL, RCPT…, DATA; RCPTMAX / "too many recipients" leftovers go in
 *      the next transaction (host-attempt.ts transactions(), the one loop for every session).
 *      The message is sent byte for byte (TLS-Required: No stays).
 *
 * Connection reuse (RFC 5321 §4.1.4; session-pool.ts): a relay session that carried its
 * transactions cleanly is kept — authenticated — in the engine's session pool under relayKey
 * (the transport as configured, its credentials reference, our EHLO name, the trusted CAs and
 * whether the message needs REQUIRETLS), and the next message through the same transport takes
 * it with RSET instead of connecting, securing and authenticating again. Its TLS facts are
 * recorded again for that message, and the record says the session was reused. A new password
 * is a new credentials reference, hence a new key: a session authenticated with the old one is
 * never used for it.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Clock } from '../clock';
import { createHash } from 'node:crypto';
import { blankAttempt } from './record';
import { SESSION_LIMIT, transactions } from './host-attempt';
import type { SessionFacts, SessionPool } from './session-pool';
type AttemptDraft = AttemptRecord;
import type { AttemptRecord, DeliveryJob, DeliveryOutcome, RecipientOutcome } from './types';
import type { Resolver } from '../dns/types';
import { DeliveryError, toDeliveryError } from '../errors';
import type { Dialer } from '../net/dialer';
import { familyAllows, familyDialer } from '../net/ip-family';
import { SmtpSession, type SmtpTimeouts } from '../smtp/client';
import { secureContextFor } from '../tls-policy/pkix';
import { tlsFailureFromAuthorizationError } from '../tls-policy/tlsrpt';
import type { TransportConfig } from '../transport/config';
import { pickMechanism, saslClient, type SaslMechanismName } from '../smtp/sasl';

export interface RelayOptions {
  resolver: Resolver;
  dialer: Dialer;
  clock: Clock;
  ehloName: string;
  extraCa?: string[] | undefined;
  connectTimeoutMs?: number | undefined;
  timeouts?: Partial<SmtpTimeouts> | undefined;
  /** The transport's password, read only when AUTH needs it. */
  password?: (() => string) | undefined;
  /** The engine's session pool: relay sessions are kept in it between messages. */
  sessionPool?: SessionPool | undefined;
  /** What names the transport's credentials (its secret reference): part of the reuse key. */
  credentialsKey?: string | null | undefined;
}

type Rcpt = { id: number; envelope: string };

/** An open, TLS-protected (and, for submission, authenticated) session to the relay. */
export interface RelaySession {
  session: SmtpSession;
  record: AttemptDraft;
}

/** Steps 1–5: connect, TLS, REQUIRETLS check, AUTH. Throws a DeliveryError; fills `record`. */
export async function openRelay(t: TransportConfig, o: RelayOptions, record: AttemptDraft, need: { requireTls: boolean; signal?: AbortSignal | undefined }): Promise<SmtpSession> {
  const host = t.host!;
  const port = t.port!;
  record.host = host;
  record.port = port;
  const addrs = await relayAddresses(host, t, o.resolver);
  const dial = familyDialer(t.ipFamily, o.dialer);
  const secureContext = secureContextFor(o.extraCa);
  const servername = net.isIP(host) ? undefined : host;
  let lastError: DeliveryError | null = null;
  // A second session for the same attempt (the first one's transaction limit) keeps its lines.
  const base = record.transcript.length;
  for (const ip of addrs) {
    record.ip = ip;
    record.transcript.splice(base);
    let session: SmtpSession;
    try {
      let socket: net.Socket = await dial({ ip, port, timeoutMs: o.connectTimeoutMs ?? 30_000, signal: need.signal });
      if (t.tls === 'implicit') socket = await implicitTls(socket, { servername, secureContext, timeoutMs: o.timeouts?.tlsHandshake ?? 60_000, clock: o.clock }, host, ip);
      session = await SmtpSession.open({ socket, host, ip, ehloName: o.ehloName, clock: o.clock, timeouts: o.timeouts, onTranscript: (l) => record.transcript.push(l) });
    } catch (e) {
      // A connection that never got to SMTP: the next address may work (rules §7).
      lastError = connectError(e, host, ip);
      if (lastError.stage === 'connect' || lastError.stage === 'tls') continue;
      throw lastError;
    }
    try {
      await secure(session, t, { servername, secureContext }, record);
      if (need.requireTls) {
        record.requiretls = true;
        // RFC 8689 §4.2.1: the next hop must announce REQUIRETLS after TLS, and the connection
        // must be verified; an unverified relay cannot carry a REQUIRETLS message.
        const why = record.verification !== 'pkix' ? `the TLS connection to relay ${host} is not verified (transport set to unverified)` : !session.capabilities.requireTls ? `relay ${host} does not announce REQUIRETLS` : null;
        if (why) throw new DeliveryError({ code: 'REQUIRETLS_UNSUPPORTED', stage: 'mail', permanent: true, smtpCode: 550, enhancedCode: '5.7.30', host, ip, message: `REQUIRETLS: ${why}` });
      }
      if (t.type === 'submission') await authenticate(session, t, o);
      return session;
    } catch (e) {
      await session.quit().catch(() => session.close());
      throw toDeliveryError(e, 'tls', host).at(host, ip);
    }
  }
  throw lastError ?? new DeliveryError({ code: 'NO_HOSTS', stage: 'dns', permanent: false, smtpCode: 451, enhancedCode: '4.4.4', host, message: `relay ${host} has no ${t.ipFamily === 'both' ? '' : `${t.ipFamily} `}address` });
}

/** Steps 1–6 for one job: the whole attempt through the relay, as one attempt record. */
export async function deliverViaRelay(job: DeliveryJob, t: TransportConfig, o: RelayOptions): Promise<DeliveryOutcome> {
  const record: AttemptDraft = { ...blankAttempt(job.domain, o.clock.now()), tlsrptPolicy: null };
  const outcomes = new Map<number, RecipientOutcome>();
  const finish = (err: DeliveryError | null): DeliveryOutcome => {
    record.durationMs = o.clock.now() - record.startedAt;
    if (err) {
      record.stage = err.stage;
      record.code = err.smtpCode ?? null;
      record.enhancedCode = err.enhancedCode ?? null;
      record.reply = err.lines?.length ? err.lines.join(' ') : err.message;
      record.errorCode = err.code;
      record.permanent = err.permanent;
    }
    for (const r of job.recipients) {
      if (outcomes.has(r.id)) continue;
      const e = err ?? new DeliveryError({ code: 'INTERNAL', stage: 'data', permanent: false, message: 'no result from the relay' });
      outcomes.set(r.id, { recipientId: r.id, status: e.permanent ? 'failed' : 'deferred', code: e.smtpCode ?? null, enhancedCode: e.enhancedCode ?? null, reply: e.lines?.length ? `${e.smtpCode ?? ''} ${e.lines.join(' ')}`.trim() : e.message, host: t.host, errorCode: e.code });
    }
    for (const out of outcomes.values()) {
      if (!record.results.some((x) => x.recipientId === out.recipientId)) record.results.push({ recipientId: out.recipientId, status: out.status, code: out.code, enhancedCode: out.enhancedCode, reply: out.reply });
    }
    return { recipients: [...outcomes.values()], attempts: [record], dialedIps: job.dialedIps, hint: null };
  };

  const requireTls = job.tlsMode === 'requiretls';
  const pool = o.sessionPool;
  const key = pool ? relayKey(t, o, requireTls) : null;
  const target = { job, facts: { host: t.host!, dualStack: false, firstAttempt: job.attemptNumber === 1 }, requireTls };
  let remaining: Rcpt[] = [...job.recipients];
  for (;;) {
    let session: SmtpSession;
    let facts: SessionFacts;
    const pooled = pool && key ? await takeRelay(pool, key, record, job, o) : null;
    if (pooled) {
      ({ session, facts } = pooled);
      recordFacts(record, t, session, facts, requireTls);
      record.reusedSession = true;
    } else {
      try {
        session = await openRelay(t, o, record, { requireTls, signal: job.signal });
      } catch (e) {
        return finish(toDeliveryError(e, 'connect', t.host ?? undefined));
      }
      facts = relayFacts(session, record);
    }
    try {
      const got: RecipientOutcome[] = [];
      const result = await transactions(target, session, remaining, got, () => {}, () => {}, pool ? pool.maxTransactions : Infinity);
      for (const out of got) outcomes.set(out.recipientId, out);
      if (result === SESSION_LIMIT) {
        // The session carried all it may: the rest of the recipients go on a new one.
        await session.quit();
        remaining = remaining.filter((r) => !outcomes.has(r.id));
        continue;
      }
      const last = [...outcomes.values()].pop();
      record.stage = 'data';
      record.code = last?.code ?? null;
      record.enhancedCode = last?.enhancedCode ?? null;
      record.reply = last?.reply ?? null;
      if (pool && key && !result) {
        session.rebind({});
        pool.give(key, { session, facts });
      } else await session.quit().catch(() => session.close());
      return finish(result);
    } catch (e) {
      session.close();
      return finish(toDeliveryError(e, 'data', t.host ?? undefined));
    }
  }
}

/**
 * Everything that decided how a relay session was established, secured and authenticated: the
 * transport as configured (host, port, TLS mode and verification, user, mechanism, IP family),
 * the reference of its credentials, our EHLO name, the trusted CAs, and whether the message
 * needs REQUIRETLS (checked when the session is opened). Same key, same session.
 */
export function relayKey(t: TransportConfig, o: Pick<RelayOptions, 'ehloName' | 'extraCa' | 'credentialsKey'>, requireTls: boolean): string {
  return createHash('sha256')
    .update(JSON.stringify(['relay', t.name, t.type, t.host, t.port, t.tls, t.tlsVerify, t.user, t.auth, t.ipFamily, o.credentialsKey ?? '', o.ehloName, o.extraCa ?? [], requireTls]))
    .digest('hex');
}

/** An idle kept relay session for `key`, RSET and bound to this attempt's record; or null. */
async function takeRelay(pool: SessionPool, key: string, record: AttemptDraft, job: DeliveryJob, o: RelayOptions): Promise<{ session: SmtpSession; facts: SessionFacts } | null> {
  for (;;) {
    const pooled = pool.take(key);
    if (!pooled) return null;
    const { session } = pooled;
    session.rebind({ signal: job.signal, onTranscript: (l) => record.transcript.push(l) });
    record.transcript.push({ at: o.clock.now(), dir: 'i', text: `reusing the session to relay ${session.host} [${session.ip}] (transaction ${session.transactions + 1} on it)` });
    try {
      // RFC 5321 §4.1.1.5: a clean slate, and proof the session is alive (AUTH stays in force).
      await session.reset();
      return pooled;
    } catch {
      session.close();
      record.transcript.push({ at: o.clock.now(), dir: 'i', text: 'the kept session is no longer usable; opening a new one' });
    }
  }
}

/** A relay session's TLS facts as established (secure() filled `record`), for reuse. */
function relayFacts(session: SmtpSession, record: AttemptDraft): SessionFacts {
  return {
    tls: session.tls ?? null,
    starttlsMissing: false,
    daneApplied: false,
    verdict: record.verification === 'pkix' ? { kind: 'verified', method: 'pkix' } : { kind: 'not-verified', reason: record.verificationReason ?? 'not verified', failure: null },
    endpoint: session.endpoint,
  };
}

/** Writes a kept relay session's facts to the attempt that reuses it. */
function recordFacts(record: AttemptDraft, t: TransportConfig, session: SmtpSession, f: SessionFacts, requireTls: boolean): void {
  record.host = t.host;
  record.port = t.port;
  record.ip = session.ip;
  record.starttls = f.tls !== null;
  record.tlsVersion = f.tls?.version ?? null;
  record.tlsCipher = f.tls?.cipher ?? null;
  record.certFingerprint = f.tls?.leafFingerprint ?? null;
  record.verification = f.verdict?.kind === 'verified' ? f.verdict.method : 'none';
  record.verificationReason = f.verdict?.kind === 'not-verified' ? f.verdict.reason : null;
  if (requireTls) record.requiretls = true;
}

/** STARTTLS (or the implicit TLS already up), then the PKIX verdict as the transport says. */
async function secure(session: SmtpSession, t: TransportConfig, tlsOpts: { servername: string | undefined; secureContext: tls.SecureContext }, record: AttemptDraft): Promise<void> {
  const host = t.host!;
  let info = session.tls;
  if (!info) {
    if (!session.capabilities.starttls) {
      // Rules §13: relays only over TLS — a relay that does not offer STARTTLS (or a MITM that
      // removed it) gets nothing, least of all a password.
      record.verificationReason = 'the relay does not offer STARTTLS';
      throw new DeliveryError({ code: 'TLS_REQUIRED', stage: 'starttls', permanent: false, smtpCode: 451, enhancedCode: '4.7.5', host, ip: session.ip, message: `relay ${host} does not offer STARTTLS; this transport sends only over TLS` });
    }
    info = await session.starttls({ ...(tlsOpts.servername ? { servername: tlsOpts.servername } : {}), secureContext: tlsOpts.secureContext, checkServerIdentity: identityOf(host) });
  }
  record.starttls = true;
  record.tlsVersion = info.version;
  record.tlsCipher = info.cipher;
  record.certFingerprint = info.leafFingerprint ?? null;
  if (info.authorized) {
    record.verification = 'pkix';
    return;
  }
  const { reason } = tlsFailureFromAuthorizationError(info.authorizationError ?? undefined);
  record.verification = 'none';
  if (t.tlsVerify === 'none') {
    record.verificationReason = `not verified (${reason}); this transport is set to unverified TLS`;
    return;
  }
  record.verificationReason = `PKIX: ${reason}`;
  throw new DeliveryError({ code: 'CERT_INVALID', stage: 'tls', permanent: false, smtpCode: 451, enhancedCode: '4.7.5', host, ip: session.ip, message: `certificate of relay ${host} not accepted: ${reason}` });
}

async function authenticate(session: SmtpSession, t: TransportConfig, o: RelayOptions): Promise<void> {
  const host = t.host!;
  const configured = t.auth ? (t.auth.toUpperCase() as SaslMechanismName) : null;
  const pick = pickMechanism(session.capabilities.auth, configured);
  if (!pick.ok) {
    throw new DeliveryError({ code: 'AUTH_UNAVAILABLE', stage: 'auth', permanent: true, smtpCode: 530, enhancedCode: '5.7.0', host, ip: session.ip, message: `cannot authenticate to relay ${host}: ${pick.reason}` });
  }
  let password: string;
  try {
    password = o.password?.() ?? '';
  } catch (e) {
    throw new DeliveryError({ code: 'AUTH_UNAVAILABLE', stage: 'auth', permanent: false, smtpCode: 454, enhancedCode: '4.7.0', host, message: `no password for transport ${t.name}: ${(e as Error).message}` });
  }
  if (!password) throw new DeliveryError({ code: 'AUTH_UNAVAILABLE', stage: 'auth', permanent: false, smtpCode: 454, enhancedCode: '4.7.0', host, message: `no password for transport ${t.name}` });
  try {
    await session.auth(saslClient(pick.name, { username: t.user ?? '', password }));
  } catch (e) {
    const err = toDeliveryError(e, 'auth', host);
    if (err.code === 'AUTH_FAILED' && err.permanent) {
      // The server's reply is in the message; the user reads one sentence with what to do.
      throw new DeliveryError({ ...err.toFields(), lines: undefined, message: `relay ${host} refused the user name or password of transport ${t.name} (${pick.name}): ${err.message}; fix them in Settings → Sending` });
    }
    throw err;
  }
}

async function relayAddresses(host: string, t: TransportConfig, resolver: Resolver): Promise<string[]> {
  if (net.isIP(host)) return familyAllows(t.ipFamily, host) ? [host] : [];
  const out: string[] = [];
  let firstError: unknown = null;
  // IPv4 first: a desktop's IPv4 path to a provider's relay is the one most likely to work.
  for (const fam of ['ipv4', 'ipv6'] as const) {
    if (t.ipFamily !== 'both' && t.ipFamily !== fam) continue;
    try {
      const ans = fam === 'ipv4' ? await resolver.a(host) : await resolver.aaaa(host);
      out.push(...ans.records.slice(0, 2));
    } catch (e) {
      firstError ??= e;
    }
  }
  if (out.length === 0 && firstError) throw toDeliveryError(firstError, 'dns', host);
  return out;
}

function implicitTls(socket: net.Socket, opts: { servername: string | undefined; secureContext: tls.SecureContext; timeoutMs: number; clock: Clock }, host: string, ip: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    // Verification is decided after the handshake (secure()), as for STARTTLS.
    const s = tls.connect({ socket, ...(opts.servername ? { servername: opts.servername } : {}), secureContext: opts.secureContext, checkServerIdentity: identityOf(host), rejectUnauthorized: false });
    const timer = opts.clock.setTimer(opts.timeoutMs, () => fail(new Error(`TLS handshake timed out after ${opts.timeoutMs} ms`)));
    const fail = (e: Error) => {
      timer.cancel();
      s.destroy();
      socket.destroy();
      reject(new DeliveryError({ code: 'TLS_FAILED', stage: 'tls', permanent: false, smtpCode: 451, enhancedCode: '4.7.5', host, ip, message: `implicit TLS to ${host}: ${e.message}`, cause: e }));
    };
    s.once('error', fail);
    s.once('secureConnect', () => {
      timer.cancel();
      s.off('error', fail);
      resolve(s);
    });
  });
}

/**
 * RFC 6125 name check against the relay as configured — a host name or an IP address (the
 * handshake alone would check "localhost" when there is no SNI, as for an IP literal).
 */
function identityOf(host: string): (servername: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_servername, cert) => tls.checkServerIdentity(host, cert);
}

function connectError(e: unknown, host: string, ip: string): DeliveryError {
  const err = toDeliveryError(e, 'connect', host).at(host, ip);
  return err.code === 'INTERNAL' ? new DeliveryError({ ...err.toFields(), code: 'CONNECT_FAILED', smtpCode: 451, enhancedCode: '4.4.1', permanent: false }) : err;
}
