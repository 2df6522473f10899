/**
 * DNSSEC-aware stub resolver (delivery-rules.md §1 and §3). Layers, bottom up:
 * name.ts (syntax) → message.ts (wire format, strict decoding) → wire-query.ts (UDP/TCP,
 * retries, anti-spoofing) → cname.ts (chains) → resolver.ts (typed lookups, AD reporting).
 */
export { createStubResolver } from './resolver';
export { edeName, formatEde } from './ede';
export { normalizeQueryName, sameName } from './name';
export type {
  DnsAnswer,
  ExtendedDnsError,
  MxRecord,
  Resolver,
  RRType,
  StubResolverOptions,
  TlsaRecord,
} from './types';
