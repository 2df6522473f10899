/**
 * Gathering a host's DANE TLSA records (RFC 7672 §2.2; mox smtpclient GatherTLSA) — the one
 * function delivery and the probe both use.
 *
 * - DANE applies only when the MX answer (with its CNAME expansion) and the host's address
 *   answers were DNSSEC-authentic (RFC 7672 §2.2.1, §2.2.2). Otherwise: no DANE, never an error.
 * - RFC 7672 §2.2.2: when the host name is a CNAME whose expansion is secure, TLSA is looked up
 *   at the expanded name first; when that name has no TLSA records (authenticated denial), at
 *   the original MX host name. An insecure expansion means the original name only.
 * - Only authentic TLSA answers count; a lookup error on a secure name is an error for the
 *   host (RFC 7672 §2.2: the host cannot be used now).
 * - The names a DANE-TA certificate may carry (RFC 7672 §3.2.2): the MX host name, its expanded
 *   name, the recipient domain and its expanded name (the expansions only when secure).
 */
import type { DnsAnswer, Resolver, TlsaRecord } from '../dns/types';
import { DeliveryError } from '../errors';
import { classifyTlsa, type TlsaClass } from '../tls-policy/dane';
import type { Destinations, HostAddresses } from './destinations';

export type TlsaGathering =
  /** DANE does not apply: an answer on the way was not DNSSEC-authentic. */
  | { kind: 'insecure'; allowedNames: string[] }
  /** Authentic answers, but no TLSA records at any name looked at. */
  | { kind: 'none'; allowedNames: string[] }
  | { kind: 'records'; name: string; records: TlsaRecord[]; tlsaClass: Exclude<TlsaClass, 'none'>; allowedNames: string[] }
  | { kind: 'error'; name: string; error: DeliveryError; allowedNames: string[] };

export interface TlsaTarget {
  /** The MX host name (or the domain, for an implicit MX). */
  host: string;
  addrs: Pick<HostAddresses, 'authentic' | 'expandedHost' | 'expandedAuthentic'>;
  dest: Pick<Destinations, 'authentic' | 'expandedDomain' | 'expandedAuthentic'>;
  /** Recipient domain, A-label. */
  domain: string;
}

export async function gatherTlsa(t: TlsaTarget, resolver: Resolver): Promise<TlsaGathering> {
  const expandedHost = t.addrs.expandedAuthentic ? t.addrs.expandedHost : t.host;
  const expandedDomain = t.dest.expandedAuthentic ? t.dest.expandedDomain : t.domain;
  const allowedNames = [...new Set([t.host, expandedHost, t.domain, expandedDomain])];
  if (!t.dest.authentic || !t.addrs.authentic) return { kind: 'insecure', allowedNames };

  // RFC 7672 §2.2.2: the secure expansion first, then the original name.
  const names = [...new Set([expandedHost, t.host])];
  for (const name of names) {
    let ans: DnsAnswer<TlsaRecord>;
    try {
      ans = await resolver.tlsa(`_25._tcp.${name}`);
    } catch (e) {
      // NXDOMAIN: no TLSA at this name (as an empty answer); try the next one.
      if (e instanceof DeliveryError && e.code === 'DNS_NXDOMAIN') continue;
      const err = e instanceof DeliveryError ? e : new DeliveryError({ code: 'DNS_TEMPORARY', stage: 'dns', permanent: false, message: String(e), cause: e });
      return { kind: 'error', name, error: err, allowedNames };
    }
    // An unsigned TLSA answer is the attacker's to choose: it counts as none (RFC 7672 §2.2).
    if (!ans.authentic || !ans.chainAuthentic) continue;
    const tlsaClass = classifyTlsa(ans.records);
    if (tlsaClass !== 'none') return { kind: 'records', name, records: ans.records, tlsaClass, allowedNames };
  }
  return { kind: 'none', allowedNames };
}
