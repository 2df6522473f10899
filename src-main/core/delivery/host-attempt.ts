/**
 * One SMTP session to one address of one MX host (delivery-rules §4, §5, §7, §8, §9), in
 * named steps: connect (dial, greeting, EHLO) → secure (STARTTLS, verification as the host
 * policy says, or the recorded plaintext fallback) → REQUIRETLS check → transactions for the
 * recipients. Every fact goes to the attempt recorder (record.ts); every error goes through
 * the one classifier (classify.ts).
 *
 * Downgrade protection: when the host policy requires TLS (MTA-STS enforce, DANE, REQUIRETLS),
 * a missing STARTTLS, a failed handshake or a failed verification ends the attempt — there is
 * no plaintext retry. Only without such a policy does a failed handshake fall back to
 * plaintext (rules §4), and that is recorded prominently (plaintextFallback).
 *
 * Connection reuse (RFC 5321 §4.1.4; session-pool.ts): with a session pool, a session that
 * carried its transactions without a session-level error is given back to the pool under the
 * key of everything that decided how it was secured (sessionKey), and the next message whose
 * plan gives the same key takes it instead of dialing; its transaction begins with RSET,
 * pipelined with MAIL, RCPT and DATA (RFC 2920 §3.1). A session that fails at that RSET (the
 * server dropped it while idle, or answers 421) is closed and the message goes on a new one in
 * the same attempt: not a failure of the message, and the record is the new session's (with
 * the transcript of the try on the kept one). Its TLS facts — version,
 * cipher, certificate, and the verification verdict reached under that same policy — are
 * recorded for that message too (recordFacts), and the record says the session was reused.
 */
import { createHash } from 'node:crypto';
import type { DomainTlsHint, MtaStsMode } from '../../../shared/domain';
import type { TlsaRecord } from '../dns/types';
import { DeliveryError } from '../errors';
import type { Dialer } from '../net/dialer';
import { SmtpSession, type TlsInfo } from '../smtp/client';
import type { TlsrptFailure } from '../tls-policy/tlsrpt';
import { C451LocalErr, C452StorageFull, C550MailboxUnavail, SePol7RequireTLS30, SeProto5TooManyRcpts3Temp, SeSec7CryptoFailure5 } from '../smtp/codes';
import { verifyDane } from '../tls-policy/dane';
import { secureContextFor } from '../tls-policy/pkix';
import { tlsFailureFromAuthorizationError } from '../tls-policy/tlsrpt';
import { classifyHostError, isPermanentRefusal, type HostFacts } from './classify';
import type { HostPolicy } from './host-policy';
import { replyOf, type AttemptRecorder } from './record';
import type { PooledSession, SessionFacts, SessionPool } from './session-pool';
import { resumable } from './tls-sessions';
import type { AttemptRecord, DeliveryJob, EngineOptions, RecipientOutcome } from './types';

/** Everything decided about a host before connecting to it. */
export interface HostPlan {
  job: DeliveryJob;
  facts: HostFacts;
  policy: Extract<HostPolicy, { allowed: true }>;
  /** Authentic usable TLSA records when DANE applies (else empty). */
  tlsa: TlsaRecord[];
  /** Reference identifiers for DANE-TA (RFC 7672 §3.2.2). */
  daneNames: string[];
  stsMode: MtaStsMode | null;
  /** The host-level record: policy facts every session of this host starts from. */
  recorder: AttemptRecorder;
  /** The transport's TCP connect for this attempt (EngineOptions.dialerFor). */
  dialer: Dialer;
  /** Aborted when the domain's attempt budget is spent or the user cancels. */
  signal: AbortSignal;
  /** The addresses to dial, in order (rules §1: one IPv4, one IPv6, rotating). */
  addresses: string[];
}

export interface HostAttemptResult {
  record: AttemptRecord;
  outcomes: RecipientOutcome[];
  /** What ended the attempt for the recipients not delivered, if anything. */
  error: DeliveryError | null;
  /** The session got recipient replies: don't try the next host for these recipients now. */
  reachedRecipients: boolean;
  hint: DomainTlsHint | null;
  requireTlsRefused: boolean;
  /**
   * The session reached its transaction limit (session-pool.ts maxTransactions) with recipients
   * of this message still to send (RCPTMAX or "too many recipients" splits): they had no
   * result here ("not-attempted") and go on a new session to the same address.
   */
  limitReached: boolean;
}

type Rcpt = { id: number; envelope: string };

export async function attemptHost(plan: HostPlan, ip: string, recipients: Rcpt[], o: EngineOptions): Promise<HostAttemptResult> {
  const port = o.smtpPort ?? 25;
  const startedAt = o.clock.now();
  let rec = plan.recorder.session(ip, port, startedAt);
  const outcomes: RecipientOutcome[] = [];
  const state = { hint: null as DomainTlsHint | null, reachedRecipients: false, requireTlsRefused: false, limitReached: false };
  const done = (error: DeliveryError | null): HostAttemptResult => {
    const unreached = recipients.filter((r) => !outcomes.some((x) => x.recipientId === r.id));
    if (error) for (const r of unreached) outcomes.push(outcomeOf(r.id, error, plan.facts.host));
    const record = rec.finish(error, unreached.map((r) => r.id), o.clock.now(), 'data');
    return { record, outcomes, error, ...state };
  };
  const key = reuseKey(plan, ip, port, o);
  const pool = key ? (o.sessionPool ?? null) : null;

  for (;;) {
    // 0. A kept session to this very destination, secured under this very policy (RFC 5321 §4.1.4);
    // when its RSET finds it dead, the message goes on another one (the catch below).
    const pooled = pool && key ? takePooled(pool, key, plan, rec, o) : null;
    let session: SmtpSession | null = pooled?.session ?? null;
    let facts: SessionFacts | null = pooled?.facts ?? null;
    if (pooled) {
      if (pooled.facts.endpoint) rec.connectedFrom(pooled.facts.endpoint, ip);
      recordFacts(rec, pooled.facts);
      rec.reusedSession();
    }
    for (let plaintext = false; !session; ) {
      // 1. Connect: dial, greeting, EHLO.
      let fresh: SmtpSession;
      try {
        fresh = await connect(plan, ip, port, rec, o);
      } catch (e) {
        return done(classifyHostError(e, 'connect', plan.facts, ip));
      }
      try {
        // 2. Secure the session as the host policy says (or go on in plaintext, recorded).
        const secured = await secure(plan, fresh, rec, plaintext, o, key);
        if (secured === 'reconnect-plaintext') {
          plaintext = true;
          continue;
        }
        if (secured instanceof DeliveryError) {
          await fresh.quit();
          return done(secured);
        }
        // Rules §4: a session that fell back to plaintext is never kept; each message tries TLS again.
        facts = plaintext ? null : { ...secured, endpoint: fresh.endpoint };
      } catch (e) {
        fresh.close();
        return done(classifyHostError(e, 'data', plan.facts, ip));
      }
      session = fresh;
    }
    try {
      // Rules §11: what this session showed of the domain's TLS support.
      state.hint = {
        domain: plan.job.domain,
        starttls: rec.starttls,
        requiretls: rec.starttls && session.capabilities.requireTls,
        mtaStsMode: plan.stsMode,
        dane: rec.dane,
        seenAt: o.clock.now(),
      };
      // 3. RFC 8689 §4.2.1: the next hop must announce REQUIRETLS after STARTTLS.
      if (plan.policy.requireTlsExtension) {
        rec.requireTls();
        if (!session.capabilities.requireTls) {
          state.requireTlsRefused = true;
          await session.quit();
          return done(new DeliveryError({ code: 'REQUIRETLS_UNSUPPORTED', stage: 'mail', permanent: false, smtpCode: C550MailboxUnavail, enhancedCode: SePol7RequireTLS30, host: plan.facts.host, ip, message: `${plan.facts.host} does not support REQUIRETLS` }));
        }
      }
      // 4. The transactions.
      const limit = pool ? pool.maxTransactions : Infinity;
      const target = { job: plan.job, facts: plan.facts, requireTls: plan.policy.requireTlsExtension };
      const error = await transactions(target, session, recipients, outcomes, (out) => rec.result(out.recipientId, out.status, out.code, out.enhancedCode, out.reply), () => (state.reachedRecipients = true), limit);
      if (error === SESSION_LIMIT) {
        state.limitReached = true;
        await session.quit();
        return done(null);
      }
      if (pool && key && facts && !error) keep(pool, key, session, facts);
      else await session.quit();
      return done(error);
    } catch (e) {
      session.close();
      if (pooled && session.failedAtReset) {
        // The kept session was dead (dropped while idle, 421): nothing was sent for this message.
        // Start over on another session, keeping what the transcript showed of this try.
        const tried = rec.transcript;
        rec = plan.recorder.session(ip, port, startedAt);
        const sink = rec.transcriptSink();
        for (const line of tried) sink(line);
        rec.line('the kept session is no longer usable; opening a new one', o.clock.now());
        continue;
      }
      return done(classifyHostError(e, 'data', plan.facts, ip));
    }
  }
}

// ---- connection reuse ----------------------------------------------------------------------------

/**
 * The one rule of what may be carried from one delivery to the next — a kept SMTP session
 * (session-pool.ts) or a TLS session ticket with its verification outcome (tls-sessions.ts):
 * only under the same key (sessionKey). Null when nothing may be carried: a per-job dialer (the
 * dialerFor test seam) has no transport identity to key sessions by.
 */
export function reuseKey(plan: HostPlan, ip: string, port: number, o: EngineOptions): string | null {
  if (o.dialerFor && o.transportKey === undefined) return null;
  return sessionKey(plan, ip, port, o);
}

/**
 * Everything that decided how a session was established and secured: the transport, the
 * destination, the TLS policy of the host (the message's TLS mode, MTA-STS mode, DANE records
 * and names, required verification, REQUIRETLS), the trusted CAs and our EHLO name. Two
 * messages with the same key would get the same session, verified the same way.
 */
export function sessionKey(plan: HostPlan, ip: string, port: number, o: EngineOptions): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify([
      o.transportKey ?? '',
      plan.facts.host,
      ip,
      port,
      o.ehloName,
      plan.job.tlsMode,
      plan.stsMode,
      plan.policy,
      plan.tlsa.map((r) => `${r.usage} ${r.selector} ${r.matchingType} ${r.data.toString('hex')}`),
      [...plan.daneNames].sort(),
      caDigest(o.extraCa),
    ]),
  );
  return h.digest('hex');
}

/**
 * The trusted CA configuration as a digest, computed once per configuration (the engine keeps
 * one array until settings change): hashing the PEM bundle into every key cost 3 % of the
 * delivery phase's CPU with an extra CA (bench/profile-delivery.ts, issue 14 item 5).
 */
const caDigests = new WeakMap<readonly string[], string>();
function caDigest(extraCa: readonly string[] | undefined): string {
  if (!extraCa || extraCa.length === 0) return '';
  let d = caDigests.get(extraCa);
  if (d === undefined) {
    d = createHash('sha256').update(JSON.stringify(extraCa)).digest('hex');
    caDigests.set(extraCa, d);
  }
  return d;
}

/**
 * An idle kept session for `key`, bound to this delivery, its next transaction to begin with
 * RSET (RFC 5321 §4.1.1.5: a clean slate, and proof the session is alive); null when there is
 * none.
 */
function takePooled(pool: SessionPool, key: string, plan: HostPlan, rec: AttemptRecorder, o: EngineOptions): PooledSession | null {
  const pooled = pool.take(key);
  if (!pooled) return null;
  const { session } = pooled;
  bind(session, plan, rec);
  rec.line(`reusing the session to ${plan.facts.host} [${session.ip}] (transaction ${session.transactions + 1} on it)`, o.clock.now());
  session.resetBeforeNext();
  return pooled;
}

function keep(pool: SessionPool, key: string, session: SmtpSession, facts: SessionFacts): void {
  // Idle: no delivery's signal or transcript is attached until the next one takes it.
  session.rebind({});
  pool.give(key, { session, facts });
}

function bind(session: SmtpSession, plan: HostPlan, rec: AttemptRecorder): void {
  const sink = rec.transcriptSink();
  session.rebind({
    signal: plan.signal,
    onTranscript: (line) => {
      sink(line);
      plan.job.onActivity?.();
    },
  });
}

/** Writes a session's TLS facts to an attempt's record: the one place they are recorded. */
function recordFacts(rec: AttemptRecorder, f: SessionFacts): void {
  if (f.starttlsMissing) rec.failure('starttls-not-supported', 'the server does not offer STARTTLS');
  if (f.tls) rec.tlsEstablished(f.tls);
  if (f.tls?.resumed) rec.tlsResumed();
  if (f.daneApplied) rec.daneApplies();
  if (f.verdict?.kind === 'verified') rec.verified(f.verdict.method);
  else if (f.verdict) rec.notVerified(f.verdict.reason, f.verdict.failure);
}

async function connect(plan: HostPlan, ip: string, port: number, rec: AttemptRecorder, o: EngineOptions): Promise<SmtpSession> {
  const socket = await plan.dialer({ ip, port, timeoutMs: o.connectTimeoutMs ?? 30_000, signal: plan.signal });
  rec.connectedFrom(socket, ip);
  const sink = rec.transcriptSink();
  return SmtpSession.open({
    socket,
    host: plan.facts.host,
    ip,
    ehloName: o.ehloName,
    clock: o.clock,
    timeouts: o.timeouts,
    signal: plan.signal,
    onTranscript: (line) => {
      sink(line);
      plan.job.onActivity?.();
    },
  });
}

/**
 * STARTTLS and verification. Returns the session's TLS facts to go on (already recorded),
 * 'reconnect-plaintext' for the rules §4 fallback, or the error that ends the session.
 */
async function secure(plan: HostPlan, session: SmtpSession, rec: AttemptRecorder, plaintext: boolean, o: EngineOptions, key: string | null): Promise<DeliveryError | 'reconnect-plaintext' | SessionFacts> {
  const { host } = plan.facts;
  const facts: SessionFacts = { tls: null, starttlsMissing: false, daneApplied: false, verdict: null };
  if (plaintext) return facts;
  if (!session.capabilities.starttls) {
    facts.starttlsMissing = true;
    recordFacts(rec, facts);
    if (!plan.policy.tlsRequired) return facts;
    return new DeliveryError({ code: 'TLS_REQUIRED', stage: 'starttls', permanent: false, smtpCode: C451LocalErr, enhancedCode: SeSec7CryptoFailure5, host, ip: session.ip, message: `${host} does not offer STARTTLS, but a TLS policy requires it` });
  }
  // Resumption (tls-sessions.ts): offer the ticket kept under this very key, when the outcome
  // it was verified with satisfies what this policy requires.
  const cache = key ? o.tlsSessions : undefined;
  const cached = cache?.get(key!);
  const offer = cached && resumable(plan.policy, cached.facts) ? cached : undefined;
  // Tickets may come before the verdict (TLS 1.2) or after it (TLS 1.3): kept once it allows.
  let latest: Buffer | undefined;
  let keepAs: { facts: SessionFacts; notAfter?: number } | null = null;
  const onTicket = cache
    ? (ticket: Buffer) => {
        latest = ticket;
        if (keepAs) cache.set(key!, ticket, keepAs.facts, keepAs.notAfter);
      }
    : undefined;
  let tls: TlsInfo;
  try {
    tls = await session.starttls({ servername: host, secureContext: secureContextFor(o.extraCa), ...(offer ? { session: offer.ticket } : {}) }, { onTicket });
  } catch (e) {
    if (cache) cache.delete(key!);
    session.close();
    const err = classifyHostError(e, 'tls', plan.facts, session.ip);
    rec.failure('validation-failure', `TLS handshake failed: ${err.message}`);
    if (plan.policy.tlsRequired) {
      return new DeliveryError({ ...err.toFields(), code: 'TLS_FAILED', stage: 'tls', permanent: false, smtpCode: C451LocalErr, enhancedCode: SeSec7CryptoFailure5 });
    }
    // Rules §4: no policy requires TLS — connect again and deliver in plaintext (recorded).
    rec.plaintextFallback('reconnected without TLS (no policy requires TLS)');
    rec.line('TLS handshake failed; reconnecting without TLS (no policy requires TLS)', o.clock.now());
    return 'reconnect-plaintext';
  }
  if (tls.resumed && offer) {
    // Only the server that issued our ticket can resume it: the session is the one verified
    // under this same key. Its outcome is recorded again, not recomputed (there is no chain).
    const full = offer.facts;
    Object.assign(facts, { tls: { ...full.tls!, version: tls.version, cipher: tls.cipher, resumed: true }, daneApplied: full.daneApplied, verdict: full.verdict });
    keepAs = { facts: full, notAfter: offer.expiresAt };
    if (latest) cache!.set(key!, latest, full, offer.expiresAt);
    recordFacts(rec, facts);
    return facts;
  }
  // A full handshake (nothing offered, or the server did not resume): verified as ever.
  facts.tls = tls;
  const error = verify(plan, tls, facts, o.clock.now());
  recordFacts(rec, facts);
  if (cache) {
    if (error || !resumable(plan.policy, facts)) cache.delete(key!);
    else {
      keepAs = { facts: { ...facts } };
      if (latest) cache.set(key!, latest, keepAs.facts);
    }
  }
  return error ?? facts;
}

/** Applies the host policy's required verification to a finished handshake (into `facts`). */
function verify(plan: HostPlan, tls: TlsInfo, facts: SessionFacts, now: number): DeliveryError | null {
  const { host } = plan.facts;
  const refuse = (reason: string, failure: TlsrptFailure) => {
    facts.verdict = { kind: 'not-verified', reason, failure };
    if (plan.policy.ignoreVerifyErrors) return null; // rules §6 / MTA-STS testing: record only
    return new DeliveryError({ code: 'CERT_INVALID', stage: 'tls', permanent: false, smtpCode: C451LocalErr, enhancedCode: SeSec7CryptoFailure5, host, message: `certificate of ${host} not accepted: ${reason}` });
  };
  if (plan.policy.requiredVerification === 'dane') {
    facts.daneApplied = true;
    const verdict = verifyDane({ records: plan.tlsa, chain: tls.chain, allowedNames: plan.daneNames, now });
    if (verdict.verified) {
      facts.verdict = { kind: 'verified', method: verdict.method };
      return null;
    }
    return refuse(`DANE: ${verdict.reason}`, verdict.tlsrptFailure);
  }
  if (tls.authorized) {
    facts.verdict = { kind: 'verified', method: 'pkix' };
    return null;
  }
  const { tlsrptFailure, reason } = tlsFailureFromAuthorizationError(tls.authorizationError ?? undefined);
  if (plan.policy.requiredVerification === 'pkix') return refuse(`PKIX: ${reason}`, tlsrptFailure);
  // Opportunistic: unverified TLS is still TLS; record why it did not verify (rules §4).
  facts.verdict = { kind: 'not-verified', reason, failure: plan.policy.reportOnly ? tlsrptFailure : null };
  return null;
}

/** transactions() stopped at the session's transaction limit with recipients left. */
export const SESSION_LIMIT = Symbol('session transaction limit');

/** What the transaction loop needs to know of its destination: an MX host, or a relay. */
export interface TransactionTarget {
  job: DeliveryJob;
  /** For the one classifier (isPermanentRefusal) and the outcomes' host. */
  facts: HostFacts;
  /** MAIL FROM with REQUIRETLS (RFC 8689 §4.2). */
  requireTls: boolean;
}

/**
 * Rules §8: one transaction for all recipients; RCPTMAX / 452 leftovers in the next one — on
 * this session only while it has transactions left (`limit`, counted over the session's life,
 * so a kept session never carries more than the pool allows, split transactions included).
 */
export async function transactions(
  target: TransactionTarget,
  session: SmtpSession,
  recipients: Rcpt[],
  outcomes: RecipientOutcome[],
  onResult: (out: RecipientOutcome) => void,
  reached: () => void,
  limit: number,
): Promise<DeliveryError | null | typeof SESSION_LIMIT> {
  const { job, facts } = target;
  let remaining = recipients.filter((r) => !outcomes.some((x) => x.recipientId === r.id));
  while (remaining.length > 0) {
    if (session.transactions >= limit) return SESSION_LIMIT;
    const result = await session.send(
      {
        mailFrom: job.mailFrom,
        rcptTo: remaining.map((r) => r.envelope),
        requireTls: target.requireTls,
        smtpUtf8: job.smtpUtf8,
        eightBit: job.eightBit,
        size: job.size,
      },
      job.body,
      { onProgress: job.onProgress },
    );
    reached();
    const next: Rcpt[] = [];
    remaining.forEach((r, i) => {
      const res = result.recipients[i];
      if (!res || res.status === 'not-attempted') {
        next.push(r);
        return;
      }
      // Rules §7: the one classifier decides whether a refusal is permanent, at RCPT and DATA too.
      const permanent = isPermanentRefusal({ permanent: res.permanent, enhancedCode: res.enhancedCode }, facts);
      const status = res.status === 'accepted' ? 'delivered' : permanent ? 'failed' : 'deferred';
      const out: RecipientOutcome = {
        recipientId: r.id,
        status,
        code: res.code ?? null,
        enhancedCode: res.enhancedCode ?? null,
        reply: res.reply ?? null,
        host: facts.host,
        errorCode: status === 'delivered' ? null : (res.errorCode ?? 'SMTP_REPLY'),
      };
      outcomes.push(out);
      onResult(out);
    });
    if (next.length === remaining.length) {
      // Nothing progressed (a server that answers "too many" to the first RCPT): stop.
      return new DeliveryError({ code: 'SMTP_REPLY', stage: 'rcpt', permanent: false, smtpCode: C452StorageFull, enhancedCode: SeProto5TooManyRcpts3Temp, host: facts.host, ip: session.ip, message: 'server accepted no recipient of the transaction' });
    }
    remaining = next;
  }
  return null;
}

export function outcomeOf(recipientId: number, err: DeliveryError, host: string | null): RecipientOutcome {
  return {
    recipientId,
    status: err.permanent ? 'failed' : 'deferred',
    code: err.smtpCode ?? null,
    enhancedCode: err.enhancedCode ?? null,
    reply: replyOf(err),
    host: err.host ?? host,
    errorCode: err.code,
  };
}
