/**
 * The one classifier for what a host did to us (delivery-rules §7; mox queue inspectError):
 * every error of a session — greeting, EHLO, STARTTLS, MAIL, RCPT, DATA, the final dot, a
 * timeout, a dropped connection — and every per-recipient refusal goes through `classify`, so
 * a rule about permanence is decided once, for every stage.
 *
 * - RFC 5321 §4.2.1: 5yz is permanent, 4yz transient; errors without a reply (network,
 *   timeouts, protocol violations) are transient.
 * - Rules §7: on the first attempt to a dual-stack host, a policy rejection (RFC 3463 §3.8
 *   X.7.x) is temporary, at any stage: the server may be refusing one address family (no PTR,
 *   a block list entry for the IPv6 /64), and the next attempt can come from the other one.
 */
import type { ErrorCode } from '../../../shared/domain';
import { DeliveryError, toDeliveryError, type Stage } from '../errors';
import { C451LocalErr, SeNet4NoAnswer1 } from '../smtp/codes';

export interface HostFacts {
  host: string;
  /** The host has both IPv4 and IPv6 addresses. */
  dualStack: boolean;
  /** The first delivery attempt of these recipients. */
  firstAttempt: boolean;
}

/**
 * Whether a refusal is permanent for this host and attempt (the rule, decided once). `code` is
 * the engine's error code; without one the refusal is a reply of the host (RCPT, DATA).
 */
export function isPermanentRefusal(f: { permanent: boolean; enhancedCode?: string | null | undefined; code?: ErrorCode | undefined }, host: HostFacts): boolean {
  if (!f.permanent) return false;
  // Rules §7: 5.7.x on the first attempt to a dual-stack host is temporary — when the host said
  // it: its policy may refuse one address family only. Our own 5.7.x (a SOCKS proxy refusing
  // our password) is the same whichever family the next attempt takes.
  const hostReply = f.code === undefined || f.code === 'SMTP_REPLY';
  if (hostReply && host.firstAttempt && host.dualStack && f.enhancedCode?.startsWith('5.7.')) return false;
  return true;
}

/**
 * Any error a host session raised, as the DeliveryError the attempt records: host and ip
 * filled in, an unexpected exception at connect named CONNECT_FAILED, and permanence decided
 * by isPermanentRefusal.
 */
export function classifyHostError(e: unknown, stage: Stage, host: HostFacts, ip: string | null): DeliveryError {
  let err = toDeliveryError(e, stage).at(host.host, ip ?? undefined);
  if (err.code === 'INTERNAL' && stage === 'connect') {
    err = new DeliveryError({ ...err.toFields(), code: 'CONNECT_FAILED', smtpCode: C451LocalErr, enhancedCode: SeNet4NoAnswer1, permanent: false });
  }
  const permanent = isPermanentRefusal(err, host);
  if (permanent === err.permanent) return err;
  return new DeliveryError({ ...err.toFields(), permanent });
}
