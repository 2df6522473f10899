/**
 * Public types of the DNSSEC-aware stub resolver.
 *
 * The resolver does not validate DNSSEC itself: it asks a validating recursive resolver and
 * reports the AD bit (RFC 4035 §3.2.3, RFC 6840 §5.7). Callers use `authentic` and
 * `chainAuthentic` to decide whether DANE applies (RFC 7672 §2.1-2.2); an unauthenticated
 * answer is still a usable answer, it only never enables DANE.
 */
import type { Clock } from '../clock';
import type { Dialer } from '../net/dialer';

/** The query types this resolver speaks. */
export type RRType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'TLSA' | 'CNAME' | 'PTR';

export interface MxRecord {
  preference: number;
  /** Lowercase, no trailing dot; "." for a null MX (RFC 7505). */
  exchange: string;
}

export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  /** Certificate association data. */
  data: Buffer;
}

/** RFC 8914 extended DNS error, as found in the response's OPT record. */
export interface ExtendedDnsError {
  code: number;
  /** EXTRA-TEXT, control characters removed; empty when absent. */
  text: string;
}

export interface DnsAnswer<T> {
  /** The name asked for (normalized: lowercase, no trailing dot). */
  name: string;
  records: T[];
  /** The AD bit of the response that carried the final records (or the secure NODATA). */
  authentic: boolean;
  /** CNAME targets followed, in order. */
  cnames: string[];
  /** The name the records belong to: the last CNAME target, or `name`. */
  expandedName: string;
  /** Every CNAME step and the final answer came from responses with the AD bit set. */
  chainAuthentic: boolean;
  /** Response code of the final response ("NOERROR" for every returned answer). */
  rcode: string;
  /** Extended DNS errors of all responses involved, in order. */
  ede: ExtendedDnsError[];
}

export interface Resolver {
  mx(name: string): Promise<DnsAnswer<MxRecord>>;
  a(name: string): Promise<DnsAnswer<string>>;
  aaaa(name: string): Promise<DnsAnswer<string>>;
  /** Each TXT record's character-strings joined (RFC 7208 §3.3 / RFC 8461 §3.1 usage). */
  txt(name: string): Promise<DnsAnswer<string>>;
  tlsa(name: string): Promise<DnsAnswer<TlsaRecord>>;
  /** The CNAME record at `name` itself; not followed. */
  cname(name: string): Promise<DnsAnswer<string>>;
  /** PTR targets at `name` (an in-addr.arpa / ip6.arpa name, RFC 1035 §3.5, RFC 3596 §2.5). */
  ptr(name: string): Promise<DnsAnswer<string>>;
  /** Releases the resolver's sockets and cache (optional: resolvers without either). */
  close?(): void;
}

export interface StubResolverOptions {
  /** "ip", "ip:port", "[ipv6]:port" or bare IPv6. Default: node:dns getServers(). */
  servers?: string[] | undefined;
  /** Per-attempt timeout. Default 3000 ms. */
  timeoutMs?: number | undefined;
  /** Rounds over the server list. Default 2. */
  tries?: number | undefined;
  /** Most CNAME hops followed for one lookup. Default 8. */
  maxCnameHops?: number | undefined;
  clock?: Clock | undefined;
  /** Opens the TCP connection for truncated answers. Default tcpDialer. */
  dialer?: Dialer | undefined;
  /**
   * The answer cache (cache.ts), with its size bound (default 10,000 entries); absent or false:
   * none, every lookup asks (readiness checks and tests that change records want that).
   */
  cache?: { maxEntries?: number | undefined } | false | undefined;
}
