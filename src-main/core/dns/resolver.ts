/**
 * The DNSSEC-aware stub resolver: typed lookups (MX, A, AAAA, TXT, TLSA, CNAME, PTR) over
 * wire-query.ts, with CNAME chains followed and their authenticity reported.
 *
 * Authenticity (RFC 4035 §3.2.3, RFC 6840 §5.7): a response's AD bit says the validating
 * resolver checked every RRset in it. A chain spread over several responses is authentic only
 * if each response was (RFC 7672 §2.2.2: DANE uses the expanded name only when the whole
 * expansion is secure). Trusting AD presumes a trusted path to the resolver (RFC 4033 §4),
 * typically a validating resolver on the same host or network: this is the deployment
 * delivery-rules.md §3 assumes.
 *
 * Threat: data that is not what its type promises (an "A" record that is no address, an MX
 * target with control characters). Every record we hand out is checked; anything off is
 * DNS_BOGUS, so callers never see it.
 *
 * Cost (issue 14): answers are cached for their TTL with their authenticity (cache.ts; RFC 2308
 * negative caching), concurrent lookups of the same name and type share one query, and UDP
 * queries share one socket per server (udp-channel.ts).
 */
import net from 'node:net';
import { systemClock } from '../clock';
import { tcpDialer } from '../net/dialer';
import { walkAnswer, type ChainState } from './cname';
import { dnsBogus, dnsNxdomain } from './dns-errors';
import type { WireRecord } from './message';
import { formatEde } from './ede';
import { DnsCache, type CachedOutcome } from './cache';
import { canonicalAnswerName, normalizeQueryName } from './name';
import { UdpChannels } from './udp-channel';
import type { DnsAnswer, ExtendedDnsError, MxRecord, Resolver, RRType, StubResolverOptions, TlsaRecord } from './types';
import { parseServer, systemServers, wireQuery, type WireQueryOptions } from './wire-query';

const DEFAULT_TIMEOUT_MS = 3000;
const DEFAULT_TRIES = 2;
const DEFAULT_MAX_CNAME_HOPS = 8;

export function createStubResolver(options: StubResolverOptions = {}): Resolver {
  const clock = options.clock ?? systemClock;
  const udp = new UdpChannels(clock);
  const wire: WireQueryOptions = {
    servers: options.servers ? options.servers.map(parseServer) : systemServers(),
    timeoutMs: positive(options.timeoutMs, DEFAULT_TIMEOUT_MS),
    tries: positive(options.tries, DEFAULT_TRIES),
    clock,
    dialer: options.dialer ?? tcpDialer,
    udp,
  };
  const maxHops = Math.max(0, Math.floor(options.maxCnameHops ?? DEFAULT_MAX_CNAME_HOPS));
  const cache = options.cache ? new DnsCache(clock, options.cache.maxEntries) : null;
  const inFlight = new Map<string, Promise<CachedOutcome>>();
  const lookup = async <T>(input: string, type: RRType, convert: (rr: WireRecord, owner: string) => T): Promise<DnsAnswer<T>> => {
    const key = `${type} ${normalizeQueryName(input)}`;
    let outcome = cache?.get(key);
    if (!outcome) {
      let pending = inFlight.get(key);
      if (!pending) {
        pending = lookupChain(wire, maxHops, input, type, convert).then(({ outcome: o, ttl }) => {
          // Only complete answers get here: errors (SERVFAIL, timeouts, DNSSEC-bogus, malformed
          // records) are thrown above and never cached.
          cache?.set(key, o, ttl);
          return o;
        });
        const p = pending;
        inFlight.set(key, p);
        void p.then(
          () => inFlight.delete(key),
          () => inFlight.delete(key),
        );
      }
      outcome = await pending;
    }
    if (outcome.kind === 'nxdomain') throw dnsNxdomain(outcome.message, outcome.ede);
    // Each caller gets its own copy of the arrays (the cache hands out copies too).
    const a = outcome.answer as DnsAnswer<T>;
    return { ...a, records: [...a.records], cnames: [...a.cnames], ede: [...a.ede] };
  };
  return {
    mx: (name) => lookup(name, 'MX', toMx),
    a: (name) => lookup(name, 'A', toAddress(4)),
    aaaa: (name) => lookup(name, 'AAAA', toAddress(6)),
    txt: (name) => lookup(name, 'TXT', toTxt),
    tlsa: (name) => lookup(name, 'TLSA', toTlsa),
    cname: (name) => lookup(name, 'CNAME', toCname),
    ptr: (name) => lookup(name, 'PTR', toPtr),
    close: () => {
      udp.close();
      cache?.clear();
    },
  };
}

function positive(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : dflt;
}

/**
 * One lookup, CNAME chain followed, as a cacheable outcome with its TTL in seconds: the lowest
 * TTL of every record in the responses of the chain (RFC 2181 §5.2, §10.1.1: a chain is no
 * fresher than its shortest-lived link); for NXDOMAIN and NODATA the SOA's negative TTL (RFC
 * 2308 §5), 0 (not cached) without an SOA.
 */
async function lookupChain<T>(
  wire: WireQueryOptions,
  maxHops: number,
  input: string,
  type: RRType,
  convert: (rr: WireRecord, owner: string) => T,
): Promise<{ outcome: CachedOutcome; ttl: number }> {
  const name = normalizeQueryName(input);
  const state: ChainState = { seen: new Set([name]), cnames: [], maxHops };
  const ede: ExtendedDnsError[] = [];
  let chainAuthentic = true;
  let current = name;
  let ttl = Infinity;
  for (;;) {
    const res = await wireQuery(wire, current, type);
    ede.push(...res.ede);
    chainAuthentic &&= res.ad;
    for (const rr of res.answers) ttl = Math.min(ttl, rr.ttl);
    const walk = walkAnswer(res.answers, current, type, state);
    // RFC 6604 §3: with a CNAME chain, the rcode is about the last name of the chain.
    if (res.rcode === 'NXDOMAIN') {
      const at = walk.name === name ? name : `${walk.name} (CNAME target of ${name})`;
      const message = `DNS name ${at} does not exist (NXDOMAIN${res.ad ? ', authenticated' : ''})`;
      return { outcome: { kind: 'nxdomain', message, ede: ede.map(formatEde) }, ttl: Math.min(ttl, res.negativeTtl ?? 0) };
    }
    // A resolver that did not chase the chain to its end (or stopped at its own hop limit):
    // ask again for the target, which counts against the same hop limit and loop check.
    if (walk.followed && walk.records.length === 0) {
      current = walk.name;
      continue;
    }
    const records = walk.records.map((rr) => convert(rr, walk.name));
    if (records.length === 0) ttl = Math.min(ttl, res.negativeTtl ?? 0); // NODATA (RFC 2308 §5)
    const answer: DnsAnswer<T> = {
      name,
      records,
      authentic: res.ad,
      cnames: [...state.cnames],
      expandedName: walk.name,
      chainAuthentic,
      rcode: res.rcode,
      ede,
    };
    return { outcome: { kind: 'answer', answer }, ttl: Number.isFinite(ttl) ? ttl : 0 };
  }
}

function toMx(rr: WireRecord, owner: string): MxRecord {
  const d = rr.data as { preference?: unknown; exchange?: unknown } | undefined;
  const exchange = typeof d?.exchange === 'string' ? canonicalAnswerName(d.exchange) : undefined;
  if (typeof d?.preference !== 'number' || exchange === undefined) {
    throw dnsBogus(`DNS answer has an invalid MX record for ${owner}`);
  }
  // RFC 7505 §3: "." is kept as is; the caller recognizes a null MX.
  return { preference: d.preference, exchange };
}

function toAddress(family: 4 | 6) {
  return (rr: WireRecord, owner: string): string => {
    if (typeof rr.data !== 'string' || net.isIP(rr.data) !== family) {
      throw dnsBogus(`DNS answer has an invalid ${rr.type} record for ${owner}`);
    }
    return rr.data;
  };
}

function toTxt(rr: WireRecord, owner: string): string {
  const d = rr.data;
  const strings = Array.isArray(d) ? d : [d];
  if (!strings.every((s) => Buffer.isBuffer(s))) throw dnsBogus(`DNS answer has an invalid TXT record for ${owner}`);
  // RFC 7208 §3.3 / RFC 8461 §3.1: a record's character-strings are concatenated, no separator.
  return Buffer.concat(strings as Buffer[]).toString('utf8');
}

function toTlsa(rr: WireRecord, owner: string): TlsaRecord {
  const d = rr.data as { usage?: unknown; selector?: unknown; matchingType?: unknown; certificate?: unknown } | undefined;
  // RFC 6698 §2.1: usage, selector and matching type are one octet each; data follows.
  if (!d || !Buffer.isBuffer(d.certificate) || !octets(d.usage, d.selector, d.matchingType)) {
    throw dnsBogus(`DNS answer has an invalid TLSA record for ${owner}`);
  }
  return {
    usage: d.usage as number,
    selector: d.selector as number,
    matchingType: d.matchingType as number,
    data: Buffer.from(d.certificate),
  };
}

function octets(...v: unknown[]): boolean {
  return v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 255);
}

function toPtr(rr: WireRecord, owner: string): string {
  const target = typeof rr.data === 'string' ? canonicalAnswerName(rr.data) : undefined;
  if (target === undefined || target === '.') throw dnsBogus(`DNS answer has an invalid PTR record for ${owner}`);
  return target;
}

function toCname(rr: WireRecord, owner: string): string {
  const target = typeof rr.data === 'string' ? canonicalAnswerName(rr.data) : undefined;
  if (target === undefined || target === '.') throw dnsBogus(`DNS answer has an invalid CNAME record for ${owner}`);
  return target;
}
