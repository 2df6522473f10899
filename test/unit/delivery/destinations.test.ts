import { afterAll, beforeAll, expect, test } from 'vitest';
import { createStubResolver } from '../../../src-main/core/dns';
import type { Resolver } from '../../../src-main/core/dns/types';
import { gatherDestinations, orderMx, pickAddresses, resolveHost } from '../../../src-main/core/delivery/destinations';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';

let dns: FakeDns;
let resolver: Resolver;

beforeAll(async () => {
  dns = await startFakeDns();
  resolver = createStubResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  dns.add('multi.test', 'MX', [
    { preference: 20, exchange: 'c.multi.test' },
    { preference: 10, exchange: 'a.multi.test' },
    { preference: 10, exchange: 'b.multi.test' },
  ], { ad: true });
  dns.add('nullmx.test', 'MX', [{ preference: 0, exchange: '.' }]);
  dns.add('implicit.test', 'A', ['127.0.0.10']);
  dns.add('dual.test', 'A', ['127.0.0.10', '127.0.0.11']);
  dns.add('dual.test', 'AAAA', ['::1']);
  dns.servfail('broken.test', 'MX');
});
afterAll(async () => {
  await dns.close();
});

test('MX hosts are sorted by preference, equal preferences shuffled (§1)', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const d = await gatherDestinations('multi.test', resolver);
    expect(d.hosts.map((h) => h.preference)).toEqual([10, 10, 20]);
    expect(d.hosts[2]!.host).toBe('c.multi.test');
    seen.add(d.hosts[0]!.host);
    expect(d.authentic).toBe(true);
  }
  expect(seen).toEqual(new Set(['a.multi.test', 'b.multi.test']));
});

test('orderMx drops duplicates and trailing dots', () => {
  const hosts = orderMx([
    { preference: 5, exchange: 'MX.Example.' },
    { preference: 7, exchange: 'mx.example' },
  ], () => 0);
  expect(hosts).toEqual([{ host: 'mx.example', preference: 5, implicit: false }]);
});

test('null MX fails permanently with 5.1.10 (RFC 7505)', async () => {
  await expect(gatherDestinations('nullmx.test', resolver)).rejects.toMatchObject({ code: 'NULL_MX', permanent: true, enhancedCode: '5.1.10' });
});

test('NXDOMAIN fails permanently with 5.1.2', async () => {
  await expect(gatherDestinations('nowhere.test', resolver)).rejects.toMatchObject({ code: 'DNS_NXDOMAIN', permanent: true, enhancedCode: '5.1.2' });
});

test('no MX but the name exists: the domain itself is the implicit MX', async () => {
  const d = await gatherDestinations('implicit.test', resolver);
  expect(d.hosts).toEqual([{ host: 'implicit.test', preference: 0, implicit: true }]);
});

test('SERVFAIL is a temporary failure of the attempt', async () => {
  await expect(gatherDestinations('broken.test', resolver)).rejects.toMatchObject({ code: 'DNS_TEMPORARY', permanent: false });
});

test('host addresses: both families, authenticity reported', async () => {
  const h = await resolveHost('dual.test', resolver);
  expect(h.ipv4).toEqual(['127.0.0.10', '127.0.0.11']);
  expect(h.ipv6).toEqual(['::1']);
  expect(h.authentic).toBe(false);
});

test('at most one IPv4 and one IPv6 per attempt, rotating across attempts (§1)', () => {
  const addrs = { ipv4: ['10.0.0.1', '10.0.0.2'], ipv6: ['2001:db8::1', '2001:db8::2'] };
  expect(pickAddresses(addrs, [])).toEqual(['10.0.0.1', '2001:db8::1']);
  expect(pickAddresses(addrs, ['10.0.0.1', '2001:db8::1'])).toEqual(['10.0.0.2', '2001:db8::2']);
  // Everything dialed: the least recently dialed comes back.
  expect(pickAddresses(addrs, ['10.0.0.1', '2001:db8::1', '10.0.0.2', '2001:db8::2'])).toEqual(['10.0.0.1', '2001:db8::1']);
  // Only IPv4 tried so far (e.g. a 5.7.x policy rejection): IPv6 goes first next time (§7).
  expect(pickAddresses(addrs, ['10.0.0.1'])).toEqual(['2001:db8::1', '10.0.0.2']);
  expect(pickAddresses({ ipv4: ['10.0.0.1'], ipv6: [] }, ['10.0.0.1'])).toEqual(['10.0.0.1']);
});
