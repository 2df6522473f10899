/**
 * Check "dnsbl": is a public address on a DNS block list the receivers consult?
 *
 * RFC 5782 §2.1 (IPv4: the octets reversed under the zone; an A record in 127.0.0.0/8 means
 * listed, NXDOMAIN means not listed) and §2.4 (IPv6: the 32 nibbles reversed). Spamhaus ZEN's
 * documented return codes (www.spamhaus.org/faqs/dnsbl-usage): 127.0.0.2 SBL, 127.0.0.3 SBL
 * CSS, 127.0.0.4–7 XBL, 127.0.0.9 SBL DROP, 127.0.0.10 PBL (ISP maintained), 127.0.0.11 PBL
 * (Spamhaus maintained). Spamhaus's error range 127.255.255.0/24 ("DNSBL return codes:
 * technical update", 2019) is NOT a listing: .252 typing error in the zone name, .254 query
 * through a public/open resolver, .255 excessive number of queries — all mean "we could not
 * tell", and the zone must not be read as listing the address.
 *
 * Threat: a resolver that rewrites NXDOMAIN into an advertising address would make every
 * address "listed"; only answers in 127.0.0.0/8 count as listings, anything else is unknown.
 */
import net from 'node:net';
import type { ReadinessCheck } from '../../../shared/readiness';
import { expandIPv6 } from './reverse-dns';
import { check, errorText, isNxdomain, type ReadinessDeps } from './types';

export type ListingState = 'listed' | 'not-listed' | 'unknown';

export interface Listing {
  ip: string;
  zone: string;
  query: string;
  state: ListingState;
  /** The A records answered. */
  codes: string[];
  /** What the codes mean (Spamhaus names where known). */
  meaning: string;
  /** The zone's TXT explanation, when listed. */
  text: string | null;
}

/** The RFC 5782 query name of `ip` in `zone`. */
export function dnsblQueryName(ip: string, zone: string): string {
  const rev = net.isIP(ip) === 4 ? ip.split('.').reverse().join('.') : [...expandIPv6(ip)].reverse().join('.');
  return `${rev}.${zone}`;
}

/** Spamhaus's documented meanings; other zones only say "listed". */
export function describeCode(code: string): { listed: boolean | null; meaning: string } {
  if (code === '127.255.255.252') return { listed: null, meaning: 'error: typing error in the block list name' };
  if (code === '127.255.255.254') return { listed: null, meaning: 'error: query refused because it came through a public/open resolver' };
  if (code === '127.255.255.255') return { listed: null, meaning: 'error: excessive number of queries' };
  if (code.startsWith('127.255.255.')) return { listed: null, meaning: 'error code of the block list' };
  if (!code.startsWith('127.')) return { listed: null, meaning: 'not a block list answer (outside 127.0.0.0/8)' };
  const last = Number(code.split('.')[3]);
  const spamhaus: Record<number, string> = {
    2: 'SBL (spam source)',
    3: 'SBL CSS (snowshoe spam)',
    4: 'XBL (exploited/infected host)',
    5: 'XBL',
    6: 'XBL',
    7: 'XBL',
    9: 'SBL DROP (hijacked network)',
    10: 'PBL (the ISP says this address should not send mail directly)',
    11: 'PBL (dynamic or end-user address range)',
  };
  return { listed: true, meaning: spamhaus[last] ?? `listed (${code})` };
}

export async function lookupListing(deps: ReadinessDeps, ip: string, zone: string): Promise<Listing> {
  const query = dnsblQueryName(ip, zone);
  const base = { ip, zone, query };
  let codes: string[];
  try {
    codes = (await deps.resolver.a(query)).records;
  } catch (e) {
    if (isNxdomain(e)) return { ...base, state: 'not-listed', codes: [], meaning: 'not listed', text: null };
    return { ...base, state: 'unknown', codes: [], meaning: errorText(e), text: null };
  }
  if (codes.length === 0) return { ...base, state: 'not-listed', codes, meaning: 'not listed', text: null };
  const described = codes.map(describeCode);
  const listed = described.filter((d) => d.listed === true);
  if (listed.length === 0) return { ...base, state: 'unknown', codes, meaning: described.map((d) => d.meaning).join('; '), text: null };
  const text = await deps.resolver
    .txt(query)
    .then((t) => t.records[0]?.slice(0, 300) ?? null)
    .catch(() => null);
  return { ...base, state: 'listed', codes, meaning: listed.map((d) => d.meaning).join('; '), text };
}

export async function checkDnsbl(deps: ReadinessDeps, ips: readonly string[]): Promise<ReadinessCheck> {
  const zones = deps.targets.dnsbl;
  if (ips.length === 0 || zones.length === 0) {
    return check(
      'dnsbl',
      'unknown',
      ips.length === 0 ? 'No public address is known, so block lists cannot be checked.' : 'No block list zones are configured.',
      ips.length === 0 ? 'Fix the public address check first.' : 'Configure at least one block list zone.',
      { listings: [], zones },
    );
  }
  const listings = await Promise.all(ips.flatMap((ip) => zones.map((z) => lookupListing(deps, ip, z))));
  const evidence = { listings, zones };
  const listed = listings.filter((l) => l.state === 'listed');
  const unknown = listings.filter((l) => l.state === 'unknown');
  if (listed.length > 0) {
    const l = listed[0]!;
    return check(
      'dnsbl',
      'fail',
      `${l.ip} is listed on ${l.zone}: ${l.meaning}.`,
      /PBL/.test(l.meaning)
        ? 'Addresses on a policy list cannot deliver directly: send through your provider\'s relay (a submission transport).'
        : `Follow the delisting steps of ${l.zone}, or send through a relay until the address is clean.`,
      evidence,
    );
  }
  if (unknown.length === listings.length) {
    return check(
      'dnsbl',
      'unknown',
      `The block lists could not be asked: ${unknown[0]!.meaning}.`,
      'Block lists often refuse public resolvers: run the check through your own or your ISP\'s resolver.',
      evidence,
    );
  }
  if (unknown.length > 0) {
    return check(
      'dnsbl',
      'warn',
      `Not listed where the lists answered, but ${[...new Set(unknown.map((l) => l.zone))].join(', ')} could not be asked (${unknown[0]!.meaning}).`,
      'Run the check through your own or your ISP\'s resolver to ask every list.',
      evidence,
    );
  }
  return check('dnsbl', 'pass', `${ips.join(', ')} ${ips.length === 1 ? 'is' : 'are'} on none of ${zones.join(', ')}.`, null, evidence);
}
