/**
 * Check "ptr": does each public IPv4 address have a PTR record that points back to it?
 *
 * RFC 1912 §2.1 ("every Internet-reachable host should have a name" with matching PTR), RFC
 * 8601 §3 (iprev) and RFC 5321 §4.1.4 (receivers may check the EHLO name). Large receivers
 * refuse or junk mail from addresses without forward-confirmed reverse DNS (Gmail: "550 5.7.25
 * The IP address sending this message does not have a PTR record setup"). When the PTR name
 * confirms, it is the EHLO name to use. IPv6 addresses are the ipv6 check's business.
 */
import type { ReadinessCheck } from '../../../shared/readiness';
import { looksGeneric, reverseDns, type ReverseDns } from './reverse-dns';
import { check, type ReadinessDeps } from './types';

export interface PtrResult {
  check: ReadinessCheck;
  /** The confirmed name to use as the EHLO name, when there is one. */
  suggestedEhlo: string | null;
}

export async function checkPtr(deps: ReadinessDeps, ipv4: readonly string[]): Promise<PtrResult> {
  if (ipv4.length === 0) {
    return {
      check: check('ptr', 'unknown', 'No public IPv4 address is known, so its PTR record cannot be checked.', 'Fix the public address check first.', { addresses: [] }),
      suggestedEhlo: null,
    };
  }
  const found: ReverseDns[] = await Promise.all(ipv4.map((ip) => reverseDns(deps.resolver, ip)));
  const ehlo = deps.ehloName.toLowerCase();
  const suggestedEhlo = found.find((f) => f.confirmedName)?.confirmedName ?? null;
  const evidence = { addresses: found, ehloName: deps.ehloName, suggestedEhlo };

  const missing = found.filter((f) => f.error === null && f.names.length === 0);
  const failed = found.filter((f) => f.error !== null);
  const unconfirmed = found.filter((f) => f.names.length > 0 && !f.confirmedName);
  const generic = found.filter((f) => f.confirmedName && looksGeneric(f.confirmedName, f.ip));
  const confirmed = found.filter((f) => f.confirmedName);

  let result: ReadinessCheck;
  if (missing.length > 0) {
    result = check(
      'ptr',
      'fail',
      `${missing.map((f) => f.ip).join(', ')} has no PTR record; many receivers refuse mail from such addresses.`,
      'Ask whoever owns the address (your ISP or host) for a PTR record naming your mail host, or send through a relay.',
      evidence,
    );
  } else if (failed.length > 0) {
    result = check('ptr', 'unknown', `The PTR lookup for ${failed.map((f) => f.ip).join(', ')} failed: ${failed[0]!.error}.`, 'Check your DNS resolver, then run the check again.', evidence);
  } else if (unconfirmed.length > 0) {
    const f = unconfirmed[0]!;
    result = check(
      'ptr',
      'warn',
      `${f.ip} has the PTR name ${f.names.join(', ')}, but that name does not point back to ${f.ip}.`,
      `Add an address record for ${f.names[0]} pointing to ${f.ip}, or have the PTR changed to a name that does.`,
      evidence,
    );
  } else if (generic.length > 0) {
    const f = generic[0]!;
    result = check(
      'ptr',
      'warn',
      `${f.ip} is named ${f.confirmedName}, which looks like an ISP's name for a dynamic line; receivers often refuse those.`,
      'Ask your ISP for a static address with a PTR of your own, or send through a relay.',
      evidence,
    );
  } else if (suggestedEhlo && !confirmed.some((f) => f.confirmedName === ehlo)) {
    result = check(
      'ptr',
      'warn',
      `${confirmed.map((f) => `${f.ip} is ${f.confirmedName}`).join('; ')} (confirmed), but the EHLO name is ${deps.ehloName}.`,
      `Use ${suggestedEhlo} as the EHLO name (Settings → Sending).`,
      evidence,
    );
  } else {
    result = check('ptr', 'pass', `${confirmed.map((f) => `${f.ip} is ${f.confirmedName}`).join('; ')}, confirmed both ways, and it is the EHLO name.`, null, evidence);
  }
  return { check: result, suggestedEhlo };
}
