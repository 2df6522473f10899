/**
 * Check "ipv6": if this machine delivers over IPv6, does its IPv6 address have forward-
 * confirmed reverse DNS? Receivers are stricter over IPv6 than over IPv4: Gmail refuses IPv6
 * mail from addresses without PTR ("550-5.7.1 … does not meet IPv6 sending guidelines
 * regarding PTR records and authentication"). RFC 8601 §3 (iprev), RFC 3596 §2.5 (ip6.arpa).
 *
 * The remedy that needs nobody's help: deliver over IPv4 only (the direct transport's IP family
 * setting), as mox's IPFamily per transport allows.
 */
import type { ReadinessCheck } from '../../../shared/readiness';
import type { Port25Attempt } from './port25';
import { reverseDns } from './reverse-dns';
import { check, type ReadinessDeps } from './types';

export async function checkIpv6(deps: ReadinessDeps, ipv6: readonly string[], ipv4: readonly string[], attempts: readonly Port25Attempt[]): Promise<ReadinessCheck> {
  const smtpOverV6 = attempts.filter((a) => a.outcome === 'ehlo' && a.ip.includes(':')).map((a) => a.host);
  if (ipv6.length === 0) {
    return check('ipv6', 'pass', smtpOverV6.length ? 'IPv6 reached an MX host, but no public IPv6 address was learned; delivery works over IPv4.' : 'No public IPv6 address: direct delivery goes over IPv4.', null, { ipv6: [], smtpOverV6, ipFamily: deps.directIpFamily });
  }
  const found = await Promise.all(ipv6.map((ip) => reverseDns(deps.resolver, ip)));
  const evidence = { ipv6: found, smtpOverV6, ipFamily: deps.directIpFamily };
  const failed = found.filter((f) => f.error !== null);
  const bad = found.filter((f) => f.error === null && !f.confirmedName);
  if (failed.length > 0) return check('ipv6', 'unknown', `The PTR lookup for ${failed[0]!.ip} failed: ${failed[0]!.error}.`, 'Check your DNS resolver, then run the check again.', evidence);
  if (bad.length === 0) return check('ipv6', 'pass', `${found.map((f) => `${f.ip} is ${f.confirmedName}`).join('; ')}, confirmed both ways.`, null, evidence);
  const b = bad[0]!;
  const what = b.names.length ? `its PTR name ${b.names[0]} does not point back to it` : 'it has no PTR record';
  if (deps.directIpFamily === 'ipv4') {
    return check('ipv6', 'pass', `IPv6 works but ${b.ip} has no confirmed PTR (${what}); direct delivery is set to IPv4 only, so that does not matter.`, null, evidence);
  }
  if (ipv4.length > 0) {
    return check(
      'ipv6',
      'warn',
      `IPv6 works, but ${what} (${b.ip}); receivers refuse IPv6 mail from such addresses.`,
      'Set direct delivery to IPv4 only (Settings → Sending → the direct transport\'s IP family).',
      evidence,
    );
  }
  return check('ipv6', 'fail', `This machine has only IPv6, and ${what} (${b.ip}): most receivers will refuse its mail.`, `Ask your provider for a PTR record for ${b.ip}, or send through a relay transport.`, evidence);
}
