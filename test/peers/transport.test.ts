/**
 * Transports and routes (issue 12, delivery-rules §13) through the CLI against REAL peers:
 * Postfix as a submission server (587 STARTTLS, 465 implicit TLS, Cyrus SASL with every
 * mechanism we speak), Dante as a SOCKS5 proxy with username/password in front of the
 * Postfix MX listeners, knot + unbound for DNS. What Postfix stored and what Dante logged
 * prove which way each message went.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshDataDir, peerFlags, runCli, unique, type SendJson } from './cli';
import type { Peers } from './peers';
import { usePeers } from './use-peers';

let peers: Peers;
let release: () => Promise<void>;

beforeAll(async () => {
  ({ peers, release } = await usePeers());
});
afterAll(() => release?.());

/** One data dir with the submission password in a 0600 file and the proxy's in one too. */
function setup(): { dir: string; flags: string[]; pwFile: string; socksFile: string } {
  const dir = freshDataDir();
  const pwFile = path.join(dir, 'submit.pw');
  fs.writeFileSync(pwFile, `${peers.submission.password}\n`, { mode: 0o600 });
  const socksFile = path.join(dir, 'socks.pw');
  fs.writeFileSync(socksFile, peers.socks.password, { mode: 0o600 });
  return { dir, flags: peerFlags(peers, dir), pwFile, socksFile };
}

async function cli(args: string[], flags: string[], stdin?: string) {
  const r = await runCli([...args, ...flags], stdin);
  return r;
}

async function ok(args: string[], flags: string[]) {
  const r = await cli(args, flags);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

async function send(flags: string[], to: string, extra: string[] = []): Promise<SendJson> {
  const r = await cli(['send', '--from', 'Sender <sender@outbox.test>', '--to', to, '--subject', 'transport test', '--text', '-', '--wait', '60', '--json', ...extra], flags, 'Hello through a transport.\n');
  try {
    return JSON.parse(r.stdout) as SendJson;
  } catch {
    throw new Error(`CLI printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
}

async function danteLog(): Promise<string> {
  return readFile(peers.logs.dante, 'utf8').catch(() => '');
}

describe('submission through Postfix (RFC 6409, RFC 8314, RFC 4954)', () => {
  test.each([
    ['587 STARTTLS, strongest mechanism', ['--tls', 'starttls'], 'SCRAM-SHA-256'],
    ['465 implicit TLS', ['--port', '465'], 'SCRAM-SHA-256'],
    ['SCRAM-SHA-1', ['--auth', 'scram-sha-1'], 'SCRAM-SHA-1'],
    ['CRAM-MD5', ['--auth', 'cram-md5'], 'CRAM-MD5'],
    ['PLAIN', ['--auth', 'plain'], 'PLAIN'],
    ['LOGIN', ['--auth', 'login'], 'LOGIN'],
  ])('%s: delivered, Postfix says ESMTPSA, send --json names the transport and route', async (_name, extra, mech) => {
    const s = setup();
    await ok(['transport', 'add', 'sub', '--type', 'submission', '--host', peers.submission.name, '--user', peers.submission.user, '--password-file', s.pwFile, ...extra], s.flags);
    const route = JSON.parse((await ok(['route', 'add', '--transport', 'sub', '--json'], s.flags)).stdout) as { id: number };
    const rcpt = `${unique('sub')}@tls.test`;
    const json = await send(s.flags, rcpt);
    expect(json.recipients[0]).toMatchObject({ status: 'delivered', transport: 'sub', route: route.id, host: peers.submission.name });
    const [stored] = await peers.waitForMail(rcpt);
    // Postfix marks authenticated submission "ESMTPSA" (RFC 3848): TLS and AUTH.
    expect(stored).toMatch(/by submit\.relay\.test \(Postfix\) with ESMTPSA/);
    const log = await peers.postfixLog(`sasl_method=${mech}`);
    expect(log.length).toBeGreaterThan(0);
    // The password is nowhere the user or a script can see.
    const all = [(await cli(['queue', '--json'], s.flags)).stdout, (await cli(['export', '--format', 'json'], s.flags)).stdout, (await cli(['export', '--format', 'csv'], s.flags)).stdout, (await cli(['transport', 'list', '--json'], s.flags)).stdout, JSON.stringify(json)].join('\n');
    expect(all).toContain('"transport":"sub"');
    expect(all).not.toContain(peers.submission.password);
  });

  test('transport test: connect, TLS, AUTH, QUIT — and nothing is sent', async () => {
    const s = setup();
    await ok(['transport', 'add', 'sub', '--type', 'submission', '--host', peers.submission.name, '--user', peers.submission.user, '--password-file', s.pwFile], s.flags);
    const r = await ok(['transport', 'test', 'sub', '--json'], s.flags);
    const res = JSON.parse(r.stdout) as { ok: boolean; auth: string; verification: string; transcript: { text: string }[] };
    expect(res).toMatchObject({ ok: true, auth: 'SCRAM-SHA-256', verification: 'pkix' });
    expect(res.transcript.some((l) => l.text.startsWith('MAIL'))).toBe(false);
    expect(r.stdout).not.toContain(peers.submission.password);
  });

  test('a wrong password: permanent auth failure at once, a clear reason, one attempt', async () => {
    const s = setup();
    fs.writeFileSync(s.pwFile, 'not-the-password', { mode: 0o600 });
    await ok(['transport', 'add', 'sub', '--type', 'submission', '--host', peers.submission.name, '--user', peers.submission.user, '--password-file', s.pwFile, '--auth', 'plain'], s.flags);
    await ok(['route', 'add', '--transport', 'sub'], s.flags);
    const json = await send(s.flags, `${unique('badpw')}@tls.test`);
    expect(json.recipients[0]).toMatchObject({ status: 'failed', attempts: 1, transport: 'sub' });
    expect(json.recipients[0]!.reply).toMatch(/refused the user name or password of transport sub/);
    expect(JSON.stringify(json)).not.toContain('not-the-password');
    // Nothing is left to retry: no retry storm against the provider.
    const q = JSON.parse((await cli(['queue', '--json'], s.flags)).stdout) as { messages: { recipients: { state: string; nextAttemptAt: number | null }[] }[] };
    expect(q.messages[0]!.recipients[0]).toMatchObject({ state: 'failed', nextAttemptAt: null });
  });

  test('REQUIRETLS through a relay that does not announce it: 5.7.30 (Postfix has no REQUIRETLS)', async () => {
    const s = setup();
    await ok(['transport', 'add', 'sub', '--type', 'submission', '--host', peers.submission.name, '--user', peers.submission.user, '--password-file', s.pwFile], s.flags);
    await ok(['route', 'add', '--transport', 'sub'], s.flags);
    const rcpt = `${unique('rtls')}@tls.test`;
    const json = await send(s.flags, rcpt, ['--require-tls']);
    expect(json.recipients[0]).toMatchObject({ status: 'failed', enhancedCode: '5.7.30', attempts: 1 });
    expect(await peers.readMaildir(rcpt)).toHaveLength(0);
  });
});

describe('smarthost through Postfix (plain relay, no AUTH)', () => {
  test('the route sends dual.tls.test through the smarthost mx1 instead of its own MX (which refuses every sender): Postfix on mx1 received it over TLS, no AUTH', async () => {
    const s = setup();
    await ok(['transport', 'add', 'sh', '--type', 'smarthost', '--host', 'mx1.tls.test', '--port', '25'], s.flags);
    const route = JSON.parse((await ok(['route', 'add', '--transport', 'sh', '--recipient-domain', 'dual.tls.test', '--json'], s.flags)).stdout) as { id: number };
    const rcpt = `${unique('smarthost')}@dual.tls.test`;
    const json = await send(s.flags, rcpt);
    expect(json.recipients[0]).toMatchObject({ status: 'delivered', transport: 'sh', route: route.id, host: 'mx1.tls.test' });
    expect(json.recipients[0]!.tls).toMatchObject({ starttls: true, verified: 'pkix' });
    const [stored] = await peers.waitForMail(rcpt);
    // ESMTPS: TLS without AUTH (RFC 3848); the domain's own MX never saw it.
    expect(stored).toMatch(/by mx1\.tls\.test \(Postfix\) with ESMTPS /);
    expect(stored).not.toMatch(/mx-dual/);
  });
});

describe('direct delivery through Dante (RFC 1928/1929)', () => {
  test('the MX connection goes through the proxy; MX and STARTTLS are ours as usual', async () => {
    const s = setup();
    await ok(['transport', 'add', 'socks', '--type', 'direct-socks5', '--proxy', `${peers.socks.ip}:${peers.socks.port}`, '--user', peers.socks.user, '--password-file', s.socksFile], s.flags);
    await ok(['route', 'add', '--transport', 'socks', '--recipient-domain', 'tls.test'], s.flags);
    const before = (await danteLog()).length;
    const rcpt = `${unique('socks')}@tls.test`;
    const json = await send(s.flags, rcpt);
    expect(json.recipients[0]).toMatchObject({ status: 'delivered', transport: 'socks', host: 'mx1.tls.test', ip: peers.hosts.mx1.ip });
    expect(json.recipients[0]!.tls).toMatchObject({ starttls: true, verified: 'pkix' });
    const [stored] = await peers.waitForMail(rcpt);
    expect(stored).toMatch(/with ESMTPS/);
    const log = (await danteLog()).slice(before);
    expect(log).toMatch(new RegExp(`username%${peers.socks.user}@.* -> .*${peers.hosts.mx1.ip.replace(/\./g, '\\.')}\\.25`));
  });

  test('a wrong proxy password: failed at once (permanent auth failure), a clear reason, one attempt, nothing delivered', async () => {
    const s = setup();
    fs.writeFileSync(s.socksFile, 'wrong', { mode: 0o600 });
    await ok(['transport', 'add', 'socks', '--type', 'direct-socks5', '--proxy', `${peers.socks.ip}:${peers.socks.port}`, '--user', peers.socks.user, '--password-file', s.socksFile], s.flags);
    await ok(['route', 'add', '--transport', 'socks'], s.flags);
    const rcpt = `${unique('socksbad')}@tls.test`;
    const json = await send(s.flags, rcpt);
    expect(json.recipients[0]).toMatchObject({ status: 'failed', transport: 'socks', attempts: 1 });
    expect(json.recipients[0]!.reply).toMatch(/SOCKS5 proxy .* refused the user name or password \(user .*\) of transport socks/);
    expect(JSON.stringify(json)).not.toContain('wrong"');
    // Nothing is left to retry: no retry storm against the proxy.
    const q = JSON.parse((await cli(['queue', '--json'], s.flags)).stdout) as { messages: { recipients: { state: string; nextAttemptAt: number | null }[] }[] };
    expect(q.messages[0]!.recipients[0]).toMatchObject({ state: 'failed', nextAttemptAt: null });
    expect(await peers.readMaildir(rcpt)).toHaveLength(0);
  });
});

describe('routes per attempt', () => {
  test('a route "from attempt 2" switches the retry to the relay', async () => {
    const s = setup();
    await ok(['transport', 'add', 'sub', '--type', 'submission', '--host', peers.submission.name, '--user', peers.submission.user, '--password-file', s.pwFile], s.flags);
    const route = JSON.parse((await ok(['route', 'add', '--transport', 'sub', '--recipient-domain', 'fallthrough.tls.test', '--from-attempt', '2', '--json'], s.flags)).stdout) as { id: number };
    // First attempt direct: fallthrough.tls.test's preferred MX is dead, the second accepts —
    // use a recipient Postfix defers (tempfail-*) so attempt 1 ends deferred.
    const rcpt = `tempfail-${unique('route')}@fallthrough.tls.test`;
    const first = await send(s.flags, rcpt);
    expect(first.recipients[0]).toMatchObject({ status: 'deferred', transport: 'direct', route: null, attempts: 1 });
    const id = first.messageId;
    await ok(['retry', id], s.flags);
    await ok(['run', '--once'], s.flags);
    const exp = (await ok(['export', '--format', 'ndjson'], s.flags)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { transport: string; route: number | null; host: string | null });
    const carried = exp.filter((r) => r.host !== 'dead.tls.test');
    expect(carried.at(-1)).toMatchObject({ transport: 'sub', route: route.id, host: peers.submission.name });
    expect(exp[0]).toMatchObject({ transport: 'direct', route: null });
  });

  test('an IPv4-only transport never dials IPv6', async () => {
    const s = setup();
    await ok(['transport', 'add', 'v4', '--type', 'direct', '--ip-family', 'ipv4'], s.flags);
    await ok(['route', 'add', '--transport', 'v4'], s.flags);
    const rcpt = `${unique('v4')}@tls.test`;
    const json = await send(s.flags, rcpt);
    expect(json.recipients[0]).toMatchObject({ status: 'delivered', transport: 'v4' });
    const exp = (await ok(['export', '--format', 'ndjson'], s.flags)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { ip: string | null });
    for (const r of exp) expect(r.ip ?? '').not.toContain(':');
  });
  test('the built-in direct transport set to IPv4 only (no route at all) never dials IPv6, even to a dual-stack MX', async () => {
    const s = setup();
    await ok(['transport', 'add', 'direct', '--type', 'direct', '--ip-family', 'ipv4'], s.flags);
    expect((await ok(['transport', 'list'], s.flags)).stdout).toMatch(/direct\s+direct\s+\(ipv4 only, built in\)/);
    // It stays the built-in: not removable, not another type.
    expect((await cli(['transport', 'remove', 'direct'], s.flags)).code).not.toBe(0);
    expect((await cli(['transport', 'add', 'direct', '--type', 'smarthost', '--host', 'relay.test'], s.flags)).code).not.toBe(0);
    // dual.tls.test's MX has A and AAAA ::1 (and refuses every sender at MAIL, on both).
    const json = await send(s.flags, `${unique('v4direct')}@dual.tls.test`);
    expect(json.recipients[0]).toMatchObject({ transport: 'direct', route: null, host: 'mx-dual.tls.test' });
    const exp = (await ok(['export', '--format', 'ndjson'], s.flags)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { ip: string | null; host: string | null });
    expect(exp.filter((r) => r.host === 'mx-dual.tls.test').length).toBeGreaterThan(0);
    for (const r of exp) expect(r.ip ?? '').not.toContain(':');
  });
});
