/**
 * What the readiness checks are given (everything that touches the network is injected) and
 * a small helper that builds one check's result.
 */
import type { ReadinessCheck, ReadinessCheckId, ReadinessStatus } from '../../../shared/readiness';
import type { Clock } from '../clock';
import type { DkimKeyAlgorithm } from '../compose/dkim-keys';
import type { Resolver } from '../dns/types';
import type { Dialer } from '../net/dialer';
import type { ReadinessTargets } from './targets';

export type IpFamilySetting = 'both' | 'ipv4' | 'ipv6';

export interface ReadinessIdentity {
  /** local@A-label domain. */
  address: string;
  /** The keys mail from it is signed with (identities.ts: RSA and Ed25519); [] = unsigned. */
  dkimKeys: { selector: string; algorithm: DkimKeyAlgorithm; publicKey: string }[];
}

export interface ReadinessDeps {
  /** The resolver delivery uses (its AD bit is what DANE relies on). */
  resolver: Resolver;
  /** The addresses `resolver` asks ("ip[:port]"); [] when they are the system's unknown ones. */
  resolverServers: string[];
  /** A resolver that asks exactly `server` ("ip[:port]"): for the what-is-my-IP query. */
  resolverFor(server: string): Resolver;
  dialer: Dialer;
  clock: Clock;
  /** The EHLO name delivery uses now. */
  ehloName: string;
  /** Bound on each network step (connect, greeting, EHLO). */
  timeoutMs: number;
  identities: ReadinessIdentity[];
  targets: ReadinessTargets;
  /** The IP family direct delivery uses (the direct transport's setting); 'both' when unset. */
  directIpFamily: IpFamilySetting;
}

export function check(
  id: ReadinessCheckId,
  status: ReadinessStatus,
  summary: string,
  fix: string | null,
  evidence: Record<string, unknown>,
  identity: string | null = null,
): ReadinessCheck {
  return { id, identity, status, summary, fix, evidence };
}

/** A lookup's failure as a short string for evidence and summaries. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** DNS_NXDOMAIN (the name does not exist) as opposed to a lookup that could not be made. */
export function isNxdomain(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'DNS_NXDOMAIN';
}
