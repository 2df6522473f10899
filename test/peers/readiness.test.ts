/**
 * `outbox doctor --json` against REAL peers (delivery-rules §14): knot serves the readiness
 * zones (readiness.test, the PTR zones 0.0.127.in-addr.arpa and 8.b.d.0.1.0.0.2.ip6.arpa, the
 * block list bl.test, the mis-signed bogus.test), unbound validates, Postfix is the MX that
 * port 25 is tried on. The "what is my IP" query is asked of knot itself, as
 * myip.opendns.com is asked of OpenDNS. Four machines, four runs: well set up, broken, half
 * set up, and one whose answers cannot be trusted.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Store } from '../../src-main/core/store/store';
import { freshDataDir, runCli } from './cli';
import type { Peers } from './peers';
import { usePeers } from './use-peers';

let peers: Peers;
let release: () => Promise<void>;
beforeAll(async () => {
  ({ peers, release } = await usePeers());
});
afterAll(() => release?.());

/** The test identity's DKIM key; its public half is published at desk._domainkey.good.readiness.test. */
const DKIM = {
  selector: 'desk',
  algorithm: 'ed25519-sha256' as const,
  privateKey: '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGl+kwaW1/FaQHY1Z48PAsTVFdbLNMvHuGhh2XmphTy9\n-----END PRIVATE KEY-----\n',
  publicKey: 'y58yT92651uZjRSbwMZ5G15T5hslcOUdT0D5Ok/8cZY=',
};

interface Check { id: string; identity: string | null; status: string; summary: string; fix: string | null; evidence: Record<string, unknown> }

async function doctor(o: { from?: string; withKey?: boolean; port25: string; myip: string; dnsbl: string[]; signed: string; ehlo: string }) {
  const dir = freshDataDir();
  if (o.from && o.withKey) {
    const store = Store.open(dir);
    store.insertIdentity({ address: o.from, displayName: '', isDefault: true, keys: [DKIM] }, Date.now());
    store.close();
  }
  const args = [
    'doctor', '--json',
    '--data-dir', dir,
    '--dns', `${peers.dns.resolver}:${peers.dns.port}`,
    '--ehlo', o.ehlo,
    '--port25-target', o.port25,
    '--myip-query', `${o.myip}@${peers.dns.authoritative}`,
    ...o.dnsbl.flatMap((z) => ['--dnsbl', z]),
    '--dnssec-signed', o.signed,
    '--dnssec-bogus', 'bogus.test',
    '--timeout', '5',
    ...(o.from ? ['--from', o.from] : []),
  ];
  const r = await runCli(args);
  let checks: Check[];
  try {
    checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
  const verdicts = Object.fromEntries(checks.map((c) => [c.id, c.status]));
  const byId = (id: string) => checks.find((c) => c.id === id)!;
  return { code: r.code, checks, verdicts, byId, stderr: r.stderr };
}

test('a well set-up machine: every check passes, exit 0', async () => {
  const r = await doctor({ from: 'me@good.readiness.test', withKey: true, port25: `${peers.hosts.mx1.ip}:25`, myip: 'myip.readiness.test', dnsbl: ['bl.test'], signed: 'dane.test', ehlo: 'mail.readiness.test' });
  expect(r.verdicts).toEqual({
    port25: 'pass',
    'public-ip': 'pass',
    ptr: 'pass',
    dnsbl: 'pass',
    spf: 'pass',
    dmarc: 'pass',
    dkim: 'pass',
    mx: 'pass',
    'resolver-dnssec': 'pass',
    ipv6: 'pass',
  });
  expect(r.byId('public-ip').evidence).toMatchObject({ ipv4: ['127.0.0.30'], ipv6: ['2001:db8::30'] });
  expect(r.byId('ptr').evidence.suggestedEhlo).toBe('mail.readiness.test');
  expect(r.byId('port25').summary).toContain('mx1.tls.test');
  expect(r.byId('resolver-dnssec').summary).toContain('DANE is on');
  expect(r.code).toBe(0);
});

test('a broken machine: port 25 refused, no PTR, on the PBL, SPF/DMARC/DKIM/MX failing, no DNSSEC; IPv6 without PTR → IPv4 only', async () => {
  const r = await doctor({ from: 'me@bad.readiness.test', withKey: true, port25: `${peers.hosts.dead.ip}:25`, myip: 'myip-bad.readiness.test', dnsbl: ['bl.test'], signed: 'tls.test', ehlo: 'desk.readiness.test' });
  expect(r.verdicts).toEqual({
    port25: 'fail',
    'public-ip': 'pass',
    ptr: 'fail',
    dnsbl: 'fail',
    spf: 'fail',
    dmarc: 'fail',
    dkim: 'fail',
    mx: 'fail',
    'resolver-dnssec': 'fail',
    ipv6: 'warn',
  });
  expect(r.byId('dnsbl').summary).toContain('PBL');
  expect(r.byId('resolver-dnssec').summary).toContain('DANE is off');
  expect(r.byId('ipv6').fix).toMatch(/IPv4 only/);
  expect(r.byId('mx').summary).toContain('null MX');
  expect(r.code).toBe(1);
});

test('a half set-up machine: warnings, with the EHLO name, SPF mechanism and records to publish', async () => {
  const r = await doctor({ from: 'me@soft.readiness.test', port25: `${peers.hosts.mx1.ip}:25`, myip: 'myip-weak.readiness.test', dnsbl: ['bl.test', 'clean.bl.test'], signed: 'dane.test', ehlo: 'desk.readiness.test' });
  expect(r.verdicts).toEqual({
    port25: 'pass',
    'public-ip': 'pass',
    ptr: 'warn',
    dnsbl: 'warn',
    spf: 'warn',
    dmarc: 'warn',
    dkim: 'warn',
    mx: 'warn',
    'resolver-dnssec': 'pass',
    ipv6: 'pass',
  });
  // 127.255.255.254 is "refused: public resolver", never "listed".
  expect(r.byId('dnsbl').summary).toContain('public/open resolver');
  expect(r.byId('spf').fix).toContain('ip4:127.0.0.32');
  expect(r.byId('dmarc').fix).toContain('_dmarc.soft.readiness.test');
  expect(r.code).toBe(0);
});

test('answers that cannot be trusted: a NAT address is not a public one, and what depends on it is unknown', async () => {
  const r = await doctor({ port25: `${peers.hosts.mx1.ip}:25`, myip: 'myip-nat.readiness.test', dnsbl: ['bl.test'], signed: 'dane.test', ehlo: 'desk.readiness.test' });
  expect(r.verdicts['public-ip']).toBe('fail');
  expect(r.verdicts.ptr).toBe('unknown');
  expect(r.verdicts.spf).toBe('unknown');
  const none = await doctor({ port25: `${peers.hosts.mx1.ip}:25`, myip: 'nothing.readiness.test', dnsbl: ['bl.test'], signed: 'dane.test', ehlo: 'desk.readiness.test' });
  expect(none.verdicts).toMatchObject({ 'public-ip': 'unknown', ptr: 'unknown', dnsbl: 'unknown', spf: 'unknown', dmarc: 'unknown', dkim: 'unknown', mx: 'unknown' });
  expect(none.code).toBe(0);
});
