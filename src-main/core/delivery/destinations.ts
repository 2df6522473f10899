/**
 * Where to deliver (delivery-rules §1): MX lookup → ordered hosts → addresses to dial.
 *
 * RFC 5321 §5.1: MX records sorted by preference, equal preferences shuffled (load spreading);
 * no MX but the name exists → the domain itself is the only host (implicit MX). RFC 7505: a
 * single MX "." is a null MX — the domain accepts no mail, fail at once with 5.1.10. The
 * authenticity of the MX answer and of any CNAME expansion is kept for DANE (RFC 7672 §2.2).
 */
import { DeliveryError } from '../errors';
import type { DnsAnswer, MxRecord, Resolver } from '../dns/types';
import { C451LocalErr, C550MailboxUnavail, C556DomainNoMail, SeAddr1BadDestSystem2, SeAddr1NullMX10, SeNet4DirServerFailure3 } from '../smtp/codes';

export interface Destination {
  host: string;
  preference: number;
  /** The domain itself, used because it has no MX (RFC 5321 §5.1). */
  implicit: boolean;
}

export interface Destinations {
  hosts: Destination[];
  /** The MX answer (and its CNAME chain) was DNSSEC-authentic. */
  authentic: boolean;
  /** The domain after CNAME expansion, and whether that expansion was authentic. */
  expandedDomain: string;
  expandedAuthentic: boolean;
}

export async function gatherDestinations(domain: string, resolver: Resolver, random: () => number = Math.random): Promise<Destinations> {
  let answer: DnsAnswer<MxRecord>;
  try {
    answer = await resolver.mx(domain);
  } catch (e) {
    if (e instanceof DeliveryError && e.code === 'DNS_NXDOMAIN') {
      // RFC 5321 §5.1: a domain that does not exist cannot receive mail.
      throw new DeliveryError({ code: 'DNS_NXDOMAIN', stage: 'dns', permanent: true, smtpCode: C550MailboxUnavail, enhancedCode: SeAddr1BadDestSystem2, message: `domain ${domain} does not exist (NXDOMAIN)`, cause: e });
    }
    if (e instanceof DeliveryError) throw new DeliveryError({ ...e.toFields(), stage: 'dns', permanent: false, smtpCode: C451LocalErr, enhancedCode: SeNet4DirServerFailure3 });
    throw e;
  }
  const base = { authentic: answer.chainAuthentic, expandedDomain: answer.expandedName, expandedAuthentic: answer.chainAuthentic };

  const real = answer.records.filter((r) => r.exchange !== '' && r.exchange !== '.');
  if (answer.records.length > 0 && real.length === 0) {
    // RFC 7505 §3: null MX — the domain explicitly accepts no mail.
    throw new DeliveryError({ code: 'NULL_MX', stage: 'dns', permanent: true, smtpCode: C556DomainNoMail, enhancedCode: SeAddr1NullMX10, message: `${domain} does not accept mail (null MX)` });
  }
  if (real.length === 0) {
    // RFC 5321 §5.1: implicit MX — the (CNAME-expanded) domain itself, at preference 0.
    return { ...base, hosts: [{ host: answer.expandedName, preference: 0, implicit: true }] };
  }
  return { ...base, hosts: orderMx(real, random) };
}

/** Sorted by preference; hosts of equal preference shuffled; duplicates dropped. */
export function orderMx(records: MxRecord[], random: () => number = Math.random): Destination[] {
  const byPref = new Map<number, string[]>();
  for (const r of records) {
    const list = byPref.get(r.preference) ?? [];
    list.push(r.exchange.toLowerCase().replace(/\.$/, ''));
    byPref.set(r.preference, list);
  }
  const seen = new Set<string>();
  const out: Destination[] = [];
  for (const pref of [...byPref.keys()].sort((a, b) => a - b)) {
    const hosts = byPref.get(pref)!;
    for (let i = hosts.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [hosts[i], hosts[j]] = [hosts[j]!, hosts[i]!];
    }
    for (const host of hosts) {
      if (seen.has(host)) continue;
      seen.add(host);
      out.push({ host, preference: pref, implicit: false });
    }
  }
  return out;
}

export interface HostAddresses {
  ipv4: string[];
  ipv6: string[];
  /** Every address answer with records was authentic (DANE precondition, RFC 7672 §2.2.2). */
  authentic: boolean;
  /** The host name after CNAME expansion, and whether that expansion was authentic. */
  expandedHost: string;
  expandedAuthentic: boolean;
}

/** A and AAAA of one host. Temporary when both lookups fail; "no address" when neither has any. */
export async function resolveHost(host: string, resolver: Resolver): Promise<HostAddresses> {
  const [a, aaaa] = await Promise.allSettled([resolver.a(host), resolver.aaaa(host)]);
  const ok = [a, aaaa].filter((r): r is PromiseFulfilledResult<DnsAnswer<string>> => r.status === 'fulfilled').map((r) => r.value);
  if (ok.length === 0) {
    const err = (a as PromiseRejectedResult).reason;
    const nx = err instanceof DeliveryError && err.code === 'DNS_NXDOMAIN';
    throw new DeliveryError({
      code: nx ? 'DNS_NXDOMAIN' : 'DNS_TEMPORARY',
      stage: 'dns',
      permanent: false,
      smtpCode: C451LocalErr,
      enhancedCode: SeNet4DirServerFailure3,
      host,
      message: nx ? `MX host ${host} does not exist` : `address lookup for ${host} failed: ${err instanceof Error ? err.message : String(err)}`,
      cause: err,
    });
  }
  const usable = (ip: string) => ip !== '0.0.0.0' && ip !== '::' && !ip.startsWith('255.');
  const ipv4 = a.status === 'fulfilled' ? a.value.records.filter(usable) : [];
  const ipv6 = aaaa.status === 'fulfilled' ? aaaa.value.records.filter(usable) : [];
  const withRecords = ok.filter((x) => x.records.length > 0);
  const first = withRecords[0] ?? ok[0]!;
  return {
    ipv4,
    ipv6,
    // Judged on the answers whose addresses we dial. A failed lookup of the other family must
    // not switch DANE off: a validating resolver answers SERVFAIL for a forged (bogus) AAAA, so
    // "insecure because AAAA failed" would let an attacker downgrade a DANE host (RFC 7672 §2.2.2).
    authentic: withRecords.length > 0 && withRecords.every((x) => x.authentic && x.chainAuthentic),
    expandedHost: first.expandedName,
    expandedAuthentic: first.chainAuthentic,
  };
}

/**
 * Per attempt at most one IPv4 and one IPv6 address of a host (rules §1), preferring addresses
 * not dialed before so retries rotate. The family not tried yet goes first: after a policy
 * rejection over one family, the next attempt comes from the other (rules §7).
 */
export function pickAddresses(addrs: Pick<HostAddresses, 'ipv4' | 'ipv6'>, dialed: readonly string[]): string[] {
  const dialedSet = new Set(dialed);
  const pick = (list: string[]) => list.find((ip) => !dialedSet.has(ip)) ?? leastRecent(list, dialed);
  const v4 = pick(addrs.ipv4);
  const v6 = pick(addrs.ipv6);
  const v4Tried = addrs.ipv4.some((ip) => dialedSet.has(ip));
  const v6Tried = addrs.ipv6.some((ip) => dialedSet.has(ip));
  const order = v4Tried && !v6Tried ? [v6, v4] : [v4, v6];
  return order.filter((ip): ip is string => ip !== undefined);
}

function leastRecent(list: string[], dialed: readonly string[]): string | undefined {
  if (list.length === 0) return undefined;
  // All dialed before: take the one dialed longest ago.
  return [...list].sort((x, y) => dialed.lastIndexOf(x) - dialed.lastIndexOf(y))[0];
}
