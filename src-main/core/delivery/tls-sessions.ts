/**
 * TLS session resumption to MX hosts (RFC 8446 §2.2 tickets, RFC 5077 for TLS 1.2; issue 14
 * item 3). Postfix keeps the same cache (smtp_tls_session_cache_database).
 *
 * A resumed session carries no peer certificate chain, so our own verification (DANE, MTA-STS
 * PKIX, decided in host-attempt.ts verify()) cannot run on it. The cache therefore keeps, with
 * each ticket, the verification outcome and the chain of the full handshake that established
 * it, under the same key the session pool uses (reuseKey: transport, host, address, port, SNI,
 * the host's whole TLS policy and the trusted CA configuration). A ticket is offered only for a
 * delivery with that very key — never across a changed DANE or MTA-STS policy or CA set — and
 * only when its recorded outcome satisfies what the policy requires (resumable()). When the
 * server resumes, the cached outcome is recorded again (not recomputed); when it does a full
 * handshake, verification runs as for any new session and the entry is replaced or dropped.
 *
 * Bounds: at most `maxEntries` keys (least recently used dropped first), each for at most
 * `ttlMs` and never past the leaf certificate's notAfter.
 */
import { X509Certificate } from 'node:crypto';
import type { Clock } from '../clock';
import type { HostPolicy } from './host-policy';
import type { SessionFacts } from './session-pool';

export const DEFAULT_TLS_SESSION_TTL_MS = 600_000;
export const DEFAULT_TLS_SESSION_ENTRIES = 1000;

export interface TlsSessionCacheOptions {
  clock: Clock;
  ttlMs?: number | undefined;
  maxEntries?: number | undefined;
}

/** A ticket and what the full handshake that issued it established and verified. */
export interface CachedTlsSession {
  /** The serialised session (Node's 'session' event), offered as tls.connect's `session`. */
  ticket: Buffer;
  /** The full handshake's facts: chain, fingerprint, PKIX verdict, DANE, verification verdict. */
  facts: SessionFacts;
  expiresAt: number;
}

/**
 * Whether a session established with `facts` may stand for a new one under `policy` without a
 * full handshake: it must have been verified the way the policy requires — DANE (dane-ee or
 * dane-ta) where DANE decides, PKIX where MTA-STS enforce requires it (REQUIRETLS always has
 * one of the two, host-policy.ts) — whether or not the policy would only record a failure.
 * Without a required verification (opportunistic TLS, all-unusable TLSA) TLS itself suffices,
 * and the verdict it had is recorded again as it was.
 */
export function resumable(policy: Extract<HostPolicy, { allowed: true }>, facts: SessionFacts): boolean {
  if (!facts.tls) return false;
  const method = facts.verdict?.kind === 'verified' ? facts.verdict.method : null;
  if (policy.requiredVerification === 'dane') return facts.daneApplied && (method === 'dane-ee' || method === 'dane-ta');
  if (policy.requiredVerification === 'pkix') return method === 'pkix';
  return true;
}

export class TlsSessionCache {
  readonly #clock: Clock;
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** Insertion order is recency: a hit is moved to the end, the first is evicted. */
  readonly #entries = new Map<string, CachedTlsSession>();

  constructor(o: TlsSessionCacheOptions) {
    this.#clock = o.clock;
    this.ttlMs = Math.max(0, o.ttlMs ?? DEFAULT_TLS_SESSION_TTL_MS);
    this.maxEntries = Math.max(0, o.maxEntries ?? DEFAULT_TLS_SESSION_ENTRIES);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry for `key` (expired ones are dropped), or undefined. */
  get(key: string): CachedTlsSession | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.#entries.delete(key);
    if (e.expiresAt <= this.#clock.now()) return undefined;
    this.#entries.set(key, e);
    return e;
  }

  /**
   * Keeps the newest ticket of a verified full handshake, or of a resumption of it: then with
   * the original facts and `notAfter` = the original entry's expiry, so a chain of resumptions
   * never outlives the verification it stands for. `facts` must be the full handshake's.
   * `notAfter` defaults to the leaf certificate's.
   */
  set(key: string, ticket: Buffer, facts: SessionFacts, notAfter: number = leafNotAfter(facts)): void {
    if (this.maxEntries === 0 || this.ttlMs === 0) return;
    const expiresAt = Math.min(this.#clock.now() + this.ttlMs, notAfter);
    if (expiresAt <= this.#clock.now()) return;
    this.#entries.delete(key);
    this.#entries.set(key, { ticket, facts, expiresAt });
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Forgets `key` (a full handshake that failed, or was not verified as the policy requires). */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** The leaf certificate's notAfter (ms); a resumed session is not trusted past it. */
function leafNotAfter(facts: SessionFacts): number {
  const leaf = facts.tls?.chain[0];
  if (!leaf) return 0;
  try {
    return Date.parse(new X509Certificate(leaf).validTo);
  } catch {
    return 0;
  }
}
