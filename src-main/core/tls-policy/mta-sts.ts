/**
 * Which MTA-STS policy applies to a recipient domain right now (RFC 8461 §3.3, §5.1 and the
 * policy-discovery rules of §3): TXT lookup, cache, fetch, backoff. The result says which mode
 * governs delivery and, when discovery went wrong, the RFC 8460 failure to record.
 *
 * Decisions (delivery-rules.md §2, following mox's mtastsdb):
 * 1. The TXT record is looked up at `_mta-sts.<domain>` of the original recipient domain (never a
 *    CNAME target — the resolver's answer is used as is).
 * 2. A cached, unexpired policy fetched under the same TXT id is used without fetching.
 * 3. No cached policy, or the id changed → fetch and parse. Success replaces the cache entry.
 * 4. Fetch or parse failure → remember it and do not fetch again for that id for 5 minutes
 *    (RFC 8461 §3.3 suggests "five minutes or longer per version ID"). Meanwhile a still-valid
 *    cached policy keeps applying (RFC 8461 §3.3: "if no live policy can be discovered via DNS
 *    or fetched via HTTPS, but a valid (non-expired) policy exists in the sender's cache, the
 *    sender MUST apply that cached policy"); without one, delivery proceeds as if the domain
 *    had no policy (same section), with the failure recorded.
 * 5. TXT record gone or malformed → a cached policy stays in force until it expires (RFC 8461
 *    §3.3, §8.3: a domain removes MTA-STS by publishing mode none, not by deleting the record);
 *    without one, no policy.
 * 6. Temporary DNS failure → the cached policy if valid, else a temporary failure (thrown), so
 *    that a DNS outage — or an attacker dropping DNS packets — cannot turn MTA-STS off on first
 *    contact. The caller may ignore it for "TLS-Required: No" (RFC 8689 §5).
 *
 * Threat addressed: an attacker on the DNS or HTTP path trying to make the sender believe there
 * is no policy (downgrade), or to make it hammer the recipient's web server (§3.3 rate limit).
 */
import type { Clock } from '../clock';
import { DeliveryError, isDeliveryError } from '../errors';
import type { PolicyCache, CachedPolicy } from './mta-sts-cache';
import type { MtaStsFetcher } from './mta-sts-fetch';
import { normalizeHostName, parseMtaStsPolicy, type MtaStsMode, type MtaStsPolicy } from './mta-sts-policy';
import { selectMtaStsRecord, type MtaStsRecord } from './mta-sts-record';
import { TlsPolicyError } from './policy-error';
import type { TlsrptFailure } from './tlsrpt';

/** The part of core/dns's resolver this module needs. */
export interface TxtResolver {
  txt(name: string): Promise<{ records: string[] }>;
}

export interface ResolveMtaStsOptions {
  resolver: TxtResolver;
  fetcher: MtaStsFetcher;
  cache: PolicyCache;
  clock: Pick<Clock, 'now'>;
}

export interface MtaStsResult {
  /** The mode that governs delivery; null = no policy (RFC 8460 policy type no-policy-found). */
  mode: MtaStsMode | null;
  policy?: MtaStsPolicy;
  /** The id the policy was fetched under. */
  id?: string;
  /** Policy body as fetched (RFC 8460 §4.4 policy-string). */
  policyText?: string;
  fromCache: boolean;
  /** A discovery problem to record, even when a cached policy still applies. */
  error?: { tlsrptFailure: TlsrptFailure; message: string };
}

/** RFC 8461 §3.3: do not retry a failed fetch for the same id within five minutes. */
export const FETCH_BACKOFF_MS = 5 * 60 * 1000;

export async function resolveMtaSts(domain: string, opts: ResolveMtaStsOptions): Promise<MtaStsResult> {
  const d = normalizeHostName(domain);
  if (d === null) {
    throw new DeliveryError({ code: 'INVALID_INPUT', stage: 'policy', permanent: true, message: `invalid recipient domain ${JSON.stringify(domain.slice(0, 64))}` });
  }
  const { resolver, fetcher, cache, clock } = opts;
  const entry = await cache.get(d);
  const now = clock.now();
  const cached = entry?.policy && now < entry.policy.expiresAt ? entry.policy : null;
  const useCached = (error?: MtaStsResult['error']): MtaStsResult => ({
    mode: cached!.policy.mode,
    policy: cached!.policy,
    id: cached!.id,
    policyText: cached!.policyText,
    fromCache: true,
    ...(error ? { error } : {}),
  });

  // Step 1: the TXT record.
  let txts: string[];
  try {
    txts = (await resolver.txt(`_mta-sts.${d}`)).records;
  } catch (e) {
    if (isDeliveryError(e) && e.code === 'DNS_NXDOMAIN') {
      txts = [];
    } else {
      if (cached) return useCached();
      const message = e instanceof Error ? e.message : String(e);
      throw new DeliveryError({
        code: 'DNS_TEMPORARY',
        stage: 'policy',
        permanent: false,
        message: `MTA-STS record lookup for ${d} failed: ${message}`,
        cause: e,
      });
    }
  }

  let record: MtaStsRecord | null;
  try {
    record = selectMtaStsRecord(txts);
  } catch (e) {
    // RFC 8461 §3.1: an invalid record means "no available policy" — but a cached one stays.
    const error = { tlsrptFailure: 'sts-policy-invalid' as const, message: errorMessage(e) };
    return cached ? useCached(error) : { mode: null, fromCache: false, error };
  }
  if (record === null) {
    // RFC 8461 §3.3: a vanished TXT record does not end a cached policy before max_age.
    return cached ? useCached() : { mode: null, fromCache: false };
  }

  // Step 2: the cached policy is current for this id.
  if (cached && cached.id === record.id) return useCached();

  // Step 3: backoff after a recent failure for this id (RFC 8461 §3.3).
  const failure = entry?.lastFailure;
  if (failure && now - failure.at < FETCH_BACKOFF_MS && now >= failure.at && (failure.id === null || failure.id === record.id)) {
    const error = {
      tlsrptFailure: failure.tlsrptFailure,
      message: `${failure.message} (not retried before ${new Date(failure.at + FETCH_BACKOFF_MS).toISOString()})`,
    };
    return cached ? useCached(error) : { mode: null, fromCache: false, error };
  }

  // Step 4: fetch and parse.
  const fetched = await fetchAndCache(d, record.id, opts, now);
  if ('error' in fetched) return cached ? useCached(fetched.error) : { mode: null, fromCache: false, error: fetched.error };
  const { fresh } = fetched;
  return { mode: fresh.policy.mode, policy: fresh.policy, id: record.id, policyText: fresh.policyText, fromCache: false };
}

/**
 * Fetches and parses the policy for `id` and caches it; a failure is remembered for the
 * back-off and leaves any cached policy in place. The one fetch path of lookups and refreshes.
 */
async function fetchAndCache(
  d: string,
  id: string,
  opts: Pick<ResolveMtaStsOptions, 'fetcher' | 'cache'>,
  now: number,
): Promise<{ fresh: CachedPolicy } | { error: NonNullable<MtaStsResult['error']> }> {
  let text: string;
  let policy: MtaStsPolicy;
  try {
    text = await opts.fetcher(d);
    policy = parseMtaStsPolicy(text);
  } catch (e) {
    const tlsrptFailure: TlsrptFailure = e instanceof TlsPolicyError ? e.tlsrptFailure : 'sts-policy-fetch-error';
    const message = errorMessage(e);
    await opts.cache.recordFetchFailure(d, { at: now, id, tlsrptFailure, message });
    return { error: { tlsrptFailure, message } };
  }
  const fresh: CachedPolicy = {
    domain: d,
    id,
    policy,
    policyText: text,
    fetchedAt: now,
    // RFC 8461 §3.2: max_age is the policy's lifetime in the cache (0: this delivery only).
    expiresAt: now + policy.maxAge * 1000,
  };
  await opts.cache.put(d, fresh);
  return { fresh };
}

/**
 * The background refresh of one cached policy (RFC 8461 §10.2; mta-sts-refresh.ts schedules
 * it): the TXT record first — gone, invalid or unreachable, the cached policy stays until it
 * expires (§3.3) — then the same fetch as a lookup, renewing max_age even when the id did not
 * change. Failures are recorded (back-off) and keep the cached policy.
 */
export async function refreshMtaSts(
  domain: string,
  opts: ResolveMtaStsOptions,
): Promise<{ domain: string; outcome: 'refreshed'; id: string; expiresAt: number } | { domain: string; outcome: 'kept'; reason: string }> {
  const d = normalizeHostName(domain) ?? domain;
  const now = opts.clock.now();
  let record: MtaStsRecord | null;
  try {
    record = selectMtaStsRecord((await opts.resolver.txt(`_mta-sts.${d}`)).records);
  } catch (e) {
    return { domain: d, outcome: 'kept', reason: `MTA-STS record lookup failed: ${errorMessage(e)}` };
  }
  if (record === null) return { domain: d, outcome: 'kept', reason: 'no MTA-STS record; the cached policy stays until it expires' };
  const fetched = await fetchAndCache(d, record.id, opts, now);
  if ('error' in fetched) return { domain: d, outcome: 'kept', reason: fetched.error.message };
  return { domain: d, outcome: 'refreshed', id: record.id, expiresAt: fetched.fresh.expiresAt };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
