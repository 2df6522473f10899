/**
 * Direct delivery of one message to the recipients at one domain — the decision logic of
 * delivery-rules.md, in the order mox's outbound queue takes it:
 *
 *   1. policy:        MTA-STS for the recipient domain (RFC 8461; never for a CNAME target).
 *   2. destinations:  MX hosts in order, null MX / implicit MX / NXDOMAIN (RFC 5321 §5, 7505).
 *   3. per host:      MTA-STS match → addresses (A/AAAA) → DANE TLSA when the chain is
 *                     DNSSEC-authentic (RFC 7672 §2.2) → the host's TLS policy (host-policy.ts).
 *   4. per address:   at most one IPv4 and one IPv6, rotating across attempts (§1); SMTP session
 *                     with STARTTLS, verification, REQUIRETLS (host-attempt.ts).
 *   5. classify:      temporary → next host; permanent → stop (§7); REQUIRETLS refused by
 *                     every host → permanent 5.7.30 at once (§5).
 *
 * Every host tried leaves an AttemptRecord: the delivery log shows what happened and why.
 */
import type { DomainTlsHint } from '../../../shared/domain';
import type { Clock } from '../clock';
import { DeliveryError, toDeliveryError } from '../errors';
import type { Resolver, TlsaRecord } from '../dns/types';
import type { Dialer } from '../net/dialer';
import type { SmtpTimeouts } from '../smtp/client';
import { classifyTlsa, type TlsaClass } from '../tls-policy/dane';
import type { MtaStsFetcher } from '../tls-policy/mta-sts-fetch';
import type { PolicyCache } from '../tls-policy/mta-sts-cache';
import { resolveMtaSts, type MtaStsResult } from '../tls-policy/mta-sts';
import { policyAllowsMx } from '../tls-policy/mta-sts-policy';
import { gatherDestinations, pickAddresses, resolveHost, type Destinations, type HostAddresses } from './destinations';
import { attemptHost, type HostContext } from './host-attempt';
import { decideHostPolicy } from './host-policy';
import { blankAttempt, type AttemptDraft } from './record';
import type { AttemptRecord, DeliverFn, DeliveryJob, DeliveryOutcome, RecipientOutcome } from './types';

export interface EngineOptions {
  resolver: Resolver;
  dialer: Dialer;
  clock: Clock;
  mtaSts: { fetcher: MtaStsFetcher; cache: PolicyCache };
  /** Name we give in EHLO (RFC 5321 §4.1.1.1: the client's FQDN). */
  ehloName: string;
  /** 25 in production; tests point it elsewhere. */
  smtpPort?: number;
  /** Extra trusted roots (PEM) for PKIX checks; tests use their own CA. */
  extraCa?: string[];
  connectTimeoutMs?: number;
  timeouts?: Partial<SmtpTimeouts>;
  random?: () => number;
}

export function createDeliverer(opts: EngineOptions): DeliverFn {
  return (job) => deliverDomain(job, opts);
}

export async function deliverDomain(job: DeliveryJob, o: EngineOptions): Promise<DeliveryOutcome> {
  const attempts: AttemptRecord[] = [];
  const dialed = [...job.dialedIps];
  const pending = new Map(job.recipients.map((r) => [r.id, r]));
  const outcomes = new Map<number, RecipientOutcome>();
  let hint: DomainTlsHint | null = null;
  const tlsOptional = job.tlsMode === 'tls-optional';
  const startedAt = o.clock.now();

  const finishAll = (err: DeliveryError, record: AttemptDraft | null): DeliveryOutcome => {
    if (record) attempts.push(finalize(record, err, [...pending.values()].map((r) => r.id), o.clock.now()));
    for (const r of pending.values()) outcomes.set(r.id, outcomeFromError(r.id, err));
    return { recipients: [...outcomes.values()], attempts, dialedIps: dialed, hint };
  };

  // 1. MTA-STS (RFC 8461 §5): for the recipient domain as the user wrote it.
  let sts: MtaStsResult | null = null;
  // A policy-discovery problem that does not stop delivery; recorded on every attempt (§2, §6, §12).
  let stsProblem: { tlsrptFailure: string; message: string } | null = null;
  try {
    sts = await resolveMtaSts(job.domain, { resolver: o.resolver, ...o.mtaSts, clock: o.clock });
    if (sts.error) stsProblem = sts.error;
  } catch (e) {
    const err = toDeliveryError(e, 'policy');
    // RFC 8689 §5: with TLS-Required: No a lookup error is recorded, not fatal.
    stsProblem = { tlsrptFailure: 'sts-policy-fetch-error', message: err.message };
    if (!tlsOptional) {
      // A temporary DNS error with no cached policy: we cannot know whether TLS is required.
      return finishAll(new DeliveryError({ ...err.toFields(), permanent: false, smtpCode: err.smtpCode ?? 451, enhancedCode: err.enhancedCode ?? '4.4.3' }), {
        ...blankAttempt(job.domain, startedAt),
        stage: 'policy',
        tlsrptPolicy: 'sts',
        tlsrptFailure: 'sts-policy-fetch-error',
      });
    }
  }
  const stsMode = sts?.mode ?? null;

  // 2. Destinations (RFC 5321 §5.1).
  let dest: Destinations;
  try {
    dest = await gatherDestinations(job.domain, o.resolver, o.random);
  } catch (e) {
    return finishAll(toDeliveryError(e, 'dns'), { ...blankAttempt(job.domain, startedAt), stage: 'dns', mtaStsMode: stsMode });
  }

  // Hosts (not addresses: a dual-stack host is tried twice) refused for REQUIRETLS (rules §5).
  const requireTlsRefused = new Set<string>();
  let hostsTried = 0;
  let lastError: DeliveryError | null = null;

  // 3. Hosts in order until one accepts or a failure is permanent (rules §7).
  for (const target of dest.hosts) {
    if (pending.size === 0) break;
    hostsTried++;
    const hostStart = o.clock.now();
    const record: AttemptDraft = { ...blankAttempt(job.domain, hostStart), host: target.host, mtaStsMode: stsMode, tlsrptPolicy: (sts?.mode && sts.mode !== 'none') || stsProblem ? 'sts' : 'no-policy-found' };
    if (stsProblem) {
      // RFC 8460 §4.3.2.2: a failed policy discovery is an sts result even when we go on without it.
      record.verificationReason = stsProblem.message;
      record.tlsrptFailure = stsProblem.tlsrptFailure;
    }
    const stsMatches = sts?.policy ? policyAllowsMx(sts.policy, target.host) : false;

    let addrs: HostAddresses;
    try {
      addrs = await resolveHost(target.host, o.resolver);
    } catch (e) {
      lastError = toDeliveryError(e, 'dns', target.host);
      attempts.push(finalize({ ...record, stage: 'dns' }, lastError, [...pending.keys()], o.clock.now()));
      continue;
    }
    if (addrs.ipv4.length + addrs.ipv6.length === 0) {
      lastError = new DeliveryError({
        code: target.implicit ? 'NO_HOSTS' : 'DNS_TEMPORARY',
        stage: 'dns',
        permanent: target.implicit,
        smtpCode: target.implicit ? 550 : 451,
        enhancedCode: target.implicit ? '5.1.2' : '4.4.3',
        host: target.host,
        message: target.implicit ? `${job.domain} has no MX and no address: it receives no mail` : `MX host ${target.host} has no address`,
      });
      attempts.push(finalize({ ...record, stage: 'dns' }, lastError, [...pending.keys()], o.clock.now()));
      if (lastError.permanent) break;
      continue;
    }

    // DANE (RFC 7672 §2.2): only when the MX answer (and its CNAME expansion) and the
    // host's address answers are DNSSEC-authentic. An insecure chain means no DANE, never an error.
    let tlsa: TlsaRecord[] = [];
    let tlsaClass: TlsaClass = 'none';
    if (dest.authentic && addrs.authentic) {
      // RFC 7672 §2.2.2: TLSA at the CNAME-expanded host name when that expansion is secure.
      const base = addrs.expandedAuthentic ? addrs.expandedHost : target.host;
      try {
        const ans = await o.resolver.tlsa(`_25._tcp.${base}`);
        if (ans.authentic && ans.chainAuthentic) {
          tlsa = ans.records;
          tlsaClass = classifyTlsa(tlsa);
        }
      } catch (e) {
        const err = toDeliveryError(e, 'dns', target.host);
        if (err.code !== 'DNS_NXDOMAIN' && tlsOptional) {
          // RFC 8689 §5: recorded, and the host is used without DANE.
          record.tlsrptPolicy = 'tlsa';
          record.tlsrptFailure = 'dnssec-invalid';
          record.verificationReason = `TLSA lookup for ${target.host} failed: ${err.message}`;
        } else if (err.code !== 'DNS_NXDOMAIN') {
          // RFC 7672 §2.2: a TLSA lookup failure on a secure name — the host cannot be used now.
          lastError = new DeliveryError({ ...err.toFields(), permanent: false, smtpCode: 451, enhancedCode: '4.7.5', host: target.host, message: `TLSA lookup for ${target.host} failed: ${err.message}` });
          attempts.push(finalize({ ...record, stage: 'dns', tlsrptPolicy: 'tlsa', tlsrptFailure: 'dnssec-invalid', dane: true }, lastError, [...pending.keys()], o.clock.now()));
          continue;
        }
      }
    }
    if (tlsaClass !== 'none') record.tlsrptPolicy = 'tlsa';

    const policy = decideHostPolicy({ tlsMode: job.tlsMode, stsMode, stsMatches, tlsa: tlsaClass });
    if (policy.allowed && sts?.policy && (stsMode === 'enforce' || stsMode === 'testing') && !stsMatches) {
      // RFC 8461 §5 (testing) / RFC 8689 §5 (TLS-Required: No): the host is used anyway, but
      // the mismatch is a policy failure to record.
      record.tlsrptFailure = 'validation-failure';
      record.verificationReason = `host not listed in the domain's MTA-STS policy (mode ${stsMode}); used anyway`;
    }
    if (!policy.allowed) {
      const requireTls = policy.reason === 'requiretls-unqualified';
      if (requireTls) requireTlsRefused.add(target.host);
      lastError = new DeliveryError({
        code: requireTls ? 'REQUIRETLS_UNSUPPORTED' : 'POLICY_MISMATCH',
        stage: 'policy',
        permanent: false,
        smtpCode: requireTls ? 550 : 451,
        enhancedCode: requireTls ? '5.7.30' : '4.7.5',
        host: target.host,
        message: policy.message,
      });
      attempts.push(
        finalize(
          { ...record, stage: 'policy', requiretls: requireTls, tlsrptFailure: requireTls ? null : 'validation-failure', dane: tlsaClass === 'usable' },
          lastError,
          [...pending.keys()],
          o.clock.now(),
        ),
      );
      continue;
    }

    // 4. At most one IPv4 and one IPv6 address per attempt.
    const ctx: HostContext = {
      job,
      host: target.host,
      expandedHost: addrs.expandedAuthentic ? addrs.expandedHost : target.host,
      domain: job.domain,
      expandedDomain: dest.expandedAuthentic ? dest.expandedDomain : job.domain,
      dualStack: addrs.ipv4.length > 0 && addrs.ipv6.length > 0,
      firstAttempt: job.attemptNumber === 1,
      policy,
      tlsa,
      stsMode,
      record,
    };
    let hostDone = false;
    for (const ip of pickAddresses(addrs, dialed)) {
      dialed.push(ip);
      const result = await attemptHost(ctx, ip, [...pending.values()], o);
      attempts.push(result.record);
      if (result.hint) hint = result.hint;
      if (result.requireTlsRefused) requireTlsRefused.add(target.host);
      for (const out of result.outcomes) {
        if (out.status === 'delivered' || out.status === 'failed') {
          outcomes.set(out.recipientId, out);
          pending.delete(out.recipientId);
        } else {
          outcomes.set(out.recipientId, out);
        }
      }
      lastError = result.error;
      // A session that got as far as recipients' replies ends this attempt for them (§7).
      if (result.reachedRecipients || (result.error?.permanent ?? false)) {
        hostDone = true;
        break;
      }
    }
    if (hostDone && (lastError?.permanent || pending.size === 0 || [...pending.keys()].every((id) => outcomes.has(id)))) break;
  }

  // 5. What is left is deferred — or failed when the failure was permanent.
  if (pending.size > 0) {
    let err = lastError ?? new DeliveryError({ code: 'NO_HOSTS', stage: 'dns', permanent: false, smtpCode: 451, enhancedCode: '4.4.4', message: `no usable MX host for ${job.domain}` });
    if (job.tlsMode === 'requiretls' && hostsTried > 0 && requireTlsRefused.size === hostsTried) {
      // RFC 8689 §4.2.1 / rules §5: every host refused for REQUIRETLS → permanent at once.
      err = new DeliveryError({
        code: 'REQUIRETLS_UNSUPPORTED',
        stage: 'policy',
        permanent: true,
        smtpCode: 550,
        enhancedCode: '5.7.30',
        host: err.host,
        message: `REQUIRETLS: no MX host of ${job.domain} supports it (${err.message})`,
      });
    }
    for (const r of pending.values()) {
      const prev = outcomes.get(r.id);
      if (prev && prev.status !== 'deferred') continue;
      outcomes.set(r.id, prev && !err.permanent ? prev : outcomeFromError(r.id, err));
    }
  }
  return { recipients: [...outcomes.values()], attempts, dialedIps: dialed, hint };
}

export function outcomeFromError(recipientId: number, err: DeliveryError): RecipientOutcome {
  return {
    recipientId,
    status: err.permanent ? 'failed' : 'deferred',
    code: err.smtpCode ?? null,
    enhancedCode: err.enhancedCode ?? null,
    reply: err.lines?.length ? err.lines.join(' ') : err.message,
    host: err.host ?? null,
    errorCode: err.code,
  };
}

/** Closes an attempt record with the error that ended it, applied to the given recipients. */
export function finalize(r: AttemptDraft, err: DeliveryError | null, recipientIds: number[], now: number): AttemptRecord {
  return {
    ...r,
    durationMs: now - r.startedAt,
    stage: err?.stage ?? r.stage,
    code: err?.smtpCode ?? r.code,
    enhancedCode: err?.enhancedCode ?? r.enhancedCode,
    reply: err ? (err.lines?.length ? err.lines.join(' ') : err.message) : r.reply,
    errorCode: err?.code ?? r.errorCode,
    permanent: err?.permanent ?? false,
    results: r.results.length
      ? r.results
      : recipientIds.map((id) => ({
          recipientId: id,
          status: err ? (err.permanent ? 'failed' : 'deferred') : 'not-attempted',
          code: err?.smtpCode ?? null,
          enhancedCode: err?.enhancedCode ?? null,
          reply: err ? err.message : null,
        })),
  };
}
