/**
 * The connection cache (as Postfix's smtp connection cache): after a transaction, the SMTP
 * session to a host stays open for the next message to the same destination, which starts
 * with RSET (RFC 5321 §4.1.1.5, §4.1.4: a client may send several transactions in one
 * session). A session is kept at most `maxTransactions` transactions and `maxAgeMs`, and closed
 * (QUIT) when idle for `idleMs`.
 *
 * The key is everything that decided how the session was established: transport (dialer, IP
 * family, SOCKS proxy), host, address and port, and the TLS policy the host got (the message's
 * TLS mode, MTA-STS mode, DANE records and reference names, what verification was required,
 * whether REQUIRETLS is needed) plus the trusted CA configuration. A message whose lookups give
 * a different policy gets a different key, hence a new session: a session is reused only when
 * its verification outcome was reached under exactly the policy the next message has (never a
 * PKIX-checked session for a DANE host, never a session without REQUIRETLS for a REQUIRETLS
 * message). The verification result travels with the session (`facts`), so it is recorded
 * again — not recomputed — for every message the session carries.
 *
 * Threat: a stale or hijacked idle connection. An idle session is not trusted to be alive: the
 * RSET that starts its next transaction must get 250, or the session is dropped and a new one
 * opened (not counted as a failure of the message). Sessions that fell back to plaintext are
 * never kept: each message tries STARTTLS again.
 */
import type { AchievedVerification, TlsrptFailure } from '../../../shared/domain';
import type { Clock, TimerHandle } from '../clock';
import type { SmtpSession, TlsInfo } from '../smtp/client';

export interface SessionPoolOptions {
  clock: Clock;
  /** Transactions one session may carry (Postfix: smtp_connection_reuse_count_limit). */
  maxTransactions?: number | undefined;
  /** Idle sessions are closed after this long (Postfix: smtp_connection_cache_time_limit, 2 s). */
  idleMs?: number | undefined;
  /** A session is not reused once it is this old (Postfix: smtp_connection_reuse_time_limit). */
  maxAgeMs?: number | undefined;
  /** Idle sessions kept in all; the oldest is closed beyond that. */
  maxIdle?: number | undefined;
}

export const DEFAULT_MAX_TRANSACTIONS = 100;
export const DEFAULT_IDLE_MS = 5_000;
export const DEFAULT_MAX_AGE_MS = 300_000;
export const DEFAULT_MAX_IDLE = 64;

/** How a session was secured, as established: recorded again for each message it carries. */
export interface SessionFacts {
  /** The handshake's facts (version, cipher, chain, PKIX verdict); null: no TLS. */
  tls: TlsInfo | null;
  /** The server did not offer STARTTLS (and no policy required it). */
  starttlsMissing: boolean;
  /** DANE decided the verification (usable TLSA records). */
  daneApplied: boolean;
  verdict: { kind: 'verified'; method: AchievedVerification } | { kind: 'not-verified'; reason: string; failure: TlsrptFailure | null } | null;
  /** The connection's addresses when it was opened (a reused attempt's sending-mta-ip). */
  endpoint?: { localAddress: string | undefined; remoteAddress: string | undefined } | undefined;
}

/** A kept session with its TLS facts. */
export interface PooledSession {
  session: SmtpSession;
  facts: SessionFacts;
}

interface Idle {
  key: string;
  entry: PooledSession;
  timer: TimerHandle;
}

export class SessionPool {
  readonly #clock: Clock;
  readonly maxTransactions: number;
  readonly idleMs: number;
  readonly maxAgeMs: number;
  readonly maxIdle: number;
  /** Idle sessions per key, most recently returned last. */
  readonly #idle = new Map<string, Idle[]>();
  #count = 0;
  #closed = false;

  constructor(o: SessionPoolOptions) {
    this.#clock = o.clock;
    this.maxTransactions = Math.max(1, o.maxTransactions ?? DEFAULT_MAX_TRANSACTIONS);
    this.idleMs = Math.max(0, o.idleMs ?? DEFAULT_IDLE_MS);
    this.maxAgeMs = o.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.maxIdle = Math.max(0, o.maxIdle ?? DEFAULT_MAX_IDLE);
  }

  /** Idle sessions now held. */
  get size(): number {
    return this.#count;
  }

  /** Takes an idle session for `key` (exclusively), or undefined. The caller RSETs it. */
  take(key: string): PooledSession | undefined {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const idle = list.pop()!;
      this.#count--;
      idle.timer.cancel();
      if (list.length === 0) this.#idle.delete(key);
      if (this.#usable(idle.entry)) return idle.entry;
      void idle.entry.session.quit();
    }
    return undefined;
  }

  /**
   * Offers a session back after a transaction; it is kept when it may carry another one, else
   * closed with QUIT. The pool owns it from now on.
   */
  give(key: string, entry: PooledSession): void {
    if (this.#closed || this.maxIdle === 0 || !this.#usable(entry)) {
      void entry.session.quit();
      return;
    }
    if (this.#count >= this.maxIdle) this.#evictOldest();
    const idle: Idle = {
      key,
      entry,
      timer: this.#clock.setTimer(this.idleMs, () => this.#drop(idle)),
    };
    const list = this.#idle.get(key) ?? [];
    list.push(idle);
    this.#idle.set(key, list);
    this.#count++;
  }

  /** Closes every idle session (QUIT). For the queue's stop and pause, and the app's close. */
  async closeIdle(): Promise<void> {
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    this.#count = 0;
    for (const i of all) i.timer.cancel();
    await Promise.all(all.map((i) => i.entry.session.quit()));
  }

  /** Closes the idle sessions and keeps no more (sessions in use are closed when given back). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.closeIdle();
  }

  #usable(e: PooledSession): boolean {
    const s = e.session;
    return !s.broken && s.transactions < this.maxTransactions && this.#clock.now() - s.openedAt < this.maxAgeMs;
  }

  #drop(idle: Idle): void {
    const list = this.#idle.get(idle.key);
    const at = list?.indexOf(idle) ?? -1;
    if (!list || at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.#idle.delete(idle.key);
    this.#count--;
    void idle.entry.session.quit();
  }

  #evictOldest(): void {
    let oldest: Idle | undefined;
    for (const list of this.#idle.values()) {
      const first = list[0];
      if (first && (!oldest || first.entry.session.openedAt < oldest.entry.session.openedAt)) oldest = first;
    }
    if (oldest) {
      oldest.timer.cancel();
      this.#drop(oldest);
    }
  }
}
