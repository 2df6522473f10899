/**
 * The three ways a DNS lookup fails, as DeliveryErrors (errors.ts). What the queue does with
 * them follows delivery-rules.md §1: NXDOMAIN is permanent (RFC 5321 §5.1, enhanced code
 * 5.1.2 per RFC 3463 §3.2 "bad destination system address"), everything else — SERVFAIL,
 * timeouts, network errors, malformed or hostile answers — is temporary: a broken or spoofed
 * answer today says nothing about tomorrow's.
 */
import { DeliveryError } from '../errors';

export function dnsTemporary(message: string, lines?: string[], cause?: unknown): DeliveryError {
  return new DeliveryError({
    code: 'DNS_TEMPORARY',
    message,
    stage: 'dns',
    permanent: false,
    enhancedCode: '4.4.3', // RFC 3463 §3.5: directory server failure
    lines: lines?.length ? lines : undefined,
    cause,
  });
}

/**
 * A server's answer with an rcode that ends nothing (SERVFAIL, REFUSED, …): temporary, like
 * any other lookup failure, but the rcode is kept — the readiness check tells a validating
 * resolver's SERVFAIL on a bogus signature (RFC 4035 §5.5) apart from a timeout. A SERVFAIL
 * whose EDE says DNSSEC validation failed (isDnssecFailure) carries code DNS_BOGUS.
 */
export class DnsRcodeError extends DeliveryError {
  constructor(
    readonly rcode: string,
    message: string,
    lines?: string[],
    code: 'DNS_TEMPORARY' | 'DNS_BOGUS' = 'DNS_TEMPORARY',
  ) {
    super({ code, message, stage: 'dns', permanent: false, enhancedCode: '4.4.3', lines: lines?.length ? lines : undefined });
  }
}

/** A malformed answer, or one the validating resolver found DNSSEC-bogus (RFC 8460 dnssec-invalid). */
export function dnsBogus(message: string, cause?: unknown, lines?: string[]): DeliveryError {
  return new DeliveryError({
    code: 'DNS_BOGUS',
    message,
    stage: 'dns',
    permanent: false,
    enhancedCode: '4.4.3',
    lines: lines?.length ? lines : undefined,
    cause,
  });
}

/**
 * RFC 8914 §4 INFO-CODEs by which a validating resolver says its SERVFAIL is a DNSSEC
 * validation failure (bogus), not an unreachable server: 1, 2 (unsupported algorithms), 5
 * (indeterminate), 6 (bogus), 7, 8 (signature validity), 9–12 (missing keys, RRSIGs, NSEC).
 */
const DNSSEC_EDE = new Set([1, 2, 5, 6, 7, 8, 9, 10, 11, 12]);

export function isDnssecFailure(ede: readonly { code: number }[]): boolean {
  return ede.some((e) => DNSSEC_EDE.has(e.code));
}

/**
 * NXDOMAIN is an answer, not a fault: its error carries no stack. The resolver throws one for
 * every lookup of a name that does not exist, cached ones included (RFC 2308 §5) — e.g. the
 * `_mta-sts` TXT of nearly every recipient domain, on every delivery — and a captured stack
 * was most of what that cost (bench/profile-delivery.ts).
 */
export function dnsNxdomain(message: string, lines?: string[]): DeliveryError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new DeliveryError({
      code: 'DNS_NXDOMAIN',
      message,
      stage: 'dns',
      permanent: true,
      enhancedCode: '5.1.2', // RFC 3463 §3.2: bad destination system address
      lines: lines?.length ? lines : undefined,
    });
  } finally {
    Error.stackTraceLimit = limit;
  }
}
