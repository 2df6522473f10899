/**
 * The MTA-STS policy cache as the decision logic sees it (RFC 8461 §3.3, §5.1): what was fetched
 * under which TXT id, until when it is valid, and when the last fetch failed. Storage is
 * someone else's concern (the SQLite table `mtasts_policies`); this module defines the interface
 * and an in-memory implementation for tests and the CLI.
 *
 * Threat addressed: the cache is what makes MTA-STS trust-on-first-use — an attacker who later
 * blocks the TXT lookup or the HTTPS fetch cannot switch the policy off before max_age runs out.
 */
import type { MtaStsPolicy } from './mta-sts-policy';
import type { TlsrptFailure } from './tlsrpt';

export interface CachedFailure {
  /** Clock ms of the failed fetch. */
  at: number;
  /** TXT id the fetch was for (RFC 8461 §3.3 rate-limits per version ID). */
  id: string | null;
  tlsrptFailure: TlsrptFailure;
  message: string;
}

export interface CachedPolicy {
  /** Lower-case A-label recipient domain. */
  domain: string;
  /** TXT id the policy was fetched under. */
  id: string;
  policy: MtaStsPolicy;
  /** The body as fetched, for the log and export. */
  policyText: string;
  fetchedAt: number;
  /** fetchedAt + max_age; the policy is in force while now < expiresAt. */
  expiresAt: number;
}

export interface PolicyCacheEntry {
  policy: CachedPolicy | null;
  lastFailure: CachedFailure | null;
}

type MaybePromise<T> = T | Promise<T>;

/** Implementations may be synchronous (better-sqlite3) or not; callers always await. */
export interface PolicyCache {
  get(domain: string): MaybePromise<PolicyCacheEntry | undefined>;
  /** Stores a freshly fetched policy and forgets any earlier failure. */
  put(domain: string, record: CachedPolicy): MaybePromise<void>;
  /** Remembers a failed fetch; a cached policy, if any, is kept. */
  recordFetchFailure(domain: string, failure: CachedFailure): MaybePromise<void>;
  /**
   * Entries with a policy still in force at `now` that expires by `before`, soonest
   * first, at most `limit` (the background refresher's candidates, RFC 8461 §10.2).
   */
  expiringBefore(before: number, now: number, limit: number): MaybePromise<PolicyCacheEntry[]>;
}

export class MemoryPolicyCache implements PolicyCache {
  readonly #entries = new Map<string, PolicyCacheEntry>();

  get(domain: string): PolicyCacheEntry | undefined {
    const e = this.#entries.get(domain.toLowerCase());
    // Copies, so a caller mutating a result cannot change the cache.
    return e && structuredClone(e);
  }

  put(domain: string, record: CachedPolicy): void {
    this.#entries.set(domain.toLowerCase(), { policy: structuredClone(record), lastFailure: null });
  }

  recordFetchFailure(domain: string, failure: CachedFailure): void {
    const key = domain.toLowerCase();
    const prev = this.#entries.get(key);
    this.#entries.set(key, { policy: prev?.policy ?? null, lastFailure: { ...failure } });
  }

  expiringBefore(before: number, now: number, limit: number): PolicyCacheEntry[] {
    return [...this.#entries.values()]
      .filter((e) => e.policy && e.policy.expiresAt > now && e.policy.expiresAt <= before)
      .sort((a, b) => a.policy!.expiresAt - b.policy!.expiresAt)
      .slice(0, limit)
      .map((e) => structuredClone(e));
  }

  get size(): number {
    return this.#entries.size;
  }
}
