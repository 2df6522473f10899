/**
 * Queue features against REAL peers (issue 15): Postfix rejecting an unknown user puts the
 * address on the suppression list, and the next send fails at once without a connection; TLS
 * reports (RFC 8460) built from the day's real attempts to the test domains, mailed to a
 * Postfix address (mailto: rua from the zone's `_smtp._tls` record, via the outbox itself) and
 * POSTed to an HTTPS endpoint (https: rua; our server on the HTTPS test address with the test
 * CA's certificate), decompressed and validated against the RFC's schema.
 */
import fs from 'node:fs';
import https from 'node:https';
import zlib from 'node:zlib';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Rfc8460Report } from '../helpers/rfc8460';
import { freshDataDir, peerFlags, runCli, unique, type SendJson } from './cli';
import type { Peers } from './peers';
import { usePeers } from './use-peers';

let peers: Peers;
let release: () => Promise<void>;

beforeAll(async () => {
  ({ peers, release } = await usePeers());
});
afterAll(() => release?.());

async function send(dir: string, to: string): Promise<{ code: number; json: SendJson }> {
  const r = await runCli(['send', ...peerFlags(peers, dir), '--from', 'Sender <sender@outbox.test>', '--to', to, '--subject', 'features', '--text', '-', '--wait', '60', '--json'], 'Hello.\n');
  return { code: r.code, json: JSON.parse(r.stdout) as SendJson };
}

test('Postfix says 550 5.1.1 → suppressed → the next send fails at once, attempts 0, no connection made', async () => {
  const dir = freshDataDir();
  const rcpt = `reject-${unique()}@tls.test`;
  const first = await send(dir, rcpt);
  expect(first.json.recipients[0]).toMatchObject({ status: 'failed', code: 550, enhancedCode: '5.1.1', attempts: 1 });
  const list = JSON.parse((await runCli(['suppression', 'list', '--json', ...peerFlags(peers, dir)])).stdout) as { suppressions: { address: string; source: string }[] };
  expect(list.suppressions).toMatchObject([{ address: rcpt, source: 'auto' }]);
  const seen = (await peers.postfixLog(rcpt)).length;
  expect(seen).toBeGreaterThan(0);

  const second = await send(dir, rcpt);
  expect(second.code).toBe(1);
  expect(second.json.recipients[0]).toMatchObject({ address: rcpt, status: 'failed', attempts: 0, host: null });
  expect(second.json.recipients[0]!.reply).toMatch(/^suppressed: 5\.1\.1/);
  // Postfix never heard of it again.
  await new Promise((r) => setTimeout(r, 1000));
  expect((await peers.postfixLog(rcpt)).length).toBe(seen);
});

test('TLS reports of the day: built from real attempts, mailed to the Postfix rua and POSTed to the HTTPS rua, valid RFC 8460 JSON', async () => {
  const dir = freshDataDir();
  const day = new Date().toISOString().slice(0, 10);
  expect((await send(dir, `${unique()}@tls.test`)).code).toBe(0);
  expect((await send(dir, `${unique()}@dane.test`)).code).toBe(0);
  if (new Date().toISOString().slice(0, 10) !== day) return; // crossed midnight UTC: the attempts span two days

  const built = (await runCli(['tlsrpt', 'build', '--date', day, '--json', ...peerFlags(peers, dir)])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { policyDomain: string; dane: boolean; report: unknown });
  expect(built.map((b) => [b.policyDomain, b.dane])).toEqual([['mx.dane.test', true], ['tls.test', false]]);
  for (const b of built) Rfc8460Report.parse(b.report);
  const dane = Rfc8460Report.parse(built[0]!.report);
  expect(dane.policies[0]).toMatchObject({ policy: { 'policy-type': 'tlsa', 'policy-domain': 'mx.dane.test' }, summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 0 } });
  expect(dane.policies[0]!.policy['policy-string']![0]).toMatch(/^3 1 1 [0-9a-f]{64}$/);
  const tlsTest = Rfc8460Report.parse(built[1]!.report);
  expect(tlsTest.policies[0]).toMatchObject({ policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'tls.test' }, summary: { 'total-successful-session-count': 1 } });

  const posts: { url: string; type: string | undefined; body: Buffer }[] = [];
  const server = https.createServer({ key: fs.readFileSync(peers.https.key), cert: fs.readFileSync(peers.https.cert) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ url: req.url ?? '', type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(peers.https.port, peers.https.ip, r));
  try {
    const sent = await runCli(['tlsrpt', 'send', '--date', day, '--json', ...peerFlags(peers, dir)]);
    expect(sent.code, sent.stderr + sent.stdout).toBe(0);
    const results = (JSON.parse(sent.stdout) as { results: { destination: string; ok: boolean; delivered?: boolean }[] }).results;
    expect(results.map((r) => [r.destination, r.ok])).toEqual([
      ['https://mta-sts.sts.test/tlsrpt-dane', true],
      ['mailto:tlsrpt-reports@tls.test', true],
      ['https://mta-sts.sts.test/tlsrpt', true],
    ]);
    expect(results[1]!.delivered).toBe(true);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  expect(posts.map((p) => [p.url, p.type])).toEqual([['/tlsrpt-dane', 'application/tlsrpt+gzip'], ['/tlsrpt', 'application/tlsrpt+gzip']]);
  expect(Rfc8460Report.parse(JSON.parse(zlib.gunzipSync(posts[1]!.body).toString()))['policies'][0]!.policy['policy-domain']).toBe('tls.test');

  const [mail] = await peers.waitForMail('tlsrpt-reports@tls.test', { timeoutMs: 30_000 });
  const parsed = await simpleParser(mail!);
  expect(parsed.headers.get('tls-required')).toBe('No');
  expect(parsed.subject).toMatch(/^Report Domain: tls\.test Submitter: \S+ Report-ID: <.+>$/);
  const att = parsed.attachments.find((a) => a.contentType === 'application/tlsrpt+gzip')!;
  const report = Rfc8460Report.parse(JSON.parse(zlib.gunzipSync(att.content).toString()));
  expect(report.policies[0]!.policy['policy-domain']).toBe('tls.test');
});
