/**
 * `outbox doctor` end to end under plain Node: every target pointed at in-process loopback
 * peers (fake DNS via --dns and --myip-query, a scripted MX via --port25-target). The JSON
 * shape is the issue's, the exit code says whether anything failed, bad flags are usage
 * errors, and the Internet defaults are refused in a test process.
 */
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { startScriptedPeer, type ScriptedPeer } from '../../helpers/smtp-peer';
import { runCli } from '../../helpers/cli';
import { tmpDir } from '../../helpers/tmp';

let dns: FakeDns;
let mx: ScriptedPeer;
let dir: string;
let cleanup: () => void;

const cli = (args: string[]) => runCli(args);

const targets = () => [
  '--data-dir', dir,
  '--dns', dns.address,
  '--port25-target', `127.0.0.1:${mx.port}`,
  '--myip-query', `myip.test@${dns.address}`,
  '--dnsbl', 'bl.test',
  '--dnssec-signed', 'signed.test',
  '--dnssec-bogus', 'bogus.test',
  '--ehlo', 'mail.sender.test',
  '--timeout', '2',
];

interface Check { id: string; identity: string | null; status: string; summary: string; fix: string | null; evidence: Record<string, unknown> }

beforeAll(async () => {
  ({ dir, cleanup } = tmpDir('outbox-doctor-'));
  dns = await startFakeDns();
  mx = await startScriptedPeer(async (c) => {
    c.write('220 mx.big.test ESMTP\r\n');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      if (/^EHLO/i.test(line)) c.write('250-mx.big.test at your service, [198.51.100.7]\r\n250 8BITMIME\r\n');
      else if (/^QUIT/i.test(line)) return c.write('221 bye\r\n'), c.end();
    }
  });
  dns.add('myip.test', 'A', ['198.51.100.7']).add('myip.test', 'AAAA', []);
  dns.add('7.100.51.198.in-addr.arpa', 'PTR', ['mail.sender.test']).add('mail.sender.test', 'A', ['198.51.100.7']);
  dns.nxdomain('7.100.51.198.bl.test');
  dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).servfail('bogus.test', 'A');
  dns.add('sender.test', 'TXT', ['v=spf1 ip4:198.51.100.7 -all']).add('_dmarc.sender.test', 'TXT', ['v=DMARC1; p=quarantine']);
  dns.add('sender.test', 'MX', [{ preference: 10, exchange: 'mail.sender.test' }]);
});
afterAll(async () => {
  await mx.close();
  await dns.close();
  cleanup();
});

test('doctor --from --json: one object, every check with id, status, summary, fix, evidence; exit 0 when nothing fails', async () => {
  // An identity with its default keys (RSA and Ed25519), made by the CLI; the test DNS publishes their records.
  const add = await cli(['identity', 'add', '--address', 'me@sender.test', '--json', '--data-dir', dir]);
  const recs = JSON.parse(add.stdout).dkimRecords as { name: string; value: string }[];
  expect(recs).toHaveLength(2);
  for (const rec of recs) dns.add(rec.name, 'TXT', [rec.value.match(/.{1,255}/g)!]);

  const r = await cli(['doctor', '--from', 'me@sender.test', '--json', ...targets()]);
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout) as { checks: Check[] };
  expect(Object.keys(out)).toEqual(['checks']);
  expect(out.checks.map((c) => [c.id, c.status])).toEqual([
    ['port25', 'pass'],
    ['public-ip', 'pass'],
    ['ptr', 'pass'],
    ['dnsbl', 'pass'],
    ['spf', 'pass'],
    ['dmarc', 'pass'],
    ['dkim', 'pass'],
    ['mx', 'pass'],
    ['resolver-dnssec', 'pass'],
    ['ipv6', 'pass'],
  ]);
  for (const c of out.checks) {
    expect(typeof c.summary).toBe('string');
    expect(c.fix === null || typeof c.fix === 'string').toBe(true);
    expect(typeof c.evidence).toBe('object');
  }
  expect(out.checks.find((c) => c.id === 'spf')!.identity).toBe('me@sender.test');
  expect(r.code).toBe(0);
});

test('doctor exits 1 when a check fails, and prints each verdict with its fix', async () => {
  const free = net.createServer();
  await new Promise<void>((res) => free.listen(0, '127.0.0.1', res));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((res) => free.close(() => res()));
  const args = targets();
  args[args.indexOf('--port25-target') + 1] = `127.0.0.1:${port}`;
  const r = await cli(['doctor', '--from', 'other@sender.test', ...args]);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/^FAIL {4}port25: Outbound port 25 looks blocked/m);
  expect(r.stdout).toContain('→ Ask your provider to open outbound port 25');
  expect(r.stdout).toMatch(/^WARN {4}dkim \(other@sender.test\): Mail from other@sender.test is not DKIM-signed/m);
});

test('bad flags are usage errors (exit 2, one line)', async () => {
  for (const bad of [['--port25-target', 'mx.test:0'], ['--myip-query', 'not a name'], ['--dnsbl', 'x'], ['--timeout', '0'], ['--from', 'not-an-address']]) {
    const r = await cli(['doctor', ...targets(), ...bad]);
    expect(r.code, bad.join(' ')).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }
});

test('a test process cannot fall back to the Internet defaults', async () => {
  const r = await cli(['doctor', '--json', '--data-dir', dir, '--dns', dns.address]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('OUTBOX_READINESS_DEFAULTS=refuse');
});
