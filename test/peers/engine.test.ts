/**
 * The engine through the CLI against REAL peers (delivery-rules §1, §4, §7, §8): Postfix on
 * 127.0.0.x:25 as the receiving MTA, knot + validating unbound for DNS. We read what Postfix
 * stored to prove delivery.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freshDataDir, peerFlags, runCli, unique, type SendJson } from './cli';
import type { Peers } from './peers';
import { usePeers } from './use-peers';

let peers: Peers;
let release: () => Promise<void>;

beforeAll(async () => {
  ({ peers, release } = await usePeers());
});
afterAll(() => release?.());

async function send(to: string[], extra: string[] = []): Promise<{ code: number; json: SendJson; stderr: string }> {
  const r = await runCli(['send', ...peerFlags(peers, freshDataDir()), '--from', 'Sender <sender@outbox.test>', ...to.flatMap((t) => ['--to', t]), '--subject', 'peer test', '--text', '-', '--wait', '60', '--json', ...extra], 'Hello Postfix.\n');
  let json: SendJson;
  try {
    json = JSON.parse(r.stdout) as SendJson;
  } catch {
    throw new Error(`CLI printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}

test('§1/§4: MX delivery over STARTTLS — Postfix stored it and its Received header shows TLS', async () => {
  const rcpt = `${unique()}@tls.test`;
  const { code, json } = await send([rcpt]);
  expect(json.recipients[0]).toMatchObject({ address: rcpt, status: 'delivered', code: 250, host: 'mx1.tls.test', ip: peers.hosts.mx1.ip, plaintextFallback: false });
  expect(json.recipients[0]!.tls).toMatchObject({ starttls: true, verified: 'pkix' });
  expect(code).toBe(0);
  const [stored] = await peers.waitForMail(rcpt);
  expect(stored).toMatch(/Received: from client\.outbox\.test[\s\S]*using TLSv1\.[23]/);
  expect(stored).toContain('Hello Postfix.');
});

test('§4: a host without STARTTLS is delivered in plaintext, and the result says so', async () => {
  const rcpt = `${unique()}@plain.tls.test`;
  const { code, json } = await send([rcpt]);
  expect(code).toBe(0);
  expect(json.recipients[0]).toMatchObject({ status: 'delivered', host: 'mx-plain.tls.test' });
  expect(json.recipients[0]!.tls).toMatchObject({ starttls: false, verified: 'none' });
  const [stored] = await peers.waitForMail(rcpt);
  expect(stored).not.toMatch(/using TLSv1/);
});

test('§1: null MX fails with 5.1.10 and exit code 1', async () => {
  const { code, json } = await send([`${unique()}@nullmx.tls.test`]);
  expect(code).toBe(1);
  expect(json.recipients[0]).toMatchObject({ status: 'failed', enhancedCode: '5.1.10', attempts: 1 });
});

test('§1: implicit MX (no MX, an A record) is delivered to the domain itself', async () => {
  const rcpt = `${unique()}@implicit.tls.test`;
  const { code, json } = await send([rcpt]);
  expect(code).toBe(0);
  expect(json.recipients[0]).toMatchObject({ status: 'delivered', host: 'implicit.tls.test' });
  await peers.waitForMail(rcpt);
});

test('§8: a recipient rejected by Postfix fails with its 5xx while another of the same message is delivered', async () => {
  const bad = `reject-${unique()}@tls.test`;
  const good = `${unique()}@tls.test`;
  const { code, json } = await send([bad, good]);
  expect(code).toBe(1);
  expect(json.recipients.find((r) => r.address === bad)).toMatchObject({ status: 'failed', code: 550, enhancedCode: '5.1.1' });
  expect(json.recipients.find((r) => r.address === good)).toMatchObject({ status: 'delivered' });
  await peers.waitForMail(good);
  expect(await peers.readMaildir(bad)).toEqual([]);
});

test('§7: an unreachable first MX falls through to the second', async () => {
  const rcpt = `${unique()}@fallthrough.tls.test`;
  const { code, json } = await send([rcpt]);
  expect(code).toBe(0);
  expect(json.recipients[0]).toMatchObject({ status: 'delivered', host: 'mx1.tls.test' });
  await peers.waitForMail(rcpt);
});

test('§7: a 4xx from Postfix defers the recipient (exit 1, status deferred)', async () => {
  const { code, json } = await send([`tempfail-${unique()}@tls.test`]);
  expect(code).toBe(1);
  expect(json.recipients[0]).toMatchObject({ status: 'deferred', code: 450 });
});

test('bad input: exit code 2, one clear line on stderr, nothing queued', async () => {
  const dir = freshDataDir();
  const r = await runCli(['send', ...peerFlags(peers, dir), '--from', 'me@outbox.test', '--to', 'not an address', '--wait', '--json']);
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^outbox: to/);
  const q = await runCli(['queue', '--data-dir', dir, '--json']);
  expect(JSON.parse(q.stdout)).toEqual({ paused: false, messages: [] });
});

test('§7: a 5.7.x at MAIL on the first attempt to a dual-stack host (Postfix on A and AAAA ::1) is temporary; on a single-stack host permanent', async () => {
  const dual = await send([`${unique()}@dual.tls.test`]);
  expect(dual.json.recipients[0]).toMatchObject({ status: 'deferred', code: 554, enhancedCode: '5.7.1', host: 'mx-dual.tls.test' });
  expect(dual.code).toBe(1);
  const single = await send([`${unique()}@single.tls.test`]);
  expect(single.json.recipients[0]).toMatchObject({ status: 'failed', code: 554, enhancedCode: '5.7.1', host: 'mx-single.tls.test' });
  expect(single.code).toBe(1);
  if (peers.hosts.dual.ip6) {
    // Both address families were tried on the first attempt, and Postfix refused on both (its
    // log names the client: 127.0.0.1 over IPv4, ::1 over IPv6).
    const rejects = (await peers.postfixLog('Sender address rejected')).filter((l) => l.includes('mx-dual.tls.test/smtpd'));
    expect(rejects.some((l) => l.includes(`unknown[${peers.hosts.dual.ip6}]`))).toBe(true);
    expect(rejects.some((l) => /unknown\[127\./.test(l))).toBe(true);
  }
});
