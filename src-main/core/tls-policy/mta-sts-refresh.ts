/**
 * Background refresh of cached MTA-STS policies (RFC 8461 §10.2; mox mtastsdb's refresher).
 *
 * RFC 8461 §10.2: a policy is only as good as the sender's cache — an attacker who blocks the
 * TXT lookup or the HTTPS fetch from the moment a policy expires gets every later delivery
 * without it. Senders therefore refresh policies before they expire, so that the one in force
 * is renewed (a fresh max_age) while the domain is reachable, not when mail is waiting.
 *
 * - Candidates: policies still in force that expire within REFRESH_MARGIN_MS (at most half
 *   their lifetime, so a short max_age is not refetched at once), soonest first.
 * - Gentle: at most `batch` domains per tick, one after the other, a tick every `intervalMs`.
 * - The same rules as a delivery's lookup (mta-sts.ts): TXT first (a vanished or invalid
 *   record leaves the cached policy alone until it expires, RFC 8461 §3.3), the same fetcher
 *   (PKIX, no redirects, size and time limits), the same parser, the same 5-minute back-off
 *   after a failed fetch. A refresh failure is recorded and KEEPS the cached policy.
 */
import type { Clock, TimerHandle } from '../clock';
import type { PolicyCache, PolicyCacheEntry } from './mta-sts-cache';
import type { MtaStsFetcher } from './mta-sts-fetch';
import { FETCH_BACKOFF_MS, refreshMtaSts, type TxtResolver } from './mta-sts';

/** Refresh a policy this long before it expires (capped at half its lifetime). */
export const REFRESH_MARGIN_MS = 12 * 3600_000;
export const DEFAULT_REFRESH_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_REFRESH_BATCH = 4;

export interface RefresherOptions {
  cache: PolicyCache;
  resolver: TxtResolver;
  fetcher: MtaStsFetcher;
  clock: Clock;
  intervalMs?: number;
  batch?: number;
  /** Called with each domain's outcome (for logs and tests). */
  onResult?: (r: RefreshResult) => void;
}

export type RefreshResult = Awaited<ReturnType<typeof refreshMtaSts>>;

/** Whether a cached entry is due for a background refresh now. */
export function refreshDue(e: PolicyCacheEntry, now: number): boolean {
  const p = e.policy;
  if (!p || now >= p.expiresAt) return false;
  const margin = Math.min(REFRESH_MARGIN_MS, (p.expiresAt - p.fetchedAt) / 2);
  if (now < p.expiresAt - margin) return false;
  // The same back-off as a delivery's lookup after a failed fetch (RFC 8461 §3.3 / mox).
  const f = e.lastFailure;
  return !(f && now >= f.at && now - f.at < FETCH_BACKOFF_MS);
}

export class MtaStsRefresher {
  readonly #o: Required<Omit<RefresherOptions, 'onResult'>> & Pick<RefresherOptions, 'onResult'>;
  #timer: TimerHandle | undefined;
  #running: Promise<RefreshResult[]> | undefined;
  #stopped = true;

  constructor(opts: RefresherOptions) {
    this.#o = { intervalMs: DEFAULT_REFRESH_INTERVAL_MS, batch: DEFAULT_REFRESH_BATCH, ...opts };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#arm();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** Resolves when the tick in progress (if any) is done (tests advancing a manual clock). */
  async settled(): Promise<void> {
    await this.#running?.catch(() => undefined);
  }

  /** One tick: refreshes up to `batch` due policies, sequentially. */
  async runOnce(): Promise<RefreshResult[]> {
    const now = this.#o.clock.now();
    const candidates = await this.#o.cache.expiringBefore(now + REFRESH_MARGIN_MS, now, this.#o.batch * 4);
    const due = candidates.filter((e) => refreshDue(e, now)).slice(0, this.#o.batch);
    const results: RefreshResult[] = [];
    for (const e of due) {
      if (this.#stopped && this.#running) break; // stop() during a tick: finish the current one only
      const r = await refreshMtaSts(e.policy!.domain, { resolver: this.#o.resolver, fetcher: this.#o.fetcher, cache: this.#o.cache, clock: this.#o.clock });
      results.push(r);
      this.#o.onResult?.(r);
    }
    return results;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(this.#o.intervalMs, () => {
      this.#timer = undefined;
      this.#running = this.runOnce()
        .catch(() => [] as RefreshResult[]) // a broken tick must not end the refresher
        .finally(() => {
          this.#running = undefined;
          this.#arm();
        });
    });
  }
}
