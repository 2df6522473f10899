/**
 * Reverse DNS of one address and its forward confirmation (FCrDNS), shared by the ptr and ipv6
 * checks.
 *
 * RFC 1035 §3.5 (in-addr.arpa), RFC 3596 §2.5 (ip6.arpa nibbles); forward confirmation as in
 * RFC 8601 §3 "iprev" (RFC 5451's method): a PTR name counts only when one of its A/AAAA
 * records is the address again — anyone can publish a PTR naming someone else's host.
 */
import net from 'node:net';
import type { Resolver } from '../dns/types';
import { errorText, isNxdomain } from './types';

/** Most PTR names followed (RFC 8601 §3 leaves it to the verifier; 10 is common practice). */
const MAX_PTR_NAMES = 10;

export interface ReverseDns {
  ip: string;
  reverseName: string;
  /** PTR targets found; [] when there is none. */
  names: string[];
  /** The first PTR name whose forward lookup contains the address. */
  confirmedName: string | null;
  /** Names whose forward lookup failed or did not contain the address, with why. */
  unconfirmed: { name: string; why: string }[];
  /** Set when the PTR lookup itself failed (not NXDOMAIN): the verdict is unknown. */
  error: string | null;
}

/** The in-addr.arpa / ip6.arpa name of an address. */
export function reverseName(ip: string): string {
  if (net.isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${[...expandIPv6(ip)].reverse().join('.')}.ip6.arpa`;
}

/** 32 hex digits, no colons. */
export function expandIPv6(ip: string): string {
  let s = ip.toLowerCase().split('%')[0]!;
  // A trailing dotted quad (::ffff:192.0.2.1) becomes two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) {
    const b = quad[1]!.split('.').map(Number);
    s = s.slice(0, -quad[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

export function sameAddress(a: string, b: string): boolean {
  return net.isIP(a) === net.isIP(b) && reverseName(a) === reverseName(b);
}

export async function reverseDns(resolver: Resolver, ip: string): Promise<ReverseDns> {
  const rname = reverseName(ip);
  const out: ReverseDns = { ip, reverseName: rname, names: [], confirmedName: null, unconfirmed: [], error: null };
  try {
    out.names = (await resolver.ptr(rname)).records;
  } catch (e) {
    if (!isNxdomain(e)) out.error = errorText(e);
    return out;
  }
  for (const name of out.names.slice(0, MAX_PTR_NAMES)) {
    try {
      const fwd = net.isIP(ip) === 6 ? await resolver.aaaa(name) : await resolver.a(name);
      if (fwd.records.some((r) => sameAddress(r, ip))) {
        out.confirmedName = name;
        break;
      }
      out.unconfirmed.push({ name, why: fwd.records.length ? `resolves to ${fwd.records.join(', ')}` : 'has no address of that family' });
    } catch (e) {
      out.unconfirmed.push({ name, why: errorText(e) });
    }
  }
  return out;
}

/**
 * A name an ISP gives every customer line ("dsl-198-51-100-7.example.net"): many receivers
 * refuse mail from such names (Spamhaus PBL, providers' own "generic rDNS" rules).
 */
export function looksGeneric(name: string, ip: string): boolean {
  // The labels left of the registered domain (a guess: the last two are the provider's).
  const label = name.split('.').slice(0, -2).join('.');
  if (net.isIP(ip) === 4) {
    const o = ip.split('.');
    const dashed = [o.join('-'), [...o].reverse().join('-'), [...o].reverse().join('.'), o.join('')];
    if (dashed.some((d) => name.includes(d))) return true;
  }
  return /(^|[-.\d])(dyn|dynamic|dhcp|pool|dsl|adsl|xdsl|cable|ppp|pppoe|dial|dialup|customer|cust|broadband)([-.\d]|$)/i.test(label);
}
