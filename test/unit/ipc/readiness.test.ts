/**
 * The readiness channels on the real core: readiness.last before and after a run, the report
 * kept across restarts (and a damaged file ignored), the compose warning when port 25 is
 * blocked unless a route carries the message, and the re-run on a network change.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type os from 'node:os';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { OutboxEvent } from '../../../shared/contract';
import { ManualClock } from '../../../src-main/core/clock';
import { createStubResolver } from '../../../src-main/core/dns';
import { Outbox, type NetworkOptions } from '../../../src-main/core/outbox';
import { createHandlers, dispatch } from '../../../src-main/ipc-handlers';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { tmpDir } from '../../helpers/tmp';

let dns: FakeDns;
let closedPort: number;
const dirs: (() => void)[] = [];
beforeAll(async () => {
  dns = await startFakeDns();
  dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).servfail('bogus.test', 'A');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closedPort = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
});
afterAll(async () => {
  await dns.close();
  for (const c of dirs) c();
});

function open(dir: string, extra: NetworkOptions = {}, clock?: ManualClock) {
  const core = new Outbox({
    dataDir: dir,
    ...(clock ? { clock } : {}),
    network: {
      resolver: createStubResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 }),
      readinessTargets: { port25: [{ host: '127.0.0.1', port: closedPort }], myIp: [], dnsbl: [], dnssecSigned: 'signed.test', dnssecBogus: 'bogus.test' },
      readinessTimeoutMs: 500,
      ...extra,
    },
  });
  const table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
  const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;
  return { core, call };
}

function freshDir(): string {
  const t = tmpDir('outbox-readiness-ipc-');
  dirs.push(t.cleanup);
  return t.dir;
}

test('last is null until a run; the run is kept across restarts; a damaged file is ignored', async () => {
  const dir = freshDir();
  let { core, call } = open(dir);
  expect((await call('readiness.last', {})).value).toBeNull();
  const run = await call('readiness.run', {});
  expect(run.ok).toBe(true);
  expect(run.value.checks.find((c: { id: string }) => c.id === 'port25').status).toBe('fail');
  expect((await call('readiness.last', {})).value).toEqual(run.value);
  await core.close();

  ({ core, call } = open(dir));
  expect((await call('readiness.last', {})).value).toEqual(run.value);
  await core.close();

  fs.writeFileSync(path.join(dir, 'readiness.json'), '{"ranAt": 1, "checks": [{"id": "port25"');
  ({ core, call } = open(dir));
  expect((await call('readiness.last', {})).value).toBeNull();
  await core.close();
});

test('sendBlock: port 25 blocked and no route → warn; a route that carries the message → no warning', async () => {
  const { core, call } = open(freshDir());
  const msg = { from: 'me@example.test', recipientDomains: ['example.org'] };
  expect((await call('readiness.sendBlock', msg)).value).toEqual({ port25Blocked: false, carriedBy: null, blocked: false, checkedAt: null });
  await call('readiness.run', {});
  expect((await call('readiness.sendBlock', msg)).value).toMatchObject({ port25Blocked: true, carriedBy: null, blocked: true });
  await core.close();

  const routed = open(freshDir(), { routeCarrier: (m) => (m.recipientDomains.includes('example.org') ? 'relay' : null) });
  await routed.call('readiness.run', {});
  expect((await routed.call('readiness.sendBlock', msg)).value).toMatchObject({ port25Blocked: true, carriedBy: 'relay', blocked: false });
  expect((await routed.call('readiness.sendBlock', { ...msg, recipientDomains: ['other.test'] })).value).toMatchObject({ blocked: true });
  await routed.core.close();
});

test('sendBlock follows the real routes: a smarthost route for the domain carries it, a "from attempt 2" route too, a sender route only that sender', async () => {
  const { core, call } = open(freshDir());
  await call('readiness.run', {});
  const msg = { from: 'Me <me@example.test>', recipientDomains: ['example.org'] };
  expect((await call('readiness.sendBlock', msg)).value).toMatchObject({ port25Blocked: true, carriedBy: null, blocked: true });
  expect((await call('transports.save', { transport: { name: 'relay', type: 'smarthost', host: 'relay.example.test', port: 25 } })).ok).toBe(true);
  expect((await call('routes.add', { transport: 'relay', recipientDomain: 'example.org' })).ok).toBe(true);
  expect((await call('readiness.sendBlock', msg)).value).toMatchObject({ port25Blocked: true, carriedBy: 'relay', blocked: false });
  // One recipient domain that still goes direct is enough for the warning.
  expect((await call('readiness.sendBlock', { ...msg, recipientDomains: ['example.org', 'other.test'] })).value).toMatchObject({ carriedBy: null, blocked: true });
  // A subdomain is matched as the queue's router matches it.
  expect((await call('readiness.sendBlock', { ...msg, recipientDomains: ['sub.example.org'] })).value).toMatchObject({ carriedBy: 'relay', blocked: false });
  expect((await call('routes.add', { transport: 'relay', sender: 'boss@example.test' })).ok).toBe(true);
  expect((await call('readiness.sendBlock', { ...msg, recipientDomains: ['other.test'] })).value).toMatchObject({ blocked: true });
  expect((await call('readiness.sendBlock', { from: 'boss@example.test', recipientDomains: ['other.test'] })).value).toMatchObject({ carriedBy: 'relay', blocked: false });
  // A relay from the second attempt on still carries the message (after one retry).
  expect((await call('routes.add', { transport: 'relay', recipientDomain: 'later.test', fromAttempt: 2 })).ok).toBe(true);
  expect((await call('readiness.sendBlock', { ...msg, recipientDomains: ['later.test'] })).value).toMatchObject({ carriedBy: 'relay (from attempt 2)', blocked: false });
  await core.close();
});

test('the ipv6 check reads the built-in direct transport\'s IP family, which Settings and the CLI can set', async () => {
  const { core, call } = open(freshDir());
  const family = async () => ((await call('readiness.run', {})).value.checks.find((c: { id: string }) => c.id === 'ipv6').evidence as { ipFamily: string }).ipFamily;
  expect(await family()).toBe('both');
  const saved = await call('transports.save', { transport: { name: 'direct', type: 'direct', ipFamily: 'ipv4' } });
  expect(saved.ok).toBe(true);
  expect(saved.value).toMatchObject({ name: 'direct', builtin: true, ipFamily: 'ipv4' });
  expect((await call('transports.list', {})).value.transports[0]).toMatchObject({ name: 'direct', builtin: true, ipFamily: 'ipv4' });
  expect(await family()).toBe('ipv4');
  // The built-in stays direct delivery: no other type, and it cannot be removed.
  expect((await call('transports.save', { transport: { name: 'direct', type: 'smarthost', host: 'relay.example.test' } })).error).toMatchObject({ code: 'VALIDATION' });
  expect((await call('transports.remove', { name: 'direct' })).ok).toBe(false);
  expect((await call('transports.list', {})).value.transports[0]).toMatchObject({ name: 'direct', type: 'direct', ipFamily: 'ipv4' });
  await core.close();
});

test('run with a bad --from is a validation error; the renderer cannot pass targets', async () => {
  const { core, call } = open(freshDir());
  expect((await call('readiness.run', { from: 'not an address' })).error.code).toBe('VALIDATION');
  expect((await call('readiness.run', { targets: { port25: ['192.0.2.1'] } })).error.code).toBe('VALIDATION');
  await core.close();
});

test('a network change re-runs the check and tells the renderer', async () => {
  const clock = new ManualClock();
  const { core } = open(freshDir(), {}, clock);
  const seen: OutboxEvent[] = [];
  core.events.subscribe((b) => seen.push(...b));
  let ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = { eth0: [{ address: '192.0.2.10', internal: false } as os.NetworkInterfaceInfo] };
  const stop = core.readiness.watchNetwork({ intervalMs: 1000, interfaces: () => ifaces });
  ifaces = { wlan0: [{ address: '198.51.100.20', internal: false } as os.NetworkInterfaceInfo] };
  clock.advance(2000);
  await expect.poll(() => core.readiness.last).not.toBeNull();
  clock.advance(100); // the event batcher flushes on this clock
  await expect.poll(() => { clock.advance(100); return seen.filter((e) => e.type === 'readiness').length; }).toBe(1);
  stop();
  await core.close();
});

test('diagnoses never answer from delivery\'s DNS cache: a DKIM record corrected after a check shows at the next check', async () => {
  // The app's own resolver (no injected one): delivery caches answers per TTL (issue 14).
  const core = new Outbox({ dataDir: freshDir(), network: { dnsServers: [dns.address] } });
  const table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
  const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;
  const created = await call('identities.create', { address: 'me@cache.test', displayName: 'Me', selector: 'c1' });
  const keys = created.value.dkimKeys as { record: { name: string; value: string } }[];
  // Published by mistake with the other key's value (a paste error), then corrected.
  for (const [i, k] of keys.entries()) dns.add(k.record.name, 'TXT', [[keys[1 - i]!.record.value.slice(0, 200), keys[1 - i]!.record.value.slice(200)]]);
  await core.engine.resolver.txt(keys[0]!.record.name); // delivery looked it up too
  expect((await call('identities.checkDns', { id: created.value.id })).value).toMatchObject({ published: true, matches: false });
  for (const k of keys) dns.add(k.record.name, 'TXT', [[k.record.value.slice(0, 200), k.record.value.slice(200)]]);
  expect((await call('identities.checkDns', { id: created.value.id })).value).toMatchObject({ published: true, matches: true });
  await core.close();
});
