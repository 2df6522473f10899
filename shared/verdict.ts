/**
 * The one security verdict per recipient, in plain language — decided here and nowhere else, so
 * the composer's chips, the confirmation before sending, the outbox, the message detail and the
 * exported log all say the same thing in the same words.
 *
 * Before sending (recipientVerdict): from the pre-send probe of every MX host (delivery-rules
 * §11), each host judged by the engine's own per-host decision (decideHostPolicy: rules §2–§6,
 * RFC 8461 §4.1/§5, RFC 7672 §2.2, RFC 8689 §4.2/§5) applied to what that host offered —
 * STARTTLS, REQUIRETLS, its certificate against DANE or PKIX. The stored hint stands in only
 * while no probe has answered, and says so. After sending (deliveredVerdict, failedVerdict):
 * from the attempt that delivered, or the error that ended delivery.
 *
 * The threat: a label that over-promises. A DANE record that does not match its server must
 * never read as "verified" (the engine will refuse that host), an opportunistic STARTTLS must
 * never read as "verified" even when the certificate happens to be valid (nothing would stop an
 * attacker presenting another), and a host without STARTTLS must read as "unencrypted".
 */
import { decideHostPolicy } from '../src-main/core/delivery/host-policy';
import type { AchievedVerification as Verification, Attempt, DomainTlsHint, MtaStsMode, ProbeHost, ProbeResult, TlsMode } from './domain';

/** Ordered from worst to best; a domain is as weak as the weakest host that may get the mail. */
export type VerdictKind = 'undeliverable' | 'unencrypted' | 'unverified' | 'mta-sts' | 'dane' | 'checking' | 'unknown';

export interface HostFinding {
  host: string;
  ip: string | null;
  kind: VerdictKind;
  /** What was found on this host, one fact per entry ("STARTTLS offered", "DANE record matches"). */
  facts: string[];
  /** What will happen with this host, in a sentence. */
  outcome: string;
}

export interface Verdict {
  kind: VerdictKind;
  /** The full plain-language verdict ("Encrypted and verified (DANE)"). */
  label: string;
  /** One short word for a chip; the icon and this word carry the meaning, colour only helps. */
  short: string;
  /** For undeliverable: why ("the server's certificate does not match its DANE record"). */
  reason: string | null;
  hosts: HostFinding[];
  /** Where the verdict comes from: a live probe, the hint of an earlier delivery, an attempt. */
  basis: 'probe' | 'hint' | 'attempt' | null;
  at: number | null;
}

const RANK: Record<VerdictKind, number> = { undeliverable: 0, unencrypted: 1, unverified: 2, 'mta-sts': 3, dane: 4, checking: -1, unknown: -1 };

export const SHORT: Record<VerdictKind, string> = {
  dane: 'Verified',
  'mta-sts': 'Verified',
  unverified: 'Not verified',
  unencrypted: 'Unencrypted',
  undeliverable: 'Won’t deliver',
  checking: 'Checking',
  unknown: 'Unknown',
};

export const LABEL = {
  dane: 'Encrypted and verified (DANE)',
  'mta-sts': 'Encrypted and verified (MTA-STS)',
  unverified: 'Encrypted, not verified',
  unencrypted: 'Will be sent unencrypted',
  sentUnencrypted: 'Sent unencrypted',
  undeliverable: (reason: string) => `Will not be delivered: ${reason}`,
  notDelivered: (reason: string) => `Not delivered: ${reason}`,
  checking: 'Checking the recipient’s mail servers…',
} as const;

/** Why a domain or host cannot receive this message; the words after "Will not be delivered:". */
export const REASON = {
  daneMismatch: 'the server’s certificate does not match its DANE record',
  stsCertInvalid: 'the server’s certificate is not valid, and the domain’s MTA-STS policy requires a valid one',
  tlsRequiredNoStarttls: 'the domain requires encryption (DANE or MTA-STS) and its server does not offer it',
  stsMismatch: 'the domain’s MTA-STS policy does not list its mail server',
  requireTlsUnqualified: 'REQUIRETLS is impossible — the server is not protected by DANE or an MTA-STS policy',
  requireTlsUnsupported: 'REQUIRETLS is impossible — the server does not support REQUIRETLS',
  nullMx: 'the domain does not accept mail (null MX)',
  nxdomain: 'the domain does not exist',
  noHosts: 'the domain has no mail server',
  dnsBogus: 'the domain’s DNS answers failed DNSSEC validation',
} as const;

const DOMAIN_ERROR_REASON: Record<string, string> = {
  NULL_MX: REASON.nullMx,
  DNS_NXDOMAIN: REASON.nxdomain,
  NO_HOSTS: REASON.noHosts,
  DNS_BOGUS: REASON.dnsBogus,
};

function verdict(kind: VerdictKind, rest: Partial<Verdict> & Pick<Verdict, 'basis' | 'at'>): Verdict {
  const reason = rest.reason ?? null;
  const label =
    rest.label ??
    (kind === 'undeliverable'
      ? LABEL.undeliverable(reason ?? 'the recipient’s servers cannot receive it')
      : kind === 'checking'
        ? LABEL.checking
        : kind === 'unknown'
          ? 'Not checked yet'
          : LABEL[kind]);
  return { kind, label, short: SHORT[kind], reason, hosts: rest.hosts ?? [], basis: rest.basis, at: rest.at };
}

const isVerified = (v: Verification | null): boolean => v === 'dane-ee' || v === 'dane-ta' || v === 'pkix';

/** One probed host under the message's TLS mode: what the engine will do there. */
export function hostFinding(h: ProbeHost, tlsMode: TlsMode, stsMode: MtaStsMode | null): HostFinding {
  const facts: string[] = [];
  const base = { host: h.host, ip: h.ip };
  if (h.tlsa === 'usable') facts.push('DANE: DNSSEC-signed TLSA record');
  else if (h.tlsa === 'all-unusable') facts.push('DANE: TLSA records, none usable for SMTP');
  if (h.mtaStsMatch !== null) facts.push(h.mtaStsMatch ? `listed in the MTA-STS policy (${stsMode})` : `not listed in the MTA-STS policy (${stsMode})`);
  if (h.error) return { ...base, kind: 'unknown', facts, outcome: `Not reached: ${h.error}` };
  facts.push(h.starttls ? `STARTTLS offered${h.tlsVersion ? ` (${h.tlsVersion})` : ''}` : 'no STARTTLS');
  if (h.starttls) {
    facts.push(h.requiretls ? 'REQUIRETLS announced' : 'no REQUIRETLS');
    if (h.verification === 'dane-ee' || h.verification === 'dane-ta') facts.push(`certificate matches the DANE record (${h.verification === 'dane-ee' ? 'DANE-EE' : 'DANE-TA'})`);
    else if (h.verification === 'pkix') facts.push('certificate valid (PKIX)');
    else if (h.verification === 'none') facts.push(`certificate not verified${h.verificationReason ? `: ${h.verificationReason}` : ''}`);
  }

  const policy = decideHostPolicy({ tlsMode, stsMode, stsMatches: h.mtaStsMatch === true, tlsa: h.tlsa });
  const doomed = (reason: string): HostFinding => ({ ...base, kind: 'undeliverable', facts, outcome: `Will not be delivered to this server: ${reason}` });
  if (!policy.allowed) return doomed(policy.reason === 'sts-mismatch' ? REASON.stsMismatch : REASON.requireTlsUnqualified);
  if (!h.starttls) {
    if (policy.tlsRequired) return doomed(REASON.tlsRequiredNoStarttls);
    return { ...base, kind: 'unencrypted', facts, outcome: 'Will be sent unencrypted: the server does not offer STARTTLS' };
  }
  if (policy.requireTlsExtension && !h.requiretls) return doomed(REASON.requireTlsUnsupported);
  // TLS-Required: No (rules §6) and opportunistic TLS verify nothing that could stop delivery.
  const enforced = !policy.ignoreVerifyErrors;
  if (policy.requiredVerification === 'dane') {
    const ok = h.verification === 'dane-ee' || h.verification === 'dane-ta';
    if (!ok && enforced) return doomed(REASON.daneMismatch);
    if (ok && enforced) return { ...base, kind: 'dane', facts, outcome: LABEL.dane };
  } else if (policy.requiredVerification === 'pkix') {
    const ok = h.verification === 'pkix';
    if (!ok && enforced) return doomed(REASON.stsCertInvalid);
    if (ok && enforced) return { ...base, kind: 'mta-sts', facts, outcome: LABEL['mta-sts'] };
  }
  return {
    ...base,
    kind: 'unverified',
    facts,
    outcome: isVerified(h.verification)
      ? 'Encrypted, not verified: the certificate is valid, but no policy requires it, so an attacker could present another'
      : 'Encrypted, not verified: anyone on the way could present their own certificate',
  };
}

export type ProbeInput =
  | { status: 'pending' }
  | { status: 'done'; result: ProbeResult }
  | { status: 'error'; message: string }
  | undefined;

/** The verdict for one recipient domain before sending. */
export function recipientVerdict(input: { tlsMode: TlsMode; probe: ProbeInput; hint: DomainTlsHint | undefined }): Verdict {
  const { tlsMode, probe, hint } = input;
  if (probe?.status === 'done') {
    const r = probe.result;
    if (r.error) {
      const reason = r.errorCode ? DOMAIN_ERROR_REASON[r.errorCode] : undefined;
      if (r.errorPermanent && reason) return verdict('undeliverable', { reason, basis: 'probe', at: r.at });
      return fromHint(hint, tlsMode) ?? verdict('unknown', { label: `Could not check: ${r.error}`, basis: 'probe', at: r.at });
    }
    const hosts = r.hosts.map((h) => hostFinding(h, tlsMode, r.mtaStsMode));
    const reached = hosts.filter((h) => h.kind !== 'unknown');
    if (reached.length === 0) {
      const fallback = fromHint(hint, tlsMode);
      if (fallback) return { ...fallback, hosts };
      return verdict('unknown', { label: 'Could not check: no mail server answered', hosts, basis: 'probe', at: r.at });
    }
    const usable = reached.filter((h) => h.kind !== 'undeliverable');
    // The engine moves on to the next host when one fails (rules §7): the mail is lost only
    // when every host refuses it, and it may reach the weakest host that accepts it.
    if (usable.length === 0) {
      const first = reached[0]!;
      const reason = first.outcome.replace(/^Will not be delivered to this server: /, '');
      return verdict('undeliverable', { reason, hosts, basis: 'probe', at: r.at });
    }
    const weakest = usable.reduce((a, b) => (RANK[b.kind] < RANK[a.kind] ? b : a));
    return verdict(weakest.kind, { hosts, basis: 'probe', at: r.at });
  }
  const fallback = fromHint(hint, tlsMode);
  if (fallback) return fallback;
  if (probe?.status === 'pending' || probe === undefined) return verdict('checking', { basis: null, at: null });
  return verdict('unknown', { label: `Could not check: ${probe.message}`, basis: null, at: null });
}

/**
 * From the hint an earlier session left (rules §11) — one host's view, no certificate facts.
 * Where a policy applies, the engine delivers verified or not at all, so "verified" is what a
 * delivery would be; the live probe is what catches a certificate that does not match.
 */
function fromHint(hint: DomainTlsHint | undefined, tlsMode: TlsMode): Verdict | null {
  if (!hint) return null;
  const base = { basis: 'hint' as const, at: hint.seenAt };
  const policyKind: VerdictKind | null = tlsMode === 'tls-optional' ? null : hint.dane ? 'dane' : hint.mtaStsMode === 'enforce' ? 'mta-sts' : null;
  if (tlsMode === 'requiretls') {
    if (!policyKind) return verdict('undeliverable', { ...base, reason: REASON.requireTlsUnqualified });
    if (!hint.requiretls) return verdict('undeliverable', { ...base, reason: REASON.requireTlsUnsupported });
  }
  if (!hint.starttls) return policyKind ? verdict('undeliverable', { ...base, reason: REASON.tlsRequiredNoStarttls }) : verdict('unencrypted', base);
  return verdict(policyKind ?? 'unverified', base);
}

/** The TLS facts of the attempt that delivered a recipient. */
export type DeliveredTls = Pick<Attempt, 'starttls' | 'verification' | 'mtaStsMode' | 'plaintextFallback'> & { startedAt: number };

/** After delivery: how the message travelled to the recipient's server. */
export function deliveredVerdict(a: DeliveredTls): Verdict {
  const base = { basis: 'attempt' as const, at: a.startedAt };
  if (!a.starttls || a.plaintextFallback) return verdict('unencrypted', { ...base, label: LABEL.sentUnencrypted });
  if (a.verification === 'dane-ee' || a.verification === 'dane-ta') return verdict('dane', base);
  // PKIX counts as verified only where an MTA-STS enforce policy required it (rules §2).
  if (a.verification === 'pkix' && a.mtaStsMode === 'enforce') return verdict('mta-sts', base);
  return verdict('unverified', base);
}

/** The error codes of a final failure whose cause is the transport security, with its reason. */
const FAILURE_REASON: Record<string, (f: { dane: boolean }) => string> = {
  CERT_INVALID: (f) => (f.dane ? REASON.daneMismatch : REASON.stsCertInvalid),
  TLS_REQUIRED: () => REASON.tlsRequiredNoStarttls,
  POLICY_MISMATCH: () => REASON.stsMismatch,
  REQUIRETLS_UNSUPPORTED: () => REASON.requireTlsUnsupported,
  NULL_MX: () => REASON.nullMx,
  DNS_NXDOMAIN: () => REASON.nxdomain,
  NO_HOSTS: () => REASON.noHosts,
};

/** After a final failure: "Not delivered: …" in the same words as before sending. */
export function failedVerdict(f: { errorCode: string | null; enhancedCode: string | null; dane: boolean; at: number | null }): Verdict {
  const reason = (f.errorCode && FAILURE_REASON[f.errorCode]?.(f)) || (f.enhancedCode === '5.7.30' ? REASON.requireTlsUnsupported : null) || 'the recipient’s server refused it';
  return verdict('undeliverable', { label: LABEL.notDelivered(reason), reason, basis: 'attempt', at: f.at });
}

/** The TLS facts of one recipient's deciding attempt: the one that delivered, else the latest. */
export interface RecipientTls extends DeliveredTls {
  recipientId: number;
  status: 'delivered' | 'deferred' | 'failed' | 'not-attempted';
  dane: boolean;
}

/** Picks each recipient's deciding attempt from its attempt results (any order). */
export function pickRecipientTls(rows: readonly RecipientTls[]): RecipientTls[] {
  const by = new Map<number, RecipientTls>();
  for (const r of rows) {
    const cur = by.get(r.recipientId);
    const better = !cur || (cur.status !== 'delivered' && (r.status === 'delivered' || r.startedAt >= cur.startedAt));
    if (better) by.set(r.recipientId, r);
  }
  return [...by.values()].sort((a, b) => a.recipientId - b.recipientId);
}

/** The outbox's verdict for a recipient: how it was delivered, or why it never will be; null while pending. */
export function outcomeVerdict(
  r: { id: number; state: string; lastErrorCode: string | null; lastEnhanced: string | null; lastAttemptAt: number | null },
  tls: readonly RecipientTls[],
): Verdict | null {
  const t = tls.find((x) => x.recipientId === r.id);
  if (r.state === 'delivered') return t && t.status === 'delivered' ? deliveredVerdict(t) : null;
  if (r.state === 'failed') return failedVerdict({ errorCode: r.lastErrorCode, enhancedCode: r.lastEnhanced, dane: t?.dane ?? false, at: r.lastAttemptAt });
  return null;
}
