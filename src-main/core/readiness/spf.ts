/**
 * Check "spf" (per identity): does the From domain's SPF record permit each public address?
 *
 * RFC 7208 §2.6 results, evaluated by mailauth's SPF implementation (§4 check_host, §4.6.4
 * lookup limits, §5 mechanisms) through our resolver. We send with the From address as MAIL
 * FROM (compose/build.ts), so this is exactly what receivers will compute — and, the domains
 * being the same, an SPF pass is also DMARC-aligned (RFC 7489 §3.1.2).
 */
import net from 'node:net';
import { spf } from 'mailauth/lib/spf';
import type { ReadinessCheck, ReadinessStatus } from '../../../shared/readiness';
import { worstStatus } from '../../../shared/readiness';
import { mailauthResolver } from './mailauth-resolver';
import { check, errorText, type ReadinessDeps, type ReadinessIdentity } from './types';

export interface SpfResult {
  check: ReadinessCheck;
  /** SPF passes for every public address (the DMARC check uses it). */
  passesForAll: boolean;
}

/** RFC 7208 §2.6 result → verdict. */
const VERDICT: Record<string, ReadinessStatus> = {
  pass: 'pass',
  neutral: 'warn',
  softfail: 'warn',
  none: 'warn',
  fail: 'fail',
  permerror: 'fail',
  temperror: 'unknown',
};

export async function checkSpf(deps: ReadinessDeps, identity: ReadinessIdentity, ips: readonly string[]): Promise<SpfResult> {
  const domain = identity.address.split('@').pop()!.toLowerCase();
  if (ips.length === 0) {
    return { check: check('spf', 'unknown', `No public address is known, so the SPF record of ${domain} cannot be evaluated.`, 'Fix the public address check first.', { domain, results: [] }, identity.address), passesForAll: false };
  }
  const resolver = mailauthResolver(deps.resolver);
  const results = await Promise.all(
    ips.map(async (ip) => {
      try {
        const r = await spf({ sender: identity.address, ip, helo: deps.ehloName, mta: 'outbox-doctor', resolver } as Parameters<typeof spf>[0]);
        const s = r.status as { result: string; comment?: string | false };
        return { ip, result: s.result, comment: typeof s.comment === 'string' ? s.comment : null, record: (r as { rr?: string }).rr ?? null };
      } catch (e) {
        return { ip, result: 'temperror', comment: errorText(e), record: null };
      }
    }),
  );
  const evidence = { domain, results };
  const status = worstStatus(results.map((r) => VERDICT[r.result] ?? 'unknown'));
  const record = results.find((r) => r.record)?.record ?? null;
  const mechanisms = ips.map((ip) => (net.isIP(ip) === 6 ? `ip6:${ip}` : `ip4:${ip}`)).join(' ');
  const notPassing = results.filter((r) => r.result !== 'pass');
  const make = (summary: string, fix: string | null) => ({ check: check('spf', status, summary, fix, evidence, identity.address), passesForAll: notPassing.length === 0 });
  if (status === 'pass') return make(`The SPF record of ${domain} permits ${ips.join(', ')}.`, null);
  const first = notPassing.find((r) => VERDICT[r.result] === status) ?? notPassing[0]!;
  if (status === 'unknown') return make(`SPF of ${domain} could not be evaluated for ${first.ip}: ${first.comment ?? 'temporary DNS error'}.`, 'Check your DNS resolver, then run the check again.');
  if (first.result === 'none') return make(`${domain} publishes no SPF record.`, `Publish a TXT record at ${domain}: "v=spf1 ${mechanisms} ~all".`);
  if (first.result === 'permerror') return make(`The SPF record of ${domain} is broken: ${first.comment ?? 'permanent error'}.`, `Fix the SPF record of ${domain} so that it parses and stays within 10 DNS lookups.`);
  return make(
    `The SPF record of ${domain} does not permit ${first.ip} (result: ${first.result}).`,
    `Add ${notPassing.map((r) => (net.isIP(r.ip) === 6 ? `ip6:${r.ip}` : `ip4:${r.ip}`)).join(' ')} to the SPF record of ${domain}${record ? ` (now "${record}")` : ''}.`,
  );
}
