/**
 * Outgoing TLS reports (RFC 8460) from recorded attempts: aggregated per policy domain and UTC
 * day (MTA-STS and DANE apart), validated against the RFC's JSON schema (§4.4, written out here
 * in zod), gzip'd, POSTed to an https: rua (an in-process HTTPS server with a test CA) and
 * queued as mail to a mailto: rua (parsed back with a MIME parser). DNS is a fake server.
 */
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { createStubResolver } from '../../../src-main/core/dns';
import type { AttemptRecord } from '../../../src-main/core/delivery/types';
import { DailyTlsReports } from '../../../src-main/core/reports/daily';
import { httpsPoster, sendDayReports, type ReportSendDeps } from '../../../src-main/core/reports/deliver';
import { buildDayReports } from '../../../src-main/core/reports/report';
import { parseTlsrptRecord, selectTlsrptRecord } from '../../../src-main/core/reports/tlsrpt-record';
import { QueueRepo } from '../../../src-main/core/store/queue-repo';
import { Store } from '../../../src-main/core/store/store';
import { createTestCa, type TestCa } from '../../helpers/certs';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { Rfc8460Report } from '../../helpers/rfc8460';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../store/fixtures';

const DAY = '2026-11-30';
const STS_POLICY = ['version: STSv1', 'mode: enforce', 'mx: mx.sts.example', 'max_age: 86400'];
const T = Date.UTC(2026, 10, 30, 12, 0, 0);
let store: Store;
let cleanup: () => void;
let clock: ManualClock;
let dns: FakeDns;
let ca: TestCa;
let server: https.Server;
let posts: { url: string; type: string | undefined; body: Buffer }[];
let port: number;

function attempt(over: Partial<AttemptRecord>): AttemptRecord {
  return {
    startedAt: T, transport: 'direct', routeId: null, durationMs: 10, domain: 'sts.example', host: 'mx.sts.example', ip: '127.0.0.10', port: 25, stage: 'data', starttls: true,
    tlsVersion: 'TLSv1.3', tlsCipher: null, certFingerprint: null, verification: 'pkix', verificationReason: null, mtaStsMode: 'enforce',
    dane: false, requiretls: false, plaintextFallback: false, tlsrptPolicy: 'sts', tlsrptFailure: null, code: 250, enhancedCode: '2.0.0',
    tlsrptPolicyString: STS_POLICY, tlsrptMxHost: ['mx.sts.example'], localIp: '127.0.0.2',
    reply: 'ok', errorCode: null, permanent: false, transcript: [], results: [], ...over,
  };
}

function record(attempts: AttemptRecord[]): void {
  const id = `m${Math.random().toString(36).slice(2)}`;
  store.insertMessage(newMessage(id, T, ['x@sts.example']));
  new QueueRepo(store).recordOutcome(id, attempts, [], null, T);
}

beforeAll(async () => {
  ca = createTestCa();
  const leaf = ca.issue({ names: ['reports.example'] });
  posts = [];
  server = https.createServer({ key: leaf.keyPem, cert: leaf.chainPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ url: req.url ?? '', type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(req.url === '/fail' ? 500 : 201).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  dns = await startFakeDns();
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await dns.close();
  ca.cleanup();
});
beforeEach(() => {
  const t = tmpDir('outbox-tlsrpt-');
  cleanup = t.cleanup;
  store = Store.open(t.dir);
  clock = new ManualClock(Date.UTC(2026, 11, 1, 0, 15));
  posts.length = 0;
});
afterEach(() => {
  store.close();
  cleanup();
});

const who = { organizationName: 'Direct Outbox', contactInfo: 'me@sender.example', submitter: 'sender.example' };

function seedDay(): void {
  record([attempt({}), attempt({}), attempt({})]);
  record([attempt({ tlsrptFailure: 'certificate-not-trusted', starttls: false, verificationReason: 'self-signed', code: null })]);
  // DANE: reported to the MX host, apart from the recipient domain's MTA-STS report.
  const dane: Partial<AttemptRecord> = { domain: 'dane.example', host: 'mx.dane.example', ip: '127.0.0.13', tlsrptPolicy: 'tlsa', mtaStsMode: null, tlsrptPolicyString: ['3 1 1 abcd'], tlsrptMxHost: null };
  record([attempt({ ...dane, dane: true })]);
  record([attempt({ ...dane, tlsrptFailure: 'tlsa-invalid' })]);
  const plain: Partial<AttemptRecord> = { domain: 'plain.example', host: 'mx.plain.example', tlsrptPolicy: 'no-policy-found', mtaStsMode: null, tlsrptPolicyString: null, tlsrptMxHost: null };
  record([attempt(plain)]);
  // Never reached TLS (refused): not a TLS session. Another day: not in this report.
  record([attempt({ ...plain, starttls: false, stage: 'connect' })]);
  record([attempt({ startedAt: T + 24 * 3600_000 })]);
}

test('reports are built per policy domain and UTC day from the recorded attempts, MTA-STS and DANE apart, and validate against RFC 8460 §4.4', async () => {
  seedDay();
  const reports = await buildDayReports(store, DAY, who);
  expect(reports.map((r) => [r.policyDomain, r.dane])).toEqual([['mx.dane.example', true], ['plain.example', false], ['sts.example', false]]);
  for (const r of reports) expect(() => Rfc8460Report.parse(r.report)).not.toThrow();
  const sts = reports.find((r) => r.policyDomain === 'sts.example')!.report;
  expect(sts['date-range']).toEqual({ 'start-datetime': '2026-11-30T00:00:00Z', 'end-datetime': '2026-11-30T23:59:59Z' });
  expect(sts.policies).toEqual([
    {
      policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: enforce', 'mx: mx.sts.example', 'max_age: 86400'], 'policy-domain': 'sts.example', 'mx-host': ['mx.sts.example'] },
      summary: { 'total-successful-session-count': 3, 'total-failure-session-count': 1 },
      'failure-details': [{ 'result-type': 'certificate-not-trusted', 'sending-mta-ip': '127.0.0.2', 'receiving-mx-hostname': 'mx.sts.example', 'receiving-ip': '127.0.0.10', 'failed-session-count': 1, 'additional-information': 'self-signed' }],
    },
  ]);
  const dane = reports.find((r) => r.dane)!.report;
  expect(dane.policies[0]).toMatchObject({ policy: { 'policy-type': 'tlsa', 'policy-string': ['3 1 1 abcd'], 'policy-domain': 'mx.dane.example' }, summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 1 } });
  const plain = reports.find((r) => r.policyDomain === 'plain.example')!.report;
  expect(plain.policies[0]!.summary).toEqual({ 'total-successful-session-count': 1, 'total-failure-session-count': 0 });
  expect(plain.policies[0]!.policy).toEqual({ 'policy-type': 'no-policy-found', 'policy-domain': 'plain.example' });
  expect(await buildDayReports(store, '2026-11-29', who)).toEqual([]);
  await expect(buildDayReports(store, '2026-13-01', who)).rejects.toThrow(/date/);
});

test('a policy that changed during the day is two policy entries, each with the policy-string its attempts recorded', async () => {
  const v2 = ['version: STSv1', 'mode: testing', 'mx: *.sts.example', 'max_age: 600'];
  record([attempt({}), attempt({})]);
  record([attempt({ tlsrptPolicyString: v2, tlsrptMxHost: ['*.sts.example'], tlsrptFailure: 'validation-failure', localIp: '127.0.0.3' })]);
  // An attempt from before policy strings were recorded: reported without one.
  record([attempt({ tlsrptPolicyString: undefined, tlsrptMxHost: undefined, localIp: undefined })]);
  const [r] = await buildDayReports(store, DAY, who);
  expect(() => Rfc8460Report.parse(r!.report)).not.toThrow();
  const entries = r!.report.policies.map((p) => [p.policy['policy-string'] ?? null, p.policy['mx-host'] ?? null, p.summary['total-successful-session-count'], p.summary['total-failure-session-count'], p['failure-details']?.map((d) => d['sending-mta-ip'])]);
  expect(entries).toHaveLength(3);
  expect(entries).toEqual(expect.arrayContaining([
    [STS_POLICY, ['mx.sts.example'], 2, 0, undefined],
    [v2, ['*.sts.example'], 0, 1, ['127.0.0.3']],
    [null, null, 1, 0, undefined],
  ]));
});

test('the TLSRPT record: mailto and https only, exactly one v=TLSRPTv1 record', () => {
  expect(parseTlsrptRecord('v=TLSRPTv1; rua=mailto:tls@reports.example,https://reports.example/v1')).toEqual({
    rua: [{ kind: 'mailto', address: 'tls@reports.example' }, { kind: 'https', url: 'https://reports.example/v1' }],
  });
  expect(parseTlsrptRecord('v=TLSRPTv1; rua=http://insecure.example/,ftp://x,mailto:not-an-address')).toBeNull();
  expect(parseTlsrptRecord('v=TLSRPTv2; rua=mailto:a@b.example')).toBeNull();
  expect(parseTlsrptRecord('v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example')).toBeNull();
  expect(selectTlsrptRecord(['v=spf1 -all', 'v=TLSRPTv1; rua=mailto:a@b.example'])).not.toBeNull();
  expect(selectTlsrptRecord(['v=TLSRPTv1; rua=mailto:a@b.example', 'v=TLSRPTv1; rua=mailto:c@d.example'])).toBeNull();
});

test('sent: gzip POSTed to the https rua (application/tlsrpt+gzip) and mailed to the mailto rua with TLS-Required: No; once per destination', async () => {
  seedDay();
  dns.add('_smtp._tls.sts.example', 'TXT', [`v=TLSRPTv1; rua=mailto:tls@reports.example,https://reports.example:${port}/sts`]);
  dns.add('_smtp._tls.mx.dane.example', 'TXT', [`v=TLSRPTv1; rua=https://reports.example:${port}/dane`]);
  const deps: ReportSendDeps = {
    store, clock, who,
    resolver: createStubResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
    post: httpsPoster({ ca: [ca.certPem], connectTo: () => '127.0.0.1' }),
  };
  const results = await sendDayReports(deps, DAY);
  expect(results.map((r) => [r.destination.replace(String(port), 'PORT'), r.ok])).toEqual([
    ['https://reports.example:PORT/dane', true],
    ['mailto:tls@reports.example', true],
    ['https://reports.example:PORT/sts', true],
  ]);
  expect(posts.map((p) => [p.url, p.type])).toEqual([['/dane', 'application/tlsrpt+gzip'], ['/sts', 'application/tlsrpt+gzip']]);
  const posted = Rfc8460Report.parse(JSON.parse(zlib.gunzipSync(posts[1]!.body).toString('utf8')));
  expect(posted.policies[0]!.policy['policy-domain']).toBe('sts.example');

  const queued = store.listMessages({ limit: 10 }).items.filter((m) => m.recipients.some((r) => r.envelope === 'tls@reports.example'));
  expect(queued).toHaveLength(1);
  expect(queued[0]!.tlsMode).toBe('tls-optional');
  const mail = await simpleParser(fs.readFileSync(store.absolutePath(store.messageRow(queued[0]!.id)!.raw_path)));
  expect(mail.headers.get('tls-required')).toBe('No');
  expect(mail.headers.get('tls-report-domain')).toBe('sts.example');
  expect(mail.headers.get('tls-report-submitter')).toBe('sender.example');
  expect(mail.headers.get('content-type')).toMatchObject({ value: 'multipart/report', params: { 'report-type': 'tlsrpt' } });
  expect(mail.subject).toBe(`Report Domain: sts.example Submitter: sender.example Report-ID: <${posted['report-id']}>`);
  const att = mail.attachments.find((a) => a.contentType === 'application/tlsrpt+gzip')!;
  expect(att.filename).toMatch(/^sender\.example!sts\.example!1795996800!1796083200!.+\.json\.gz$/);
  expect(Rfc8460Report.parse(JSON.parse(zlib.gunzipSync(att.content).toString('utf8')))).toEqual(posted);

  // Run again (a restart, a second `tlsrpt send`): nothing is sent twice.
  expect(await sendDayReports(deps, DAY)).toEqual([]);
  expect(posts).toHaveLength(2);
});

test('an https rua that fails is recorded as failed and retried on the next run; an untrusted certificate is a failure', async () => {
  record([attempt({})]);
  dns.add('_smtp._tls.sts.example', 'TXT', [`v=TLSRPTv1; rua=https://reports.example:${port}/fail`]);
  const deps: ReportSendDeps = { store, clock, who, resolver: createStubResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }), post: httpsPoster({ ca: [ca.certPem], connectTo: () => '127.0.0.1' }) };
  expect((await sendDayReports(deps, DAY))[0]).toMatchObject({ ok: false, detail: 'HTTP 500' });
  expect((await sendDayReports(deps, DAY))).toHaveLength(1); // tried again
  const untrusted = { ...deps, post: httpsPoster({ connectTo: () => '127.0.0.1' }) };
  expect((await sendDayReports(untrusted, DAY))[0]!.ok).toBe(false);
});

test('daily: on start the previous UTC day goes out, then each day a little after midnight', async () => {
  const days: string[] = [];
  const daily = new DailyTlsReports({ clock, send: async (d) => (days.push(d), []) });
  daily.start();
  await new Promise((r) => setImmediate(r));
  expect(days).toEqual(['2026-11-30']);
  clock.advance(23 * 3600_000); // 23:15, same day: nothing new
  await new Promise((r) => setImmediate(r));
  expect(days).toEqual(['2026-11-30']);
  clock.advance(3600_000); // 2026-12-02 00:15
  await new Promise((r) => setImmediate(r));
  expect(days).toEqual(['2026-11-30', '2026-12-01']);
  await daily.stop();
  clock.advance(48 * 3600_000);
  expect(days).toHaveLength(2);
});
