/**
 * Direct delivery of one message to the recipients at one domain — the decision logic of
 * delivery-rules.md, in the order mox's outbound queue takes it:
 *
 *   1. policy:        MTA-STS for the recipient domain (RFC 8461; never for a CNAME target).
 *   2. destinations:  MX hosts in order, null MX / implicit MX / NXDOMAIN (RFC 5321 §5, 7505);
 *                     at most MAX_HOSTS of them (rules §7 bounds).
 *   3. plan a host:   MTA-STS match → addresses (A/AAAA) → DANE TLSA (tlsa.ts, RFC 7672 §2.2)
 *                     → the host's TLS policy (host-policy.ts).
 *   4. addresses:     at most one IPv4 and one IPv6 per host, MAX_ADDRESSES in all, rotating
 *                     across attempts (§1); one SMTP session each (host-attempt.ts).
 *   5. conclude:      temporary → next host; permanent → stop (§7); REQUIRETLS refused by
 *                     every host → permanent 5.7.30 at once (§5).
 *
 * The whole attempt runs within a wall-clock budget (rules §7: a slow or silent domain costs
 * its own time); the per-stage RFC 5321 timeouts still apply inside it. Every host tried
 * leaves an AttemptRecord written by the recorder (record.ts).
 */
import type { DomainTlsHint } from '../../../shared/domain';
import { DeliveryError, toDeliveryError } from '../errors';
import type { Dialer } from '../net/dialer';
import {
  C451LocalErr,
  C550MailboxUnavail,
  SeAddr1BadDestSystem2,
  SeNet4DeliveryTimeExpired7,
  SeNet4DirServerFailure3,
  SeNet4UnableToRoute4,
  SePol7RequireTLS30,
  SeSec7CryptoFailure5,
} from '../smtp/codes';
import { resolveMtaSts, type MtaStsResult } from '../tls-policy/mta-sts';
import { policyAllowsMx } from '../tls-policy/mta-sts-policy';
import type { HostFacts } from './classify';
import { gatherDestinations, pickAddresses, resolveHost, type Destination, type Destinations } from './destinations';
import { attemptHost, outcomeOf, type HostPlan } from './host-attempt';
import { decideHostPolicy } from './host-policy';
import { AttemptRecorder, stsPolicyDetails, tlsaPolicyDetails } from './record';
import { gatherTlsa } from './tlsa';
import type { AttemptRecord, DeliverFn, DeliveryJob, DeliveryOutcome, EngineOptions, RecipientOutcome } from './types';

export type { EngineOptions };

/** Rules §7: at most this many MX hosts per attempt (a domain with 1,300 MX records gets 10). */
export const MAX_HOSTS = 10;
/** Rules §7: at most this many addresses dialed per attempt. */
export const MAX_ADDRESSES = 20;
/** Default wall-clock budget of one attempt to a domain (all hosts, all stages). */
export const DEFAULT_DOMAIN_BUDGET_MS = 15 * 60_000;

export function createDeliverer(opts: EngineOptions): DeliverFn {
  return (job) => deliverDomain(job, opts);
}

export async function deliverDomain(job: DeliveryJob, o: EngineOptions): Promise<DeliveryOutcome> {
  const run = new DomainRun(job, o);
  try {
    const sts = await discoverPolicy(run);
    if (sts instanceof DeliveryError) return run.endAll(sts, run.recorder().failure('sts-policy-fetch-error', sts.message).policy('sts'));
    const dest = await findDestinations(run, sts);
    if (dest instanceof DeliveryError) return run.endAll(dest, run.recorder(sts.result).dnsFailure(dest, 'MX lookup'));
    for (const target of dest.hosts.slice(0, MAX_HOSTS)) {
      if (run.finished || run.outOfTime) break;
      const plan = await planHost(run, target, dest, sts);
      if (plan && (await tryAddresses(run, plan))) break;
    }
    return run.conclude();
  } finally {
    run.dispose();
  }
}

// ---- 1. policy ---------------------------------------------------------------------------------

interface Sts {
  result: MtaStsResult | null;
  /** A discovery problem that does not stop delivery; recorded on every attempt (§2, §6, §12). */
  problem: { tlsrptFailure: NonNullable<MtaStsResult['error']>['tlsrptFailure']; message: string } | null;
}

/** MTA-STS for the recipient domain as the user wrote it (RFC 8461 §5). */
async function discoverPolicy(run: DomainRun): Promise<Sts | DeliveryError> {
  const { job, o } = run;
  try {
    const result = await resolveMtaSts(job.domain, { resolver: o.resolver, ...o.mtaSts, clock: o.clock });
    return { result, problem: result.error ?? null };
  } catch (e) {
    const err = toDeliveryError(e, 'policy');
    // RFC 8689 §5: with TLS-Required: No a lookup error is recorded, not fatal.
    if (job.tlsMode === 'tls-optional') return { result: null, problem: { tlsrptFailure: 'sts-policy-fetch-error', message: err.message } };
    // A temporary DNS error with no cached policy: we cannot know whether TLS is required.
    return new DeliveryError({ ...err.toFields(), permanent: false, smtpCode: err.smtpCode ?? C451LocalErr, enhancedCode: err.enhancedCode ?? SeNet4DirServerFailure3 });
  }
}

// ---- 2. destinations ---------------------------------------------------------------------------

async function findDestinations(run: DomainRun, _sts: Sts): Promise<Destinations | DeliveryError> {
  try {
    return await gatherDestinations(run.job.domain, run.o.resolver, run.o.random);
  } catch (e) {
    return toDeliveryError(e, 'dns');
  }
}

// ---- 3. plan a host ----------------------------------------------------------------------------

/** Addresses, TLSA and the TLS policy of one host; null when the host cannot be used now. */
async function planHost(run: DomainRun, target: Destination, dest: Destinations, sts: Sts): Promise<HostPlan | null> {
  const { job, o } = run;
  const rec = run.recorder(sts.result, target.host);
  if (sts.problem) {
    // RFC 8460 §4.3.2.2: a failed policy discovery is an sts result even when we go on without it.
    rec.policy('sts').failure(sts.problem.tlsrptFailure, sts.problem.message);
  }
  const stsMode = sts.result?.mode ?? null;
  const stsPolicy = sts.result?.policy;
  const stsMatches = stsPolicy ? policyAllowsMx(stsPolicy, target.host) : false;

  let addrs;
  try {
    addrs = await resolveHost(target.host, o.resolver);
  } catch (e) {
    const err = toDeliveryError(e, 'dns', target.host);
    run.hostFailed(rec.dnsFailure(err, `address lookup for ${target.host}`), err);
    return null;
  }
  if (addrs.ipv4.length + addrs.ipv6.length === 0) {
    const err = new DeliveryError({
      code: target.implicit ? 'NO_HOSTS' : 'DNS_TEMPORARY',
      stage: 'dns',
      permanent: target.implicit,
      smtpCode: target.implicit ? C550MailboxUnavail : C451LocalErr,
      enhancedCode: target.implicit ? SeAddr1BadDestSystem2 : SeNet4DirServerFailure3,
      host: target.host,
      message: target.implicit ? `${job.domain} has no MX and no address: it receives no mail` : `MX host ${target.host} has no address`,
    });
    run.hostFailed(rec, err);
    return null;
  }

  const tlsa = await gatherTlsa({ host: target.host, addrs, dest, domain: job.domain }, o.resolver);
  if (tlsa.kind === 'error') {
    const err = tlsa.error;
    const reason = `TLSA lookup for ${tlsa.name} failed: ${err.message}`;
    // A failed TLSA lookup on a secure name: no valid records from the resolver (RFC 8460 §4.3.2.1).
    rec.policy('tlsa').failure('dnssec-invalid', reason);
    if (job.tlsMode !== 'tls-optional') {
      // RFC 7672 §2.2: the host cannot be used now.
      rec.daneApplies();
      run.hostFailed(rec, new DeliveryError({ ...err.toFields(), stage: 'dns', permanent: false, smtpCode: C451LocalErr, enhancedCode: SeSec7CryptoFailure5, host: target.host, message: reason }));
      return null;
    }
    // RFC 8689 §5: recorded, and the host is used without DANE.
  }
  const tlsaClass = tlsa.kind === 'records' ? tlsa.tlsaClass : 'none';
  if (tlsaClass !== 'none' && tlsa.kind === 'records') rec.policy('tlsa', tlsaPolicyDetails(tlsa.records));

  const policy = decideHostPolicy({ tlsMode: job.tlsMode, stsMode, stsMatches, tlsa: tlsaClass });
  if (!policy.allowed) {
    const requireTls = policy.reason === 'requiretls-unqualified';
    if (requireTls) {
      run.requireTlsRefused.add(target.host);
      rec.requireTls();
    } else {
      rec.failure('validation-failure', policy.message);
    }
    if (tlsaClass === 'usable') rec.daneApplies();
    run.hostFailed(
      rec,
      new DeliveryError({
        code: requireTls ? 'REQUIRETLS_UNSUPPORTED' : 'POLICY_MISMATCH',
        stage: 'policy',
        permanent: false,
        smtpCode: requireTls ? C550MailboxUnavail : C451LocalErr,
        enhancedCode: requireTls ? SePol7RequireTLS30 : SeSec7CryptoFailure5,
        host: target.host,
        message: policy.message,
      }),
    );
    return null;
  }
  if (stsPolicy && (stsMode === 'enforce' || stsMode === 'testing') && !stsMatches) {
    // RFC 8461 §5 (testing) / RFC 8689 §5 (TLS-Required: No): the host is used anyway, but
    // the mismatch is a policy failure to record.
    rec.failure('validation-failure', `host not listed in the domain's MTA-STS policy (mode ${stsMode}); used anyway`);
  }
  return {
    job,
    facts: { host: target.host, dualStack: addrs.ipv4.length > 0 && addrs.ipv6.length > 0, firstAttempt: job.attemptNumber === 1 },
    policy,
    tlsa: tlsa.kind === 'records' ? tlsa.records : [],
    daneNames: tlsa.allowedNames,
    stsMode,
    recorder: rec,
    dialer: run.dialer,
    signal: run.signal,
    addresses: pickAddresses(addrs, run.dialed),
  };
}

// ---- 4. addresses ------------------------------------------------------------------------------

/** One session per address of the host; true when nothing is left to try for this attempt. */
async function tryAddresses(run: DomainRun, plan: HostPlan): Promise<boolean> {
  for (const ip of plan.addresses) {
    if (run.outOfTime || run.addressesTried >= MAX_ADDRESSES) return true;
    run.addressesTried++;
    run.dialed.push(ip);
    let rcpts = run.pendingRecipients();
    let result = await attemptHost(plan, ip, rcpts, run.o);
    run.sessionDone(result.record, result.outcomes, result.hint, result.requireTlsRefused ? plan.facts.host : null, result.error);
    // A session at its transaction limit: the recipients it did not carry go on a new session
    // to the same address (each carries at least one transaction, so this ends).
    while (result.limitReached && !run.outOfTime) {
      const done = new Set(result.outcomes.map((x) => x.recipientId));
      rcpts = rcpts.filter((r) => !done.has(r.id));
      if (rcpts.length === 0) break;
      result = await attemptHost(plan, ip, rcpts, run.o);
      run.sessionDone(result.record, result.outcomes, result.hint, result.requireTlsRefused ? plan.facts.host : null, result.error);
      result = { ...result, reachedRecipients: true };
    }
    // A session that got as far as recipients' replies ends this attempt for them (§7).
    if (result.reachedRecipients || (result.error?.permanent ?? false)) {
      return (result.error?.permanent ?? false) || run.finished || run.allAnswered;
    }
  }
  return false;
}

// ---- the state of one domain attempt, and 5. conclude ------------------------------------------

class DomainRun {
  readonly attempts: AttemptRecord[] = [];
  readonly dialed: string[];
  readonly pending: Map<number, { id: number; envelope: string }>;
  readonly outcomes = new Map<number, RecipientOutcome>();
  /** Hosts (not addresses: a dual-stack host is tried twice) refused for REQUIRETLS (rules §5). */
  readonly requireTlsRefused = new Set<string>();
  readonly dialer: Dialer;
  readonly signal: AbortSignal;
  addressesTried = 0;
  hostsTried = 0;
  hint: DomainTlsHint | null = null;
  lastError: DeliveryError | null = null;
  readonly #budget: AbortController;
  readonly #timer: { cancel(): void };
  readonly #startedAt: number;
  readonly #onJobAbort: () => void;

  constructor(
    readonly job: DeliveryJob,
    readonly o: EngineOptions,
  ) {
    this.dialed = [...job.dialedIps];
    this.pending = new Map(job.recipients.map((r) => [r.id, r]));
    this.#startedAt = o.clock.now();
    // The transport seam (rules §13): the dialer is chosen per attempt.
    this.dialer = o.dialerFor?.(job) ?? o.dialer;
    this.#budget = new AbortController();
    const budgetMs = o.domainBudgetMs ?? DEFAULT_DOMAIN_BUDGET_MS;
    this.#timer = o.clock.setTimer(budgetMs, () =>
      this.#budget.abort(
        new DeliveryError({ code: 'TIMEOUT', stage: 'connect', permanent: false, smtpCode: C451LocalErr, enhancedCode: SeNet4DeliveryTimeExpired7, message: `attempt to ${job.domain} took longer than its ${Math.round(budgetMs / 1000)} s budget` }),
      ),
    );
    this.#onJobAbort = () => this.#budget.abort(new DeliveryError({ code: 'CANCELED', stage: 'connect', permanent: false, message: 'delivery canceled' }));
    if (job.signal?.aborted) this.#onJobAbort();
    job.signal?.addEventListener('abort', this.#onJobAbort, { once: true });
    this.signal = this.#budget.signal;
  }

  dispose(): void {
    this.#timer.cancel();
    this.job.signal?.removeEventListener('abort', this.#onJobAbort);
  }

  get outOfTime(): boolean {
    return this.signal.aborted;
  }

  get finished(): boolean {
    return this.pending.size === 0;
  }

  get allAnswered(): boolean {
    return [...this.pending.keys()].every((id) => this.outcomes.has(id));
  }

  pendingRecipients(): { id: number; envelope: string }[] {
    return [...this.pending.values()];
  }

  /** A recorder for a host (or for the domain, before any host), with the policy facts known. */
  recorder(sts: MtaStsResult | null = null, host: string | null = null): AttemptRecorder {
    const rec = AttemptRecorder.start(this.job.domain, host ? this.o.clock.now() : this.#startedAt);
    rec.host(host, sts?.mode ?? null);
    const applies = !!sts?.mode && sts.mode !== 'none';
    rec.policy(applies ? 'sts' : 'no-policy-found', applies && sts?.policyText ? stsPolicyDetails(sts.policyText, sts.policy?.mx) : undefined);
    return rec;
  }

  /** A host that could not be used (DNS, TLSA, policy): its record, and on to the next. */
  hostFailed(rec: AttemptRecorder, err: DeliveryError): void {
    this.hostsTried++;
    this.lastError = err;
    this.attempts.push(rec.finish(err, [...this.pending.keys()], this.o.clock.now()));
  }

  sessionDone(record: AttemptRecord, outcomes: RecipientOutcome[], hint: DomainTlsHint | null, requireTlsHost: string | null, err: DeliveryError | null): void {
    if (!this.#countedHost.has(record.host ?? '')) {
      this.#countedHost.add(record.host ?? '');
      this.hostsTried++;
    }
    this.attempts.push(record);
    if (hint) this.hint = hint;
    if (requireTlsHost) this.requireTlsRefused.add(requireTlsHost);
    for (const out of outcomes) {
      this.outcomes.set(out.recipientId, out);
      if (out.status === 'delivered' || out.status === 'failed') this.pending.delete(out.recipientId);
    }
    this.lastError = err;
  }
  readonly #countedHost = new Set<string>();

  /** Ends the attempt before any host was tried (policy or MX lookup failed). */
  endAll(err: DeliveryError, rec: AttemptRecorder): DeliveryOutcome {
    this.attempts.push(rec.finish(err, [...this.pending.keys()], this.o.clock.now()));
    for (const r of this.pending.values()) this.outcomes.set(r.id, outcomeOf(r.id, err, null));
    return this.#outcome();
  }

  /** What is left is deferred — or failed when the failure was permanent. */
  conclude(): DeliveryOutcome {
    if (this.pending.size === 0) return this.#outcome();
    let err =
      this.lastError ??
      new DeliveryError({ code: 'NO_HOSTS', stage: 'dns', permanent: false, smtpCode: C451LocalErr, enhancedCode: SeNet4UnableToRoute4, message: `no usable MX host for ${this.job.domain}` });
    if (this.outOfTime && this.signal.reason instanceof DeliveryError) err = this.signal.reason;
    if (this.job.tlsMode === 'requiretls' && this.hostsTried > 0 && this.requireTlsRefused.size === this.hostsTried) {
      // RFC 8689 §4.2.1 / rules §5: every host refused for REQUIRETLS → permanent at once.
      err = new DeliveryError({
        code: 'REQUIRETLS_UNSUPPORTED',
        stage: 'policy',
        permanent: true,
        smtpCode: C550MailboxUnavail,
        enhancedCode: SePol7RequireTLS30,
        host: err.host,
        message: `REQUIRETLS: no MX host of ${this.job.domain} supports it (${err.message})`,
      });
    }
    for (const r of this.pending.values()) {
      const prev = this.outcomes.get(r.id);
      if (prev && prev.status !== 'deferred') continue;
      this.outcomes.set(r.id, prev && !err.permanent ? prev : outcomeOf(r.id, err, null));
    }
    return this.#outcome();
  }

  #outcome(): DeliveryOutcome {
    return { recipients: [...this.outcomes.values()], attempts: this.attempts, dialedIps: this.dialed, hint: this.hint };
  }
}
