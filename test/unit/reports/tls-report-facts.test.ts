/**
 * Issue 15 leftovers, through the real engine and the real outbox (fake DNS with DNSSEC AD
 * bits, an SMTP peer with STARTTLS on loopback):
 * - RFC 8460 §4.4 sending-mta-ip: each attempt records its connection's local address when it
 *   is made, and a report's failure-details carry it;
 * - policy-string: the TLSA records (or MTA-STS policy) in force are recorded on the attempt,
 *   so a report built after the policy changed still says what applied then;
 * - RFC 8460 §3: a mailto: report is DKIM-signed with the reporting identity's keys like every
 *   message — verified (mailauth) on the bytes the receiving peer stored.
 * The report JSON still validates against the RFC 8460 §4.4 schema.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { simpleParser } from 'mailparser';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LocalDraft as DraftSchema } from '../../../shared/domain';
import { createIdentity, publicIdentity } from '../../../src-main/core/identities';
import { Outbox } from '../../../src-main/core/outbox';
import { createTestCa, type TestCa } from '../../helpers/certs';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { Rfc8460Report } from '../../helpers/rfc8460';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';

let ca: TestCa;
let peer: SmtpPeer;
let dns: FakeDns;
let core: Outbox;
let cleanup: () => void;
const day = () => new Date().toISOString().slice(0, 10);

/** A TLSA 3 1 1 record for some other key: the peer's certificate does not match it. */
function otherKeyTlsa(): { usage: number; selector: number; matchingType: number; data: Buffer } {
  const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { usage: 3, selector: 1, matchingType: 1, data: crypto.createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest() };
}
const hex = (r: { usage: number; selector: number; matchingType: number; data: Buffer }) => `${r.usage} ${r.selector} ${r.matchingType} ${r.data.toString('hex')}`;

beforeAll(async () => {
  ca = createTestCa();
  const leaf = ca.issue({ names: ['mx.dane.test', 'mx.reports.test'] });
  peer = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem } });
  dns = await startFakeDns();
  const t = tmpDir('outbox-tlsrpt-facts-');
  cleanup = t.cleanup;
  core = new Outbox({ dataDir: t.dir, network: { dnsServers: [dns.address], smtpPort: peer.port, ehloName: 'client.sender.test', connectTimeoutMs: 3000, extraCa: [ca.certPem] }, refreshMtaSts: false });
});
afterAll(async () => {
  await core?.close();
  await peer?.close();
  await dns?.close();
  ca?.cleanup();
  cleanup?.();
});

test('a DANE failure records sending-mta-ip and the TLSA records in force at attempt time; the report says what applied then', async () => {
  const before = otherKeyTlsa();
  // A signed zone (AD) whose TLSA does not match the peer: the attempt fails with validation-failure.
  dns.add('dane.test', 'MX', [{ preference: 10, exchange: 'mx.dane.test' }], { ad: true });
  dns.add('mx.dane.test', 'A', ['127.0.0.1'], { ad: true });
  dns.add('_25._tcp.mx.dane.test', 'TLSA', [before], { ad: true });

  const r = await core.submit(DraftSchema.parse({ from: 'me@sender.test', to: ['a@dane.test'], subject: 'dane', text: 'x' }));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  core.queue.onlyMessage(r.messageId);
  core.queue.start();
  await core.queue.firstAttemptsDone(r.messageId);
  await core.queue.stop();
  const [attempt] = core.store.getMessage(r.messageId)!.attempts;
  expect(attempt).toMatchObject({ host: 'mx.dane.test', ip: '127.0.0.1', tlsrptPolicy: 'tlsa', tlsrptFailure: 'validation-failure', localIp: '127.0.0.1', tlsrptPolicyString: [hex(before)] });

  // The domain rolls its key afterwards: the report built now still names the records then.
  dns.add('_25._tcp.mx.dane.test', 'TLSA', [otherKeyTlsa()], { ad: true });
  const reports = await core.buildTlsReports(day());
  const dane = reports.find((x) => x.dane && x.policyDomain === 'mx.dane.test')!;
  expect(dane).toBeTruthy();
  expect(() => Rfc8460Report.parse(dane.report)).not.toThrow();
  expect(dane.report.policies).toEqual([
    {
      policy: { 'policy-type': 'tlsa', 'policy-string': [hex(before)], 'policy-domain': 'mx.dane.test' },
      summary: { 'total-successful-session-count': 0, 'total-failure-session-count': 1 },
      'failure-details': [{ 'result-type': 'validation-failure', 'sending-mta-ip': '127.0.0.1', 'receiving-mx-hostname': 'mx.dane.test', 'receiving-ip': '127.0.0.1', 'failed-session-count': 1, 'additional-information': expect.any(String) }],
    },
  ]);
});

test('a mailto: TLS report is DKIM-signed with the reporting identity\'s keys; the signature verifies on what the peer stored', async () => {
  const identity = createIdentity(core.store, Date.now(), { address: 'me@sender.test', displayName: 'Me', isDefault: true, algorithms: ['ed25519-sha256', 'rsa-sha256'], selector: 'rpt' });
  const records = publicIdentity(identity).dkimKeys.map((k) => k.record);
  dns.add('_smtp._tls.mx.dane.test', 'TXT', ['v=TLSRPTv1; rua=mailto:tls@reports.test']);
  dns.add('reports.test', 'MX', [{ preference: 10, exchange: 'mx.reports.test' }]);
  dns.add('mx.reports.test', 'A', ['127.0.0.1']);

  const results = await core.sendTlsReports(day());
  expect(results).toMatchObject([{ policyDomain: 'mx.dane.test', destination: 'mailto:tls@reports.test', ok: true }]);
  const id = /queued as (\S+)/.exec(results[0]!.detail)![1]!;
  core.queue.onlyMessage(id);
  core.queue.start();
  await core.queue.firstAttemptsDone(id);
  await core.queue.stop();
  const stored = peer.messages.find((m) => m.rcptTo.includes('tls@reports.test'))!;
  expect(stored).toBeTruthy();

  const verified = await dkimVerify(Readable.from([stored.body]), {
    resolver: async (name: string, type: string) => {
      const rec = records.find((x) => x.name === name.toLowerCase());
      if (type === 'TXT' && rec) return [[rec.value]];
      throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
    },
  });
  const passed = verified.results.filter((x) => x.status.result === 'pass');
  expect(passed.map((x) => [x.signingDomain, x.selector]).sort()).toEqual([
    ['sender.test', 'rpt-ed25519'],
    ['sender.test', 'rpt-rsa'],
  ]);
  // Still the §5.3 report, with its JSON valid against §4.4 and sending-mta-ip in it.
  const mail = await simpleParser(stored.body);
  expect(mail.headers.get('tls-required')).toBe('No');
  const att = mail.attachments.find((a) => a.contentType === 'application/tlsrpt+gzip')!;
  const report = Rfc8460Report.parse(JSON.parse(zlib.gunzipSync(att.content).toString('utf8')));
  expect(report.policies[0]!['failure-details']![0]!['sending-mta-ip']).toBe('127.0.0.1');
  // The report is queued like the user's mail: envelope beside the file, digest checked.
  expect(core.store.messageRow(id)).toMatchObject({ identity_id: identity.id, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
});
