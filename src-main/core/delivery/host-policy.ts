/**
 * What TLS a given MX host gets (delivery-rules §2–§6), decided before connecting, from facts
 * gathered by lookups: the message's TLS mode, the domain's MTA-STS policy, and the host's
 * DANE TLSA records. Pure, so every combination is a table test.
 *
 * The threat: an active attacker on the path strips STARTTLS or presents its own certificate.
 * Where a policy (MTA-STS enforce, DANE) or the sender (REQUIRETLS) demands TLS, this decision
 * makes any downgrade a failure instead of a plaintext delivery.
 */
import type { MtaStsMode, TlsaClass, TlsMode } from '../../../shared/domain';

export interface HostPolicyInput {
  tlsMode: TlsMode;
  /** MTA-STS mode of the recipient domain (null: no policy). */
  stsMode: MtaStsMode | null;
  /** Whether the host matches the policy's mx patterns (irrelevant without a policy). */
  stsMatches: boolean;
  /** Classification of the host's authentic TLSA records ('none' when DANE does not apply). */
  tlsa: TlsaClass;
}

/**
 * The verification a host's policy REQUIRES before connecting ('none': recorded only). What a
 * session actually ACHIEVED is shared/domain.ts AchievedVerification (dane-ee, dane-ta, ...).
 */
export type RequiredVerification = 'dane' | 'pkix' | 'none';

export type HostPolicy =
  | {
      allowed: true;
      /** STARTTLS must succeed; no plaintext fallback (rules §2, §3, §5). */
      tlsRequired: boolean;
      /** How the certificate must verify; 'none' = recorded only. */
      requiredVerification: RequiredVerification;
      /** A failed verification is recorded but does not stop delivery (TLS-Required: No, §6). */
      ignoreVerifyErrors: boolean;
      /** Send MAIL FROM with REQUIRETLS and require the extension (RFC 8689 §4.2). */
      requireTlsExtension: boolean;
      /** MTA-STS testing: failures are recorded for TLSRPT but don't stop delivery. */
      reportOnly: boolean;
    }
  | { allowed: false; reason: 'sts-mismatch' | 'requiretls-unqualified'; message: string };

export function decideHostPolicy(i: HostPolicyInput): HostPolicy {
  const tlsOptional = i.tlsMode === 'tls-optional';
  const enforce = i.stsMode === 'enforce';

  // RFC 8689 §5: TLS-Required: No — policies are consulted and failures recorded, but nothing
  // stops delivery and a failed handshake may fall back to plaintext.
  if (tlsOptional) {
    return {
      allowed: true,
      tlsRequired: false,
      requiredVerification: i.tlsa === 'usable' ? 'dane' : enforce && i.stsMatches ? 'pkix' : 'none',
      ignoreVerifyErrors: true,
      requireTlsExtension: false,
      reportOnly: true,
    };
  }
  // RFC 8461 §4.1/§5: enforce — deliver only to hosts matching the policy.
  if (enforce && !i.stsMatches) {
    return { allowed: false, reason: 'sts-mismatch', message: 'host not listed in the domain\'s MTA-STS policy (mode enforce)' };
  }
  // RFC 8689 §4.2.1: a host qualifies for REQUIRETLS only through DANE or an MTA-STS policy.
  if (i.tlsMode === 'requiretls' && i.tlsa !== 'usable' && !(enforce && i.stsMatches)) {
    return {
      allowed: false,
      reason: 'requiretls-unqualified',
      message: 'REQUIRETLS needs a host protected by DANE or an MTA-STS policy in enforce mode',
    };
  }
  // RFC 7672 §2.2: usable TLSA → DANE decides verification; all-unusable → TLS required, unverified.
  if (i.tlsa === 'usable') {
    return { allowed: true, tlsRequired: true, requiredVerification: 'dane', ignoreVerifyErrors: false, requireTlsExtension: i.tlsMode === 'requiretls', reportOnly: false };
  }
  if (i.tlsa === 'all-unusable') {
    const pkix = enforce && i.stsMatches;
    return { allowed: true, tlsRequired: true, requiredVerification: pkix ? 'pkix' : 'none', ignoreVerifyErrors: false, requireTlsExtension: i.tlsMode === 'requiretls', reportOnly: false };
  }
  if (enforce) {
    return { allowed: true, tlsRequired: true, requiredVerification: 'pkix', ignoreVerifyErrors: false, requireTlsExtension: i.tlsMode === 'requiretls', reportOnly: false };
  }
  // §4 opportunistic (and MTA-STS testing, which only reports).
  return { allowed: true, tlsRequired: false, requiredVerification: 'none', ignoreVerifyErrors: true, requireTlsExtension: false, reportOnly: i.stsMode === 'testing' };
}
