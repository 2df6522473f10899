/**
 * The readiness report (delivery-rules.md §14): what `outbox doctor --json` prints, what the
 * `readiness.run` IPC channel returns and what the renderer's panel shows — one type for all
 * three. Each check has a verdict, the evidence it was made from, and at most one sentence on
 * what to do.
 */
import { z } from 'zod';

export const ReadinessCheckId = z.enum(['port25', 'public-ip', 'ptr', 'dnsbl', 'spf', 'dmarc', 'dkim', 'mx', 'resolver-dnssec', 'ipv6']);
export type ReadinessCheckId = z.infer<typeof ReadinessCheckId>;

/** pass: fine; warn: works, but something will hurt; fail: mail will not get through; unknown: could not tell. */
export const ReadinessStatus = z.enum(['pass', 'warn', 'fail', 'unknown']);
export type ReadinessStatus = z.infer<typeof ReadinessStatus>;

export const ReadinessCheck = z.object({
  id: ReadinessCheckId,
  /** For the per-identity checks (spf, dmarc, dkim, mx): the From address checked. */
  identity: z.string().nullable(),
  status: ReadinessStatus,
  /** One plain sentence: what was found. */
  summary: z.string(),
  /** One plain sentence: what to do; null when there is nothing to do. */
  fix: z.string().nullable(),
  /** What the verdict was made from (addresses, records, replies), as JSON data. */
  evidence: z.record(z.string(), z.unknown()),
});
export type ReadinessCheck = z.infer<typeof ReadinessCheck>;

export const ReadinessReport = z.object({
  /** When the checks ran (ms since the epoch). */
  ranAt: z.number(),
  checks: z.array(ReadinessCheck),
});
export type ReadinessReport = z.infer<typeof ReadinessReport>;

/** The order verdicts are ranked in when several are folded into one (worst last). */
const RANK: Record<ReadinessStatus, number> = { pass: 0, unknown: 1, warn: 2, fail: 3 };

export function worstStatus(statuses: readonly ReadinessStatus[]): ReadinessStatus {
  return statuses.reduce<ReadinessStatus>((w, s) => (RANK[s] > RANK[w] ? s : w), 'pass');
}

/** What compose shows before sending (issue 12 item 5). */
export const ReadinessSendBlock = z.object({
  /** The last readiness run found outbound port 25 blocked. */
  port25Blocked: z.boolean(),
  /** The transport a route would carry this message through instead (null: direct). */
  carriedBy: z.string().nullable(),
  /** Warn: port 25 is blocked and nothing but direct delivery would carry the message. */
  blocked: z.boolean(),
  /** When the readiness report this is based on was made. */
  checkedAt: z.number().nullable(),
});
export type ReadinessSendBlock = z.infer<typeof ReadinessSendBlock>;
