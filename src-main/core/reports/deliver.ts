/**
 * Sending TLS reports (RFC 8460 §5): gzip'd JSON (§5.2, application/tlsrpt+gzip), to each
 * `rua` of the policy domain's `_smtp._tls` record (§3):
 * - mailto: (§5.3) a multipart/report; report-type="tlsrpt" message with the report attached,
 *   Subject "Report Domain: … Submitter: … Report-ID: <…>", TLS-Report-Domain and
 *   TLS-Report-Submitter, and `TLS-Required: No` (RFC 8689 §5, RFC 8460 §3: a report about TLS
 *   trouble must get through that trouble); DKIM-signed with the reporting identity's keys
 *   (§3: "the report SHOULD be DKIM-signed") and queued through the outbox like any message.
 * - https: (§5.4) POST with Content-Type application/tlsrpt+gzip; any 2xx is success.
 * Each (day, report, destination) is sent at most once: a restart or a second run does not
 * send the same report again.
 *
 * Threat addressed: a hostile record pointing the POST anywhere (only https:, PKIX-verified;
 * the response body is not read beyond a small limit; a timeout bounds the wait).
 */
import crypto from 'node:crypto';
import https from 'node:https';
import zlib from 'node:zlib';
import type { Clock } from '../clock';
import type { DkimOptions } from '../compose/build';
import type { Resolver } from '../dns/types';
import type { Store } from '../store/store';
import { submitBytes } from '../submit-bytes';
import { lookupVia } from '../tls-policy/mta-sts-fetch';
import { caWithExtra } from '../tls-policy/pkix';
import { buildDayReports, utcDay, type BuiltReport, type ReportIdentity } from './report';
import { selectTlsrptRecord } from './tlsrpt-record';

/** POSTs a report; resolves on 2xx, rejects with the reason otherwise. */
export type ReportPoster = (url: string, body: Buffer) => Promise<void>;

export interface ReportSendDeps {
  store: Store;
  clock: Clock;
  resolver: Resolver;
  post: ReportPoster;
  who: ReportIdentity;
  /** The keys of the identity the reports are from: mailto: reports are DKIM-signed with them. */
  dkim?: readonly DkimOptions[];
  identityId?: number | null;
}

export interface DestinationResult {
  policyDomain: string;
  dane: boolean;
  destination: string;
  ok: boolean;
  detail: string;
}

/** §5.1: sender!policy-domain!begin!end!unique-id.json.gz (timestamps in seconds). */
export function reportFileName(submitter: string, policyDomain: string, start: number, end: number, uniqueId: string): string {
  return `${submitter}!${policyDomain}!${Math.floor(start / 1000)}!${Math.floor(end / 1000)}!${uniqueId}.json.gz`;
}

export function gzipReport(r: BuiltReport): Buffer {
  return zlib.gzipSync(Buffer.from(JSON.stringify(r.report)));
}

/** The §5.3 report message (CRLF). */
export function composeReportMail(o: { from: string; to: string; submitter: string; policyDomain: string; reportId: string; gz: Buffer; filename: string; date: number }): Buffer {
  const boundary = `=_tlsrpt_${crypto.createHash('sha256').update(o.reportId + o.to).digest('hex').slice(0, 24)}`;
  const b64 = o.gz.toString('base64').replace(/.{1,76}/g, '$&\r\n');
  const lines = [
    `From: <${o.from}>`,
    `To: <${o.to}>`,
    `Subject: Report Domain: ${o.policyDomain} Submitter: ${o.submitter} Report-ID: <${o.reportId}>`,
    `Date: ${new Date(o.date).toUTCString().replace(/GMT$/, '+0000')}`,
    `Message-ID: <tlsrpt.${crypto.randomBytes(12).toString('hex')}@${o.submitter}>`,
    `TLS-Report-Domain: ${o.policyDomain}`,
    `TLS-Report-Submitter: ${o.submitter}`,
    'TLS-Required: No',
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type="tlsrpt";\r\n boundary="${boundary}"`,
    '',
    'This is a multipart message in MIME format.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    '',
    `This is an aggregate TLS report (RFC 8460) from ${o.submitter} about ${o.policyDomain}.`,
    '',
    `--${boundary}`,
    'Content-Type: application/tlsrpt+gzip',
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${o.filename}"`,
    '',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n${b64}\r\n--${boundary}--\r\n`, 'latin1');
}

/** The default poster: HTTPS with PKIX verification (plus extra roots), bounded in time and size. */
export function httpsPoster(opts: { ca?: string[]; timeoutMs?: number; connectTo?: (host: string) => string | Promise<string> } = {}): ReportPoster {
  return async (url, body) => {
    const u = new URL(url);
    await new Promise<void>((resolve, reject) => {
      const req = https.request(
        {
          method: 'POST',
          host: u.hostname,
          servername: u.hostname,
          port: u.port || 443,
          path: `${u.pathname}${u.search}`,
          headers: { 'content-type': 'application/tlsrpt+gzip', 'content-length': body.length },
          ...(opts.ca?.length ? { ca: caWithExtra(opts.ca) } : {}),
          ...(opts.connectTo ? { lookup: lookupVia(opts.connectTo) } : {}),
          timeout: opts.timeoutMs ?? 30_000,
        },
        (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n > 64 * 1024) res.destroy();
          });
          res.on('end', () => ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
  };
}

/**
 * Builds the day's reports and sends each to its destinations, skipping those already sent.
 * Returns what happened per destination (also recorded in the store).
 */
export async function sendDayReports(deps: ReportSendDeps, date: string): Promise<DestinationResult[]> {
  const { store, clock } = deps;
  const { start, end } = utcDay(date);
  const reports = await buildDayReports(store, date, deps.who);
  const done = store.db.prepare('SELECT 1 FROM tls_report_sends WHERE day = ? AND policy_domain = ? AND dane = ? AND destination = ? AND ok = 1');
  const record = store.db.prepare(
    `INSERT INTO tls_report_sends (day, policy_domain, dane, destination, at, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(day, policy_domain, dane, destination) DO UPDATE SET at = excluded.at, ok = excluded.ok, detail = excluded.detail`,
  );
  const out: DestinationResult[] = [];
  for (const r of reports) {
    let txts: string[];
    try {
      txts = (await deps.resolver.txt(`_smtp._tls.${r.policyDomain}`)).records;
    } catch {
      continue; // no record (or no answer): this domain does not take reports
    }
    const rec = selectTlsrptRecord(txts);
    if (!rec) continue;
    const gz = gzipReport(r);
    const uniqueId = crypto.createHash('sha256').update(r.report['report-id']).digest('hex').slice(0, 12);
    const filename = reportFileName(deps.who.submitter, r.policyDomain, start, end, uniqueId);
    for (const dest of rec.rua) {
      const destination = dest.kind === 'mailto' ? `mailto:${dest.address}` : dest.url;
      if (done.get(date, r.policyDomain, r.dane ? 1 : 0, destination)) continue;
      let result: DestinationResult;
      try {
        if (dest.kind === 'mailto') {
          const bytes = composeReportMail({ from: deps.who.contactInfo, to: dest.address, submitter: deps.who.submitter, policyDomain: r.policyDomain, reportId: r.report['report-id'], gz, filename, date: clock.now() });
          const id = await submitBytes(
            {
              mailFrom: deps.who.contactInfo,
              to: [dest.address],
              fromHeader: deps.who.contactInfo,
              subject: `Report Domain: ${r.policyDomain}`,
              messageIdHeader: null,
              tlsMode: 'tls-optional',
              bytes,
              ...(deps.dkim?.length ? { dkim: deps.dkim, identityId: deps.identityId ?? null } : {}),
            },
            { store, clock },
          );
          result = { policyDomain: r.policyDomain, dane: r.dane, destination, ok: true, detail: `queued as ${id}` };
        } else {
          await deps.post(dest.url, gz);
          result = { policyDomain: r.policyDomain, dane: r.dane, destination, ok: true, detail: 'posted' };
        }
      } catch (e) {
        result = { policyDomain: r.policyDomain, dane: r.dane, destination, ok: false, detail: e instanceof Error ? e.message : String(e) };
      }
      record.run(date, r.policyDomain, r.dane ? 1 : 0, destination, clock.now(), result.ok ? 1 : 0, result.detail);
      out.push(result);
    }
  }
  return out;
}
