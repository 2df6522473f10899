/**
 * The attempt recorder: the ONE place where an attempt's record is written (delivery-rules §9,
 * §12). deliver.ts and host-attempt.ts say what happened ("the MTA-STS policy could not be
 * fetched", "TLS established", "verified by DANE-EE", "this error ended the session"); the
 * recorder decides how that reads in the TLSRPT vocabulary of RFC 8460 §4.3 and keeps the
 * rules that make the record true:
 *
 * - The first TLSRPT failure of an attempt stands (RFC 8460 §4.3: one result-type per
 *   session; the failure that decided how the policy was applied is the one to report). A
 *   policy-discovery failure is therefore never overwritten by, say, a later STARTTLS failure;
 *   later problems are added to the reason.
 * - A DNS answer that is DNSSEC-bogus (DNS_BOGUS) is `dnssec-invalid` (RFC 8460 §4.3.2.1).
 * - Recipient results are recorded as they come; recipients the session never reached get the
 *   error that ended it. Nothing is recorded as delivered that the server did not accept.
 */
import type { AchievedVerification, AttemptRecord, MtaStsMode, TlsrptFailure, TlsrptPolicyType } from '../../../shared/domain';
import type { DeliveryError, Stage } from '../errors';
import type { TlsInfo } from '../smtp/client';
import type { OutcomeStatus } from './types';

export type { AttemptRecord };

export type ResultStatus = OutcomeStatus | 'not-attempted';

/** RFC 8460 §4.4: what a policy said when it was applied. */
export interface PolicyDetails {
  policyString: string[];
  mxHost?: string[] | undefined;
}

/** §4.4 policy-string of an MTA-STS policy: its lines as fetched. */
export function stsPolicyDetails(policyText: string, mx: readonly string[] | undefined): PolicyDetails {
  return { policyString: policyText.split(/\r?\n/).map((l) => l.trim()).filter(Boolean), ...(mx?.length ? { mxHost: [...mx] } : {}) };
}

/** §4.4 policy-string of a DANE policy: each TLSA record as "usage selector matching-type hex". */
export function tlsaPolicyDetails(records: readonly { usage: number; selector: number; matchingType: number; data: Uint8Array }[]): PolicyDetails {
  return { policyString: records.map((r) => `${r.usage} ${r.selector} ${r.matchingType} ${Buffer.from(r.data).toString('hex')}`) };
}

/** An empty record, for a fresh attempt (and for fixtures in tests). */
export function blankAttempt(domain: string, startedAt: number): AttemptRecord {
  return {
    startedAt,
    transport: 'direct',
    routeId: null,
    durationMs: 0,
    domain,
    host: null,
    ip: null,
    port: null,
    stage: null,
    starttls: false,
    tlsVersion: null,
    tlsCipher: null,
    certFingerprint: null,
    verification: null,
    verificationReason: null,
    mtaStsMode: null,
    dane: false,
    requiretls: false,
    plaintextFallback: false,
    reusedSession: false,
    tlsResumed: false,
    tlsrptPolicy: null,
    tlsrptFailure: null,
    tlsrptPolicyString: null,
    tlsrptMxHost: null,
    localIp: null,
    code: null,
    enhancedCode: null,
    reply: null,
    errorCode: null,
    permanent: false,
    transcript: [],
    results: [],
  };
}

/** The reply text of an error as the record and the recipient outcome show it. */
export function replyOf(err: DeliveryError): string {
  if (err.smtpCode !== undefined && err.lines?.length && err.code === 'SMTP_REPLY') return `${err.smtpCode} ${err.lines.join(' / ')}`;
  return err.message;
}

export class AttemptRecorder {
  readonly #r: AttemptRecord;
  #finished: AttemptRecord | null = null;

  private constructor(r: AttemptRecord) {
    this.#r = r;
  }

  static start(domain: string, startedAt: number): AttemptRecorder {
    return new AttemptRecorder(blankAttempt(domain, startedAt));
  }

  /**
   * A recorder for one session of this host, carrying what was learnt before connecting
   * (policy, discovery failures, DANE) but nothing of earlier sessions.
   */
  session(ip: string, port: number, startedAt: number): AttemptRecorder {
    return new AttemptRecorder({ ...this.#r, ip, port, startedAt, transcript: [], results: [] });
  }

  get policyType(): TlsrptPolicyType | null {
    return this.#r.tlsrptPolicy;
  }

  get starttls(): boolean {
    return this.#r.starttls;
  }

  get dane(): boolean {
    return this.#r.dane;
  }

  get transcript(): AttemptRecord['transcript'] {
    return this.#r.transcript;
  }

  // ---- what was decided before connecting ----

  host(host: string | null, mtaStsMode: MtaStsMode | null): this {
    this.#r.host = host;
    this.#r.mtaStsMode = mtaStsMode;
    return this;
  }

  /**
   * RFC 8460 §4.3: which policy applied. A DANE policy (tlsa) is the stronger statement.
   * `details` is what the policy said at this moment (§4.4 policy-string, mx-host); a change
   * of policy type without details leaves none (nothing else is known to be in force).
   */
  policy(type: TlsrptPolicyType, details?: PolicyDetails): this {
    if (this.#r.tlsrptPolicy === 'tlsa' && type !== 'tlsa') return this;
    if (details || this.#r.tlsrptPolicy !== type) {
      this.#r.tlsrptPolicyString = details?.policyString ?? null;
      this.#r.tlsrptMxHost = details?.mxHost ?? null;
    }
    this.#r.tlsrptPolicy = type;
    return this;
  }

  /**
   * Our own address on the connection (RFC 8460 §4.4 sending-mta-ip). Only when the socket is
   * connected to the receiving IP itself: through a proxy the local address is not the one the
   * receiver saw.
   */
  connectedFrom(socket: { localAddress?: string | undefined; remoteAddress?: string | undefined }, ip: string): this {
    this.#r.localIp = socket.remoteAddress === ip && socket.localAddress ? socket.localAddress : null;
    return this;
  }

  /** A TLSRPT failure with its reason; the first failure of the attempt stands. */
  failure(failure: TlsrptFailure, reason: string): this {
    if (this.#r.tlsrptFailure === null) this.#r.tlsrptFailure = failure;
    this.note(reason);
    return this;
  }

  /** A DNS lookup failed: a DNSSEC-bogus answer is a TLSRPT dnssec-invalid (RFC 8460 §4.3.2.1). */
  dnsFailure(err: DeliveryError, what: string): this {
    if (err.code === 'DNS_BOGUS') {
      if (this.#r.tlsrptPolicy === null || this.#r.tlsrptPolicy === 'no-policy-found') this.policy('tlsa');
      this.failure('dnssec-invalid', `${what}: ${err.message}`);
    }
    return this;
  }

  /** Adds to the human reason (verification, policy notes), never replacing what is there. */
  note(reason: string): this {
    const r = this.#r.verificationReason;
    if (r === null) this.#r.verificationReason = reason;
    else if (!r.split('; ').includes(reason)) this.#r.verificationReason = `${r}; ${reason}`;
    return this;
  }

  daneApplies(): this {
    this.#r.dane = true;
    return this.policy('tlsa');
  }

  requireTls(): this {
    this.#r.requiretls = true;
    return this;
  }

  // ---- the session ----

  line(text: string, at: number): void {
    this.#r.transcript.push({ at, dir: 'i', text });
  }

  transcriptSink(): (line: AttemptRecord['transcript'][number]) => void {
    return (line) => this.#r.transcript.push(line);
  }

  tlsEstablished(tls: TlsInfo): this {
    this.#r.starttls = true;
    this.#r.tlsVersion = tls.version;
    this.#r.tlsCipher = tls.cipher;
    this.#r.certFingerprint = tls.leafFingerprint ?? null;
    return this;
  }

  verified(method: AchievedVerification): this {
    this.#r.verification = method;
    return this;
  }

  /** TLS without (accepted) verification; `failure` when it is a policy failure to report. */
  notVerified(reason: string, failure: TlsrptFailure | null): this {
    this.#r.verification = 'none';
    if (failure) this.failure(failure, reason);
    else this.note(reason);
    return this;
  }

  /** The session was kept from an earlier message (connection reuse), not opened for this one. */
  /** The TLS session was resumed (RFC 8446 §2.2): no certificate exchange in this handshake. */
  tlsResumed(): this {
    this.#r.tlsResumed = true;
    return this;
  }

  reusedSession(): this {
    this.#r.reusedSession = true;
    return this;
  }

  plaintextFallback(reason: string): this {
    this.#r.plaintextFallback = true;
    this.note(reason);
    return this;
  }

  /** One recipient's result in this session. */
  result(recipientId: number, status: ResultStatus, code: number | null, enhancedCode: string | null, reply: string | null): void {
    const existing = this.#r.results.findIndex((x) => x.recipientId === recipientId);
    const entry = { recipientId, status, code, enhancedCode, reply };
    if (existing >= 0) this.#r.results[existing] = entry;
    else this.#r.results.push(entry);
  }

  hasResult(recipientId: number): boolean {
    return this.#r.results.some((x) => x.recipientId === recipientId && x.status !== 'not-attempted');
  }

  /**
   * Closes the record. `err` is what ended the attempt (null: the session ran to its end); the
   * recipients in `unreached` get it as their result. Without an error, the record's stage,
   * code and reply are those of the last recipient result.
   */
  finish(err: DeliveryError | null, unreached: readonly number[], now: number, stage: Stage | null = null): AttemptRecord {
    if (this.#finished) return this.#finished;
    const r = this.#r;
    r.durationMs = now - r.startedAt;
    for (const id of unreached) {
      if (this.hasResult(id)) continue;
      if (err) this.result(id, err.permanent ? 'failed' : 'deferred', err.smtpCode ?? null, err.enhancedCode ?? null, replyOf(err));
      else this.result(id, 'not-attempted', null, null, null);
    }
    if (err) {
      r.stage = err.stage;
      r.code = err.smtpCode ?? null;
      r.enhancedCode = err.enhancedCode ?? null;
      r.reply = replyOf(err);
      r.errorCode = err.code;
      r.permanent = err.permanent;
    } else {
      const last = r.results.filter((x) => x.status !== 'not-attempted').at(-1);
      r.stage = stage ?? r.stage;
      r.code = last?.code ?? null;
      r.enhancedCode = last?.enhancedCode ?? null;
      r.reply = last?.reply ?? null;
      r.errorCode = null;
      r.permanent = false;
    }
    this.#finished = { ...r, transcript: [...r.transcript], results: [...r.results] };
    return this.#finished;
  }
}
