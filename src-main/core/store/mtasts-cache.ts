/**
 * The MTA-STS policy cache in SQLite (RFC 8461 §3.3, §5.1): policies survive restarts, which is
 * what makes MTA-STS resist an attacker who later blocks the policy fetch. The stored policy
 * text is the single source of truth and is parsed again on read.
 */
import type { CachedFailure, CachedPolicy, PolicyCache, PolicyCacheEntry } from '../tls-policy/mta-sts-cache';
import { parseMtaStsPolicy } from '../tls-policy/mta-sts-policy';
import type { Store } from './store';

interface Row {
  domain: string;
  policy_id: string | null;
  policy_text: string | null;
  fetched_at: number | null;
  expires_at: number | null;
  last_failure_at: number | null;
  last_failure: string | null;
}

export class SqlitePolicyCache implements PolicyCache {
  constructor(private readonly store: Store) {}

  get(domain: string): PolicyCacheEntry | undefined {
    // Asked before every delivery (the policy in force): the store's statement, prepared once.
    const row = this.store.statement('SELECT * FROM mtasts_policies WHERE domain = ?').get(domain.toLowerCase()) as Row | undefined;
    return row ? entryOf(row) : undefined;
  }

  expiringBefore(before: number, now: number, limit: number): PolicyCacheEntry[] {
    const rows = this.store.db
      .prepare('SELECT * FROM mtasts_policies WHERE expires_at > ? AND expires_at <= ? AND policy_text IS NOT NULL ORDER BY expires_at LIMIT ?')
      .all(now, before, limit) as Row[];
    return rows.map(entryOf).filter((e) => e.policy !== null);
  }

  put(domain: string, r: CachedPolicy): void {
    this.store.db
      .prepare(
        `INSERT INTO mtasts_policies (domain, policy_id, mode, mx, max_age, policy_text, fetched_at, expires_at, last_failure_at, last_failure)
         VALUES (@domain, @id, @mode, @mx, @maxAge, @policyText, @fetchedAt, @expiresAt, NULL, NULL)
         ON CONFLICT(domain) DO UPDATE SET policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx,
           max_age = excluded.max_age, policy_text = excluded.policy_text, fetched_at = excluded.fetched_at,
           expires_at = excluded.expires_at, last_failure_at = NULL, last_failure = NULL`,
      )
      .run({
        domain: domain.toLowerCase(),
        id: r.id,
        mode: r.policy.mode,
        mx: JSON.stringify(r.policy.mx),
        maxAge: r.policy.maxAge,
        policyText: r.policyText,
        fetchedAt: r.fetchedAt,
        expiresAt: r.expiresAt,
      });
  }

  recordFetchFailure(domain: string, f: CachedFailure): void {
    this.store.db
      .prepare(
        `INSERT INTO mtasts_policies (domain, last_failure_at, last_failure) VALUES (?, ?, ?)
         ON CONFLICT(domain) DO UPDATE SET last_failure_at = excluded.last_failure_at, last_failure = excluded.last_failure`,
      )
      .run(domain.toLowerCase(), f.at, JSON.stringify({ id: f.id, tlsrptFailure: f.tlsrptFailure, message: f.message }));
  }
}

/** A row as the decision logic sees it; the stored policy text is parsed again. */
function entryOf(row: Row): PolicyCacheEntry {
  let policy: CachedPolicy | null = null;
  if (row.policy_text !== null && row.policy_id !== null && row.fetched_at !== null && row.expires_at !== null) {
    try {
      policy = {
        domain: row.domain,
        id: row.policy_id,
        policy: parseMtaStsPolicy(row.policy_text),
        policyText: row.policy_text,
        fetchedAt: row.fetched_at,
        expiresAt: row.expires_at,
      };
    } catch {
      policy = null; // a row we cannot parse any more is as good as none
    }
  }
  let lastFailure: CachedFailure | null = null;
  if (row.last_failure_at !== null && row.last_failure) {
    const f = JSON.parse(row.last_failure) as Omit<CachedFailure, 'at'>;
    lastFailure = { ...f, at: row.last_failure_at };
  }
  return { policy, lastFailure };
}
