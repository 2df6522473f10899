/**
 * Outgoing TLS reports (RFC 8460 §4): one report per policy domain and UTC day, aggregated from
 * the TLSRPT results every attempt recorded (delivery-rules §12: policy type and failure type).
 *
 * - §4.3 policy types: "sts" reports go to the recipient domain (the MTA-STS policy domain);
 *   "tlsa" (DANE) reports go to the MX host, whose own `_smtp._tls` record names the
 *   destination — the DANE policy is the MX host's TLSA records, not the recipient domain's;
 *   "no-policy-found" to the recipient domain. An MTA-STS and a DANE policy are never mixed in
 *   one report (§4: reports are per policy), so a report is keyed by (policy domain, DANE or not).
 * - §4.4 the JSON: organization-name, date-range (whole UTC day), contact-info, report-id,
 *   policies[]: policy (type, string, domain, mx-host), summary (successful / failed session
 *   counts) and failure-details grouped by result type, receiving host and IP.
 * - A session counts as successful when TLS was established and no failure was recorded, as a
 *   failure when a failure type was recorded; an attempt that never reached TLS (a refused
 *   connection, a DNS failure) is no TLS session and is not counted.
 * - policy-string and mx-host are the ones each attempt recorded when it was made (what was in
 *   force then; a policy that changed during the day gives two policy entries), and
 *   sending-mta-ip is the local address each attempt's connection had (behind NAT that is
 *   the private address: the only one a desktop sender knows). An attempt that failed before
 *   connecting (a policy fetch error) has none, and a detail is then reported without it.
 */
import type { Store } from '../store/store';

export const DAY_MS = 24 * 3600_000;

export interface ReportPolicy {
  policy: {
    'policy-type': 'sts' | 'tlsa' | 'no-policy-found';
    'policy-string'?: string[];
    'policy-domain': string;
    'mx-host'?: string[];
  };
  summary: { 'total-successful-session-count': number; 'total-failure-session-count': number };
  'failure-details'?: {
    'result-type': string;
    'sending-mta-ip'?: string;
    'receiving-mx-hostname'?: string;
    'receiving-ip'?: string;
    'failed-session-count': number;
    'additional-information'?: string;
  }[];
}

export interface TlsReport {
  'organization-name': string;
  'date-range': { 'start-datetime': string; 'end-datetime': string };
  'contact-info': string;
  'report-id': string;
  policies: ReportPolicy[];
}

export interface BuiltReport {
  /** Where the `_smtp._tls` record is looked up. */
  policyDomain: string;
  dane: boolean;
  report: TlsReport;
}

export interface ReportIdentity {
  organizationName: string;
  /** contact-info: an address that reads replies about reports. */
  contactInfo: string;
  /** The submitter's domain: report-id right side, file name, TLS-Report-Submitter. */
  submitter: string;
}

/** The UTC day "YYYY-MM-DD" as [start, end) in ms. */
export function utcDay(date: string): { start: number; end: number } {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error('a day is YYYY-MM-DD');
  const start = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== date) throw new Error(`${date} is not a date`);
  return { start, end: start + DAY_MS };
}

interface Row {
  domain: string;
  host: string | null;
  ip: string | null;
  local_ip: string | null;
  tlsrpt_policy_string: string | null;
  tlsrpt_mx_host: string | null;
  starttls: number;
  tlsrpt_policy: string | null;
  tlsrpt_failure: string | null;
  verification_reason: string | null;
  n: number;
}

interface Group {
  policyDomain: string;
  dane: boolean;
  type: ReportPolicy['policy']['policy-type'];
  policyString: string[] | null;
  mxHost: string[] | null;
  success: number;
  failure: number;
  details: Map<string, NonNullable<ReportPolicy['failure-details']>[number]>;
  recipientDomains: Set<string>;
}

/** The reports of one UTC day, one per policy domain (DANE apart), from the stored attempts. */
export async function buildDayReports(store: Store, date: string, who: ReportIdentity): Promise<BuiltReport[]> {
  const { start, end } = utcDay(date);
  const rows = store.db
    .prepare(
      `SELECT domain, host, ip, local_ip, tlsrpt_policy_string, tlsrpt_mx_host, starttls, tlsrpt_policy, tlsrpt_failure,
              min(verification_reason) AS verification_reason, count(*) AS n
       FROM attempts WHERE started_at >= ? AND started_at < ? AND tlsrpt_policy IS NOT NULL
       GROUP BY domain, host, ip, local_ip, tlsrpt_policy_string, tlsrpt_mx_host, starttls, tlsrpt_policy, tlsrpt_failure`,
    )
    .all(start, end) as Row[];
  const groups = new Map<string, Group>();
  for (const r of rows) {
    const type = r.tlsrpt_policy === 'sts' || r.tlsrpt_policy === 'tlsa' ? r.tlsrpt_policy : 'no-policy-found';
    const dane = type === 'tlsa';
    if (dane && !r.host) continue; // a DANE result without a host has no policy domain
    const policyDomain = (dane ? r.host! : r.domain).toLowerCase();
    const failed = r.tlsrpt_failure !== null;
    if (!failed && r.starttls !== 1) continue; // never reached TLS: not a TLS session
    // One policy entry per policy in force: the same type with another policy-string is another.
    const policyString = type === 'no-policy-found' ? null : r.tlsrpt_policy_string;
    const mxHost = type === 'sts' ? r.tlsrpt_mx_host : null;
    const key = `${policyDomain}|${dane ? 'dane' : 'sts'}|${type}|${policyString ?? ''}|${mxHost ?? ''}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        policyDomain,
        dane,
        type,
        policyString: policyString === null ? null : (JSON.parse(policyString) as string[]),
        mxHost: mxHost === null ? null : (JSON.parse(mxHost) as string[]),
        success: 0,
        failure: 0,
        details: new Map(),
        recipientDomains: new Set(),
      };
      groups.set(key, g);
    }
    g.recipientDomains.add(r.domain);
    if (!failed) {
      g.success += r.n;
      continue;
    }
    g.failure += r.n;
    const dkey = `${r.tlsrpt_failure}|${r.local_ip ?? ''}|${r.host ?? ''}|${r.ip ?? ''}`;
    const d = g.details.get(dkey) ?? {
      'result-type': r.tlsrpt_failure!,
      ...(r.local_ip ? { 'sending-mta-ip': r.local_ip } : {}),
      ...(r.host ? { 'receiving-mx-hostname': r.host } : {}),
      ...(r.ip ? { 'receiving-ip': r.ip } : {}),
      'failed-session-count': 0,
      ...(r.verification_reason ? { 'additional-information': r.verification_reason.slice(0, 200) } : {}),
    };
    d['failed-session-count'] += r.n;
    g.details.set(dkey, d);
  }

  // One report per (policy domain, DANE or not); its policies are the types seen that day.
  const byReport = new Map<string, Group[]>();
  for (const g of groups.values()) {
    const k = `${g.policyDomain}|${g.dane}`;
    byReport.set(k, [...(byReport.get(k) ?? []), g]);
  }
  const out: BuiltReport[] = [];
  for (const list of [...byReport.values()].sort((a, b) => a[0]!.policyDomain.localeCompare(b[0]!.policyDomain))) {
    const first = list[0]!;
    const policies: ReportPolicy[] = [];
    for (const g of list) {
      policies.push({
        policy: {
          'policy-type': g.type,
          ...(g.policyString ? { 'policy-string': g.policyString } : {}),
          'policy-domain': g.policyDomain,
          ...(g.mxHost?.length ? { 'mx-host': g.mxHost } : {}),
        },
        summary: { 'total-successful-session-count': g.success, 'total-failure-session-count': g.failure },
        ...(g.details.size ? { 'failure-details': [...g.details.values()] } : {}),
      });
    }
    out.push({
      policyDomain: first.policyDomain,
      dane: first.dane,
      report: {
        'organization-name': who.organizationName,
        // RFC 8460 §4.4 / RFC 3339: the whole UTC day.
        'date-range': { 'start-datetime': new Date(start).toISOString().replace('.000Z', 'Z'), 'end-datetime': new Date(end - 1000).toISOString().replace('.000Z', 'Z') },
        'contact-info': who.contactInfo,
        'report-id': `${date}T00:00:00Z.${first.dane ? 'dane' : 'sts'}.${first.policyDomain}@${who.submitter}`,
        policies,
      },
    });
  }
  return out;
}
