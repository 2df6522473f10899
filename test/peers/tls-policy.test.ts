/**
 * TLS policies against REAL peers (delivery-rules §2, §3, §5, §6): a DNSSEC-signed zone
 * validated by unbound through a trust anchor, TLSA records matching (or not) Postfix's
 * certificates, and MTA-STS policies served over HTTPS on 127.0.0.20:443 by this test with a
 * certificate from the test CA. Delivery goes through the CLI; Postfix's Maildir shows what
 * arrived.
 */
import fs from 'node:fs';
import https from 'node:https';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freshDataDir, peerFlags, runCli, unique, type SendJson } from './cli';
import type { Peers } from './peers';
import { usePeers } from './use-peers';

let peers: Peers;
let release: () => Promise<void>;
let server: https.Server;
/** Policy text per mta-sts.<domain> host; absent → 404. */
const policies = new Map<string, string>();

beforeAll(async () => {
  ({ peers, release } = await usePeers());
  server = https.createServer({ key: fs.readFileSync(peers.https.key), cert: fs.readFileSync(peers.https.cert) }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const policy = policies.get(host);
    if (req.url !== '/.well-known/mta-sts.txt' || !policy) {
      res.writeHead(404).end('no policy');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(policy);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(peers.https.port, peers.https.ip, resolve));
  policies.set('mta-sts.sts.test', 'version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n');
  policies.set('mta-sts.self.sts.test', 'version: STSv1\nmode: enforce\nmx: mx-self.sts.test\nmax_age: 86400\n');
  policies.set('mta-sts.testing.sts.test', 'version: STSv1\nmode: testing\nmx: mx-self.sts.test\nmax_age: 86400\n');
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await release?.();
});

async function send(to: string, extra: string[] = []): Promise<{ code: number; r: SendJson['recipients'][number] }> {
  const out = await runCli(['send', ...peerFlags(peers, freshDataDir()), '--https-port', String(peers.https.port), '--from', 'sender@outbox.test', '--to', to, '--subject', 'tls policy', '--text', '-', '--wait', '60', '--json', ...extra], 'policy test\n');
  let json: SendJson;
  try {
    json = JSON.parse(out.stdout) as SendJson;
  } catch {
    throw new Error(`CLI printed no JSON (exit ${out.code}): ${out.stdout} ${out.stderr}`);
  }
  return { code: out.code, r: json.recipients[0]! };
}

test('§3 DANE-EE: TLSA 3 1 1 matches Postfix\'s key in a signed zone → verified dane-ee and delivered', async () => {
  const rcpt = `${unique()}@dane.test`;
  const { code, r } = await send(rcpt);
  expect(r).toMatchObject({ status: 'delivered', host: 'mx.dane.test' });
  expect(r.tls).toMatchObject({ starttls: true, verified: 'dane-ee', dane: true });
  expect(code).toBe(0);
  const [stored] = await peers.waitForMail(rcpt);
  expect(stored).toMatch(/using TLSv1\.[23]/);
});

test('§3 DANE: TLSA mismatch → not delivered (deferred), nothing stored', async () => {
  const rcpt = `${unique()}@bad.dane.test`;
  const { code, r } = await send(rcpt);
  expect(code).toBe(1);
  expect(r).toMatchObject({ status: 'deferred', host: 'mx-bad.dane.test' });
  expect(r.tls).toMatchObject({ starttls: true, verified: 'none', dane: true });
  expect(await peers.readMaildir(rcpt)).toEqual([]);
});

test('§3 RFC 7672 §2.2.2: secure CNAME MX name whose target has no TLSA → the TLSA at the original MX name (matching) gives dane-ee', async () => {
  const rcpt = `${unique()}@cname.dane.test`;
  const { code, r } = await send(rcpt);
  expect(r).toMatchObject({ status: 'delivered', host: 'mx-cname.dane.test' });
  expect(r.tls).toMatchObject({ starttls: true, verified: 'dane-ee', dane: true });
  expect(code).toBe(0);
  await peers.waitForMail(rcpt);
});

test('§3 RFC 7672 §2.2.2: secure CNAME MX name whose target has no TLSA → a non-matching TLSA at the original MX name stops delivery', async () => {
  const rcpt = `${unique()}@cname-bad.dane.test`;
  const { code, r } = await send(rcpt);
  expect(code).toBe(1);
  expect(r).toMatchObject({ status: 'deferred', host: 'mx-cname-bad.dane.test' });
  expect(r.tls).toMatchObject({ starttls: true, verified: 'none', dane: true });
  expect(await peers.readMaildir(rcpt)).toEqual([]);
});

test('§2 MTA-STS enforce with a test-CA certificate → delivered, verified pkix', async () => {
  const rcpt = `${unique()}@sts.test`;
  const { code, r } = await send(rcpt);
  expect(r).toMatchObject({ status: 'delivered', host: 'mx.sts.test' });
  expect(r.tls).toMatchObject({ starttls: true, verified: 'pkix', mtaSts: 'enforce' });
  expect(code).toBe(0);
  await peers.waitForMail(rcpt);
});

test('§2 MTA-STS enforce with a self-signed MX certificate → not delivered', async () => {
  const rcpt = `${unique()}@self.sts.test`;
  const { code, r } = await send(rcpt);
  expect(code).toBe(1);
  expect(r).toMatchObject({ status: 'deferred', host: 'mx-self.sts.test' });
  expect(r.tls).toMatchObject({ mtaSts: 'enforce', verified: 'none' });
  expect(await peers.readMaildir(rcpt)).toEqual([]);
});

test('§2 MTA-STS testing with a self-signed MX certificate → delivered, failure only recorded', async () => {
  const rcpt = `${unique()}@testing.sts.test`;
  const { code, r } = await send(rcpt);
  expect(code).toBe(0);
  expect(r).toMatchObject({ status: 'delivered' });
  expect(r.tls).toMatchObject({ mtaSts: 'testing', verified: 'none' });
  await peers.waitForMail(rcpt);
});

test('§5 REQUIRETLS to a Postfix host (no REQUIRETLS extension) → failed 5.7.30 at once', async () => {
  const rcpt = `${unique()}@dane.test`;
  const { code, r } = await send(rcpt, ['--require-tls']);
  expect(code).toBe(1);
  expect(r).toMatchObject({ status: 'failed', enhancedCode: '5.7.30', attempts: 1 });
  expect(await peers.readMaildir(rcpt)).toEqual([]);
});

test('§5 REQUIRETLS to a domain without DANE or MTA-STS → failed 5.7.30 at once, no connection needed', async () => {
  const rcpt = `${unique()}@tls.test`;
  const { code, r } = await send(rcpt, ['--require-tls']);
  expect(code).toBe(1);
  expect(r).toMatchObject({ status: 'failed', enhancedCode: '5.7.30', attempts: 1 });
  expect(await peers.readMaildir(rcpt)).toEqual([]);
});

test('§6 TLS-Required: No to the TLSA-mismatch host → delivered, with the header', async () => {
  const rcpt = `${unique()}@bad.dane.test`;
  const { code, r } = await send(rcpt, ['--tls-optional']);
  expect(r).toMatchObject({ status: 'delivered', host: 'mx-bad.dane.test' });
  expect(code).toBe(0);
  const [stored] = await peers.waitForMail(rcpt);
  expect(stored).toMatch(/^TLS-Required: No/im);
});

test('probe: MX, MTA-STS, DANE and STARTTLS per host, without sending', async () => {
  const dir = freshDataDir();
  const out = await runCli(['probe', 'dane.test', ...peerFlags(peers, dir), '--https-port', String(peers.https.port), '--json']);
  expect(out.code).toBe(0);
  const p = JSON.parse(out.stdout);
  expect(p).toMatchObject({ domain: 'dane.test', mx: ['mx.dane.test'], dane: true, mtaStsMode: null });
  expect(p.hosts[0]).toMatchObject({ host: 'mx.dane.test', starttls: true, requiretls: false, verification: 'dane-ee' });
  const sts = JSON.parse((await runCli(['probe', 'sts.test', ...peerFlags(peers, dir), '--https-port', String(peers.https.port), '--json'])).stdout);
  expect(sts).toMatchObject({ mtaStsMode: 'enforce', mtaStsId: '20240101T000000' });
  expect(sts.hosts[0]).toMatchObject({ starttls: true, verification: 'pkix' });
});
