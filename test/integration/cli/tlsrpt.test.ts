/**
 * `outbox tlsrpt build|send` end to end under plain Node: real deliveries to an in-process SMTP
 * peer (STARTTLS with a test-CA certificate) record their TLSRPT results; the fake DNS publishes
 * `_smtp._tls` with a mailto: rua (the same peer) and an https: rua (an in-process HTTPS server
 * with the test CA, trusted through --ca-file). Reports are decompressed and validated.
 */
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestCa, type TestCa } from '../../helpers/certs';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { Rfc8460Report } from '../../helpers/rfc8460';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';
import { runCli } from '../../helpers/cli';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let dns: FakeDns;
let peer: SmtpPeer;
let ca: TestCa;
let server: https.Server;
let posts: { url: string; type: string | undefined; body: Buffer }[] = [];
let dir: string;
let cleanup: () => void;

const cli = runCli;
const common = () => ['--data-dir', dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test', '--ca-file', ca.certPath];

beforeAll(async () => {
  ({ dir, cleanup } = tmpDir('outbox-cli-tlsrpt-'));
  ca = createTestCa();
  const mx = ca.issue({ names: ['mx.dest.test'] });
  peer = await startSmtpPeer({ tls: { key: mx.keyPem, cert: mx.chainPem } });
  const web = ca.issue({ names: ['reports.dest.test'] });
  server = https.createServer({ key: web.keyPem, cert: web.chainPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ url: req.url ?? '', type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  dns = await startFakeDns();
  dns.add('dest.test', 'MX', [{ preference: 10, exchange: 'mx.dest.test' }]);
  dns.add('mx.dest.test', 'A', ['127.0.0.1']);
  dns.add('reports.dest.test', 'A', ['127.0.0.1']);
  dns.add('_smtp._tls.dest.test', 'TXT', [`v=TLSRPTv1; rua=mailto:tlsrpt@dest.test,https://reports.dest.test:${port}/v1`]);
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await peer.close();
  await dns.close();
  ca.cleanup();
  cleanup();
});

test('tlsrpt build prints one RFC 8460 JSON per policy domain; tlsrpt send mails and POSTs it once; bad dates exit 2', async () => {
  posts = [];
  const sent = await cli(['send', ...common(), '--from', 'me@sender.test', '--to', 'a@dest.test', '--subject', 'Hi', '--text', '-', '--wait', '30', '--json'], 'Hello\n');
  expect(sent.code, sent.stderr).toBe(0);
  const day = new Date().toISOString().slice(0, 10);

  const built = await cli(['tlsrpt', 'build', '--date', day, '--json', ...common()]);
  expect(built.code, built.stderr).toBe(0);
  const lines = built.stdout.trim().split('\n').map((l) => JSON.parse(l) as { policyDomain: string; dane: boolean; report: unknown });
  expect(lines.map((l) => l.policyDomain)).toEqual(['dest.test']);
  const report = Rfc8460Report.parse(lines[0]!.report);
  expect(report.policies[0]).toMatchObject({ policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'dest.test' }, summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 0 } });
  expect(posts).toHaveLength(0); // build sends nothing

  const before = peer.messages.length;
  const r = await cli(['tlsrpt', 'send', '--date', day, '--json', ...common()]);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const { results } = JSON.parse(r.stdout) as { results: { destination: string; ok: boolean; delivered?: boolean }[] };
  expect(results.map((x) => [x.destination.replace(/:\d+\//, ':PORT/'), x.ok, x.delivered])).toEqual([
    ['mailto:tlsrpt@dest.test', true, true],
    ['https://reports.dest.test:PORT/v1', true, undefined],
  ]);
  expect(posts.map((p) => [p.url, p.type])).toEqual([['/v1', 'application/tlsrpt+gzip']]);
  expect(Rfc8460Report.parse(JSON.parse(zlib.gunzipSync(posts[0]!.body).toString()))).toEqual(report);
  const mail = peer.messages.slice(before).find((m) => m.rcptTo.includes('tlsrpt@dest.test'))!;
  const parsed = await simpleParser(mail.body);
  expect(parsed.headers.get('tls-required')).toBe('No');
  expect(Rfc8460Report.parse(JSON.parse(zlib.gunzipSync(parsed.attachments.find((a) => a.contentType === 'application/tlsrpt+gzip')!.content).toString()))).toEqual(report);

  const again = await cli(['tlsrpt', 'send', '--date', day, '--json', ...common()]);
  expect(JSON.parse(again.stdout)).toEqual({ date: day, results: [] });
  expect(posts).toHaveLength(1);

  expect((await cli(['tlsrpt', 'build', '--date', '2026-02-30', ...common()])).code).toBe(2);
  expect((await cli(['tlsrpt', 'send', ...common()])).code).toBe(2);
}, 180_000);
