/**
 * The resolver's answer cache: each answer kept for its TTL (RFC 1035 §3.2.1, RFC 2181 §8),
 * with its DNSSEC status (the AD bits the answer came with, RFC 4035 §3.2.3) stored in the
 * entry, and negative answers — NXDOMAIN and NODATA — kept for the SOA's negative TTL (RFC 2308
 * §5: min(SOA TTL, SOA MINIMUM); a negative answer without SOA is not cached).
 *
 * Threat: a cache that hands out more than it was told. Only complete answers are cached: a
 * failed lookup (SERVFAIL, timeout, a DNSSEC-bogus answer, malformed records) never is, so a
 * bogus answer can never come back from the cache as secure; an answer is returned with the
 * very authenticity it arrived with; TTLs are capped (MAX_TTL_S, MAX_NEGATIVE_TTL_S) so a
 * hostile server cannot pin an answer for years; the number of entries is bounded (least
 * recently used evicted first).
 */
import type { Clock } from '../clock';
import type { DnsAnswer } from './types';

/** Longest a positive answer is kept, whatever its TTL (a day, as common resolvers cap). */
export const MAX_TTL_S = 86_400;
/** RFC 2308 §5: negative answers are kept no longer than a few hours (3 h). */
export const MAX_NEGATIVE_TTL_S = 3 * 3600;
export const DEFAULT_MAX_ENTRIES = 10_000;

export type CachedOutcome =
  | { kind: 'answer'; answer: DnsAnswer<unknown> }
  | { kind: 'nxdomain'; message: string; ede: string[] };

interface Entry {
  expires: number;
  outcome: CachedOutcome;
}

export class DnsCache {
  readonly #entries = new Map<string, Entry>();

  constructor(
    readonly clock: Clock,
    readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry for `key`, as a copy the caller may change. */
  get(key: string): CachedOutcome | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (this.clock.now() >= e.expires) {
      this.#entries.delete(key);
      return undefined;
    }
    // Least recently used goes first: a hit moves the entry to the end of the map's order.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return copy(e.outcome);
  }

  /** Keeps `outcome` for `ttlSeconds` (capped); a TTL of 0 or less is not cached. */
  set(key: string, outcome: CachedOutcome, ttlSeconds: number): void {
    const negative = outcome.kind === 'nxdomain' || outcome.answer.records.length === 0;
    const ttl = Math.min(ttlSeconds, negative ? MAX_NEGATIVE_TTL_S : MAX_TTL_S);
    if (!(ttl > 0)) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { expires: this.clock.now() + ttl * 1000, outcome: copy(outcome) });
  }

  clear(): void {
    this.#entries.clear();
  }
}

function copy(o: CachedOutcome): CachedOutcome {
  if (o.kind === 'nxdomain') return { ...o, ede: [...o.ede] };
  const a = o.answer;
  return { kind: 'answer', answer: { ...a, records: [...a.records], cnames: [...a.cnames], ede: a.ede.map((e) => ({ ...e })) } };
}
