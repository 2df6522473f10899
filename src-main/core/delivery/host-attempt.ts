/**
 * One SMTP session to one address of one MX host (delivery-rules §4, §5, §7, §8, §9):
 * connect, EHLO, STARTTLS when offered, verify as the host policy says, REQUIRETLS when asked,
 * then the transaction(s) for the recipients, recording everything on the attempt.
 *
 * Downgrade protection: when the host policy requires TLS (MTA-STS enforce, DANE, REQUIRETLS),
 * a missing STARTTLS, a failed handshake or a failed verification ends the attempt — there is
 * no plaintext retry. Only without such a policy does a failed handshake fall back to
 * plaintext (rules §4), and that is recorded prominently (plaintextFallback).
 */
import fs from 'node:fs';
import type { DomainTlsHint, MtaStsMode } from '../../../shared/domain';
import { DeliveryError, toDeliveryError } from '../errors';
import type { TlsaRecord } from '../dns/types';
import { SmtpSession, type TlsInfo } from '../smtp/client';
import { verifyDane } from '../tls-policy/dane';
import { caWithExtra } from '../tls-policy/pkix';
import { tlsFailureFromAuthorizationError } from '../tls-policy/tlsrpt';
import type { EngineOptions } from './deliver';
import type { HostPolicy } from './host-policy';
import type { AttemptDraft } from './record';
import type { AttemptRecord, DeliveryJob, RecipientOutcome } from './types';

export interface HostContext {
  job: DeliveryJob;
  host: string;
  expandedHost: string;
  domain: string;
  expandedDomain: string;
  dualStack: boolean;
  firstAttempt: boolean;
  policy: Extract<HostPolicy, { allowed: true }>;
  tlsa: TlsaRecord[];
  stsMode: MtaStsMode | null;
  record: AttemptDraft;
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
}

type Rcpt = { id: number; envelope: string };

export async function attemptHost(ctx: HostContext, ip: string, recipients: Rcpt[], o: EngineOptions): Promise<HostAttemptResult> {
  const port = o.smtpPort ?? 25;
  const record: AttemptDraft = { ...ctx.record, ip, port, startedAt: o.clock.now(), transcript: [], results: [] };
  const outcomes: RecipientOutcome[] = [];
  let hint: DomainTlsHint | null = null;
  let reachedRecipients = false;
  let requireTlsRefused = false;
  const done = (error: DeliveryError | null): HostAttemptResult => {
    record.durationMs = o.clock.now() - record.startedAt;
    if (error) {
      record.stage = error.stage;
      record.code = error.smtpCode ?? null;
      record.enhancedCode = error.enhancedCode ?? null;
      record.reply = error.lines?.length ? error.lines.join(' ') : error.message;
      record.errorCode = error.code;
      record.permanent = error.permanent;
      for (const r of recipients) {
        if (outcomes.some((x) => x.recipientId === r.id)) continue;
        const out: RecipientOutcome = {
          recipientId: r.id,
          status: error.permanent ? 'failed' : 'deferred',
          code: error.smtpCode ?? null,
          enhancedCode: error.enhancedCode ?? null,
          reply: record.reply,
          host: ctx.host,
          errorCode: error.code,
        };
        outcomes.push(out);
        record.results.push({ recipientId: r.id, status: out.status, code: out.code, enhancedCode: out.enhancedCode, reply: out.reply });
      }
    }
    return { record, outcomes, error, reachedRecipients, hint, requireTlsRefused };
  };

  let plaintext = false;
  for (;;) {
    let session: SmtpSession;
    try {
      const socket = await o.dialer({ ip, port, timeoutMs: o.connectTimeoutMs ?? 30_000, signal: ctx.job.signal });
      session = await SmtpSession.open({
        socket,
        host: ctx.host,
        ip,
        ehloName: o.ehloName,
        clock: o.clock,
        timeouts: o.timeouts,
        onTranscript: (line) => record.transcript.push(line),
      });
    } catch (e) {
      const err = toDeliveryError(e, 'connect', ctx.host);
      return done(err.code === 'INTERNAL' ? new DeliveryError({ ...err.toFields(), code: 'CONNECT_FAILED', smtpCode: 451, enhancedCode: '4.4.1', permanent: false }) : err);
    }

    try {
      if (!plaintext && session.capabilities.starttls) {
        let tls: TlsInfo;
        try {
          tls = await session.starttls({ servername: ctx.host, ca: caWithExtra(o.extraCa) });
        } catch (e) {
          session.close();
          const err = toDeliveryError(e, 'tls', ctx.host);
          record.tlsrptFailure = 'validation-failure';
          record.verificationReason = `TLS handshake failed: ${err.message}`;
          if (ctx.policy.tlsRequired) {
            return done(new DeliveryError({ ...err.toFields(), code: 'TLS_FAILED', stage: 'tls', permanent: false, smtpCode: 451, enhancedCode: '4.7.5', host: ctx.host }));
          }
          // Rules §4: no policy requires TLS — connect again and deliver in plaintext (recorded).
          plaintext = true;
          record.plaintextFallback = true;
          record.transcript.push({ at: o.clock.now(), dir: 'i', text: 'TLS handshake failed; reconnecting without TLS (no policy requires TLS)' });
          continue;
        }
        record.starttls = true;
        record.tlsVersion = tls.version;
        record.tlsCipher = tls.cipher;
        record.certFingerprint = tls.leafFingerprint ?? null;
        const verdictError = verify(ctx, tls, record, o.clock.now());
        if (verdictError) {
          await session.quit().catch(() => session.close());
          return done(verdictError);
        }
      } else if (!session.capabilities.starttls) {
        record.verificationReason = plaintext ? record.verificationReason : 'the server does not offer STARTTLS';
        if (!plaintext) record.tlsrptFailure = 'starttls-not-supported';
        if (ctx.policy.tlsRequired) {
          await session.quit().catch(() => session.close());
          return done(new DeliveryError({ code: 'TLS_REQUIRED', stage: 'starttls', permanent: false, smtpCode: 451, enhancedCode: '4.7.5', host: ctx.host, ip, message: `${ctx.host} does not offer STARTTLS, but a TLS policy requires it` }));
        }
      }

      // Rules §11: what this session showed of the domain's TLS support.
      hint = {
        domain: ctx.domain,
        starttls: record.starttls,
        requiretls: record.starttls && session.capabilities.requireTls,
        mtaStsMode: ctx.stsMode,
        dane: record.dane,
        seenAt: o.clock.now(),
      };

      if (ctx.policy.requireTlsExtension) {
        record.requiretls = true;
        if (!session.capabilities.requireTls) {
          // RFC 8689 §4.2.1: the next hop must announce REQUIRETLS after STARTTLS.
          requireTlsRefused = true;
          await session.quit().catch(() => session.close());
          return done(new DeliveryError({ code: 'REQUIRETLS_UNSUPPORTED', stage: 'mail', permanent: false, smtpCode: 550, enhancedCode: '5.7.30', host: ctx.host, ip, message: `${ctx.host} does not support REQUIRETLS` }));
        }
      }

      // Rules §8: one transaction for all recipients; RCPTMAX / 452 leftovers in the next one.
      let remaining = recipients.filter((r) => !outcomes.some((x) => x.recipientId === r.id));
      let lastError: DeliveryError | null = null;
      while (remaining.length > 0) {
        const result = await session.send(
          {
            mailFrom: ctx.job.mailFrom,
            rcptTo: remaining.map((r) => r.envelope),
            requireTls: ctx.policy.requireTlsExtension,
            smtpUtf8: ctx.job.smtpUtf8,
            eightBit: ctx.job.eightBit,
            size: ctx.job.size,
          },
          () => readChunks(ctx.job.rawPath),
          { onProgress: ctx.job.onProgress },
        );
        reachedRecipients = true;
        const next: Rcpt[] = [];
        remaining.forEach((r, i) => {
          const res = result.recipients[i];
          if (!res || res.status === 'not-attempted') {
            next.push(r);
            return;
          }
          let permanent = res.permanent;
          // Rules §7: a policy rejection (5.7.x) on the first attempt to a dual-stack host is
          // retried, so the next attempt can come from the other address family.
          if (permanent && ctx.firstAttempt && ctx.dualStack && res.enhancedCode?.startsWith('5.7.')) permanent = false;
          const status = res.status === 'accepted' ? 'delivered' : permanent ? 'failed' : 'deferred';
          const out: RecipientOutcome = {
            recipientId: r.id,
            status,
            code: res.code ?? null,
            enhancedCode: res.enhancedCode ?? null,
            reply: res.reply ?? null,
            host: ctx.host,
            errorCode: status === 'delivered' ? null : (res.errorCode ?? 'SMTP_REPLY'),
          };
          outcomes.push(out);
          record.results.push({ recipientId: r.id, status, code: out.code, enhancedCode: out.enhancedCode, reply: out.reply });
        });
        if (next.length === remaining.length) {
          // Nothing progressed (a server that answers "too many" to the first RCPT): stop.
          lastError = new DeliveryError({ code: 'SMTP_REPLY', stage: 'rcpt', permanent: false, smtpCode: 452, enhancedCode: '4.5.3', host: ctx.host, ip, message: 'server accepted no recipient of the transaction' });
          break;
        }
        remaining = next;
      }
      const last = record.results[record.results.length - 1];
      record.stage = 'data';
      record.code = last?.code ?? null;
      record.enhancedCode = last?.enhancedCode ?? null;
      record.reply = last?.reply ?? null;
      await session.quit().catch(() => session.close());
      return done(lastError);
    } catch (e) {
      session.close();
      const err = toDeliveryError(e, 'data', ctx.host);
      return done(err.permanent || err.ip ? err : err.at(ctx.host, ip));
    }
  }
}

/** Applies the host policy's verification to a finished handshake; returns an error to stop. */
function verify(ctx: HostContext, tls: TlsInfo, record: AttemptDraft, now: number): DeliveryError | null {
  const fail = (reason: string, tlsrptFailure: string) => {
    record.verification = 'none';
    record.verificationReason = reason;
    record.tlsrptFailure = tlsrptFailure;
    if (ctx.policy.ignoreVerifyErrors) return null; // rules §6 / MTA-STS testing: record only
    return new DeliveryError({ code: 'CERT_INVALID', stage: 'tls', permanent: false, smtpCode: 451, enhancedCode: '4.7.5', host: ctx.host, message: `certificate of ${ctx.host} not accepted: ${reason}` });
  };
  if (ctx.policy.verify === 'dane') {
    record.dane = true;
    const verdict = verifyDane({
      records: ctx.tlsa,
      chain: tls.chain,
      allowedNames: [...new Set([ctx.host, ctx.expandedHost, ctx.domain, ctx.expandedDomain])],
      now,
    });
    if (verdict.verified) {
      record.verification = verdict.method;
      // Keep the host's policy note (MTA-STS discovery problem or mismatch), if any (rules §12).
      record.verificationReason = ctx.record.verificationReason;
      return null;
    }
    return fail(`DANE: ${verdict.reason}`, verdict.tlsrptFailure);
  }
  if (tls.authorized) {
    record.verification = 'pkix';
    record.verificationReason = ctx.record.verificationReason;
    return null;
  }
  const { tlsrptFailure, reason } = tlsFailureFromAuthorizationError(tls.authorizationError ?? undefined);
  if (ctx.policy.verify === 'pkix') return fail(`PKIX: ${reason}`, tlsrptFailure);
  // Opportunistic: unverified TLS is still TLS; record why it did not verify (rules §4).
  record.verification = 'none';
  record.verificationReason = reason;
  if (ctx.policy.reportOnly) record.tlsrptFailure = tlsrptFailure;
  return null;
}

/**
 * The queued message file in 64 KiB chunks read into ONE reused buffer (the SMTP client encodes
 * each chunk before asking for the next): sending a 50 MB message allocates 64 KiB, not 50 MB
 * of short-lived buffers for the garbage collector to catch up with.
 */
export async function* readChunks(file: string, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(size);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, size, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
