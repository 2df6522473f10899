/**
 * The readiness check (delivery-rules.md §14): before the first send, what will happen to
 * mail sent directly from this machine, and what to do about it. Steps:
 *
 *   1. port25.ts    — connect and EHLO to well-known MX hosts; learn the address they see.
 *   2. public-ip.ts — that address, and the DNS "what is my IP" answer (IPv4 and IPv6).
 *   3. for those addresses: ptr.ts (PTR + FCrDNS, the EHLO name to use), dnsbl.ts (block
 *      lists), ipv6.ts (IPv6 without PTR → IPv4 only);
 *   4. for each identity: spf.ts, dkim.ts, then dmarc.ts (from the two), mx.ts;
 *   5. resolver-dnssec.ts — whether DANE can work at all.
 *
 * Every network target is in `deps` (targets.ts): the app and the CLI use the Internet
 * defaults, tests point everything at loopback.
 */
import type { ReadinessCheck, ReadinessReport } from '../../../shared/readiness';
import { checkDkim } from './dkim';
import { checkDmarc } from './dmarc';
import { checkDnsbl } from './dnsbl';
import { checkIpv6 } from './ipv6';
import { checkMx } from './mx';
import { checkPort25 } from './port25';
import { checkPtr } from './ptr';
import { checkPublicIp } from './public-ip';
import { checkResolverDnssec } from './resolver-dnssec';
import { checkSpf } from './spf';
import { check, type ReadinessDeps, type ReadinessIdentity } from './types';

export async function runReadiness(deps: ReadinessDeps): Promise<ReadinessReport> {
  const ranAt = deps.clock.now();
  const dnssec = checkResolverDnssec(deps);
  const port25 = await checkPort25(deps);
  const ip = await checkPublicIp(deps, port25.attempts);
  const all = [...ip.ipv4, ...ip.ipv6];
  const [ptr, dnsbl, ipv6, perIdentity, resolver] = await Promise.all([
    checkPtr(deps, ip.ipv4),
    checkDnsbl(deps, all),
    checkIpv6(deps, ip.ipv6, ip.ipv4, port25.attempts),
    Promise.all(deps.identities.map((i) => identityChecks(deps, i, all))),
    dnssec,
  ]);
  const identity = deps.identities.length > 0 ? perIdentity.flat() : noIdentity();
  return { ranAt, checks: [port25.check, ip.check, ptr.check, dnsbl, ...identity, resolver, ipv6] };
}

async function identityChecks(deps: ReadinessDeps, identity: ReadinessIdentity, ips: string[]): Promise<ReadinessCheck[]> {
  const [spf, dkim, mx] = await Promise.all([checkSpf(deps, identity, ips), checkDkim(deps, identity), checkMx(deps, identity)]);
  const dmarc = await checkDmarc(deps, identity, { spfPasses: spf.passesForAll, dkimDomain: dkim.passingDomain });
  return [spf.check, dmarc, dkim.check, mx];
}

function noIdentity(): ReadinessCheck[] {
  return (['spf', 'dmarc', 'dkim', 'mx'] as const).map((id) =>
    check(id, 'unknown', 'No sender address to check.', 'Add an identity (Settings → Identities); with outbox doctor, pass --from ADDR.', {}),
  );
}

/** Port 25 is blocked (the compose view warns when no route would carry the message). */
export function port25Blocked(report: ReadinessReport | null): boolean {
  return report?.checks.some((c) => c.id === 'port25' && c.status === 'fail') ?? false;
}
