/**
 * Issue 14 item 4: the resolver's cost — one UDP socket per server reused across queries (with
 * the ID and source checks of RFC 5452 still in force), answers cached per TTL with their
 * DNSSEC status, negative answers cached per RFC 2308 §5 (SOA), a bounded cache, and a bogus
 * answer never cached (let alone as secure).
 */
import dgram from 'node:dgram';
import type { Answer } from 'dns-packet';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { createStubResolver } from '../../../src-main/core/dns';
import { DeliveryError } from '../../../src-main/core/errors';
import { buildResponse, startFakeDns, toAnswer, type FakeDns } from '../../helpers/fake-dns';

let dns: FakeDns;

beforeAll(async () => {
  dns = await startFakeDns();
});
afterAll(() => dns.close());
beforeEach(() => {
  dns.clear();
  dns.queries.length = 0;
});
afterEach(() => vi.restoreAllMocks());

async function rejection(p: Promise<unknown>): Promise<DeliveryError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DeliveryError);
  return e as DeliveryError;
}

/** An SOA record for the authority section of a negative answer (RFC 2308 §3). */
function soa(zone: string, ttl: number, minimum: number): Answer {
  return {
    name: zone,
    type: 'SOA',
    ttl,
    class: 'IN',
    data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum },
  } as Answer;
}

describe('one UDP socket per resolver server', () => {
  it('twenty queries (sequential and concurrent) go out through one socket', async () => {
    for (let i = 0; i < 20; i++) dns.add(`h${i}.sock.test`, 'A', [`192.0.2.${i + 1}`]);
    const spy = vi.spyOn(dgram, 'createSocket');
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1 });
    for (let i = 0; i < 10; i++) expect((await r.a(`h${i}.sock.test`)).records).toEqual([`192.0.2.${i + 1}`]);
    const parallel = await Promise.all(Array.from({ length: 10 }, (_, i) => r.a(`h${i + 10}.sock.test`)));
    // Each concurrent query got its own answer: the IDs in flight were distinct.
    expect(parallel.map((a) => a.records[0])).toEqual(Array.from({ length: 10 }, (_, i) => `192.0.2.${i + 11}`));
    expect(new Set(dns.queries.slice(10).map((q) => q.id)).size).toBe(10);
    expect(spy).toHaveBeenCalledTimes(1);
    r.close?.();
  });

  it('a forged answer (wrong ID) on the shared socket is dropped and the genuine one awaited', async () => {
    dns.raw('forged.test', 'A', ({ query }) => [
      buildResponse(query, { id: ((query.id ?? 0) + 1) & 0xffff, answers: [toAnswer('forged.test', 'A', '203.0.113.66')] }),
      buildResponse(query, { answers: [toAnswer('forged.test', 'A', '192.0.2.7')] }),
    ]);
    dns.add('other.test', 'A', ['192.0.2.8']);
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1 });
    const [a, b] = await Promise.all([r.a('forged.test'), r.a('other.test')]);
    expect(a.records).toEqual(['192.0.2.7']);
    expect(b.records).toEqual(['192.0.2.8']);
    r.close?.();
  });

  it('a socket error (port unreachable) fails the query as temporary; the next query gets a new socket', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
    const dead = `127.0.0.1:${sock.address().port}`;
    await new Promise<void>((res) => sock.close(() => res()));
    const r = createStubResolver({ servers: [dead], timeoutMs: 2000, tries: 1 });
    expect((await rejection(r.a('x.test'))).code).toBe('DNS_TEMPORARY');
    expect((await rejection(r.a('y.test'))).code).toBe('DNS_TEMPORARY');
    r.close?.();
  });
});

describe('answer cache (TTL, RFC 2308, DNSSEC status)', () => {
  it('an answer is served from the cache until its TTL runs out, then asked again', async () => {
    const clock = new ManualClock();
    dns.add('ttl.test', 'MX', [{ preference: 10, exchange: 'mx.ttl.test' }], { ttl: 60 });
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, clock, cache: {} });
    expect((await r.mx('ttl.test')).records).toEqual([{ preference: 10, exchange: 'mx.ttl.test' }]);
    clock.advance(59_000);
    expect((await r.mx('ttl.test')).records).toHaveLength(1);
    expect(dns.queries).toHaveLength(1);
    dns.add('ttl.test', 'MX', [{ preference: 20, exchange: 'mx2.ttl.test' }], { ttl: 60 });
    clock.advance(1_000);
    expect((await r.mx('ttl.test')).records).toEqual([{ preference: 20, exchange: 'mx2.ttl.test' }]);
    expect(dns.queries).toHaveLength(2);
  });

  it('a CNAME chain is cached for its shortest TTL; TTL 0 is not cached', async () => {
    const clock = new ManualClock();
    dns.add('alias.test', 'CNAME', ['target.test'], { ttl: 10 });
    dns.add('target.test', 'A', ['192.0.2.9'], { ttl: 300 });
    dns.add('zero.test', 'A', ['192.0.2.10'], { ttl: 0 });
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, clock, cache: {} });
    await r.a('alias.test');
    clock.advance(9_000);
    await r.a('alias.test');
    expect(dns.queries.filter((q) => q.name === 'alias.test')).toHaveLength(1);
    clock.advance(1_000);
    await r.a('alias.test');
    expect(dns.queries.filter((q) => q.name === 'alias.test')).toHaveLength(2);
    await r.a('zero.test');
    await r.a('zero.test');
    expect(dns.queries.filter((q) => q.name === 'zero.test')).toHaveLength(2);
  });

  it('RFC 2308 §5: NXDOMAIN and NODATA are cached for min(SOA TTL, SOA MINIMUM); without an SOA they are not', async () => {
    const clock = new ManualClock();
    dns.raw('gone.test', '*', ({ query }) => buildResponse(query, { rcode: 'NXDOMAIN', authorities: [soa('test', 3600, 30)] }));
    dns.raw('nodata.test', 'TLSA', ({ query }) => buildResponse(query, { authorities: [soa('test', 20, 900)] }));
    dns.nxdomain('nosoa.test');
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, clock, cache: {} });
    const count = (name: string) => dns.queries.filter((q) => q.name === name).length;

    expect((await rejection(r.a('gone.test'))).code).toBe('DNS_NXDOMAIN');
    clock.advance(29_000);
    const cached = await rejection(r.a('gone.test'));
    expect(cached.code).toBe('DNS_NXDOMAIN'); // from the cache
    expect(count('gone.test')).toBe(1);
    // An answer, not a fault: thrown on every lookup of the name (the _mta-sts TXT of most
    // domains, per delivery), so no stack is captured for it; the fields are all there.
    expect(cached.stack).not.toMatch(/\n\s+at /);
    expect(cached).toMatchObject({ permanent: true, enhancedCode: '5.1.2', stage: 'dns' });
    expect(cached.message).toMatch(/does not exist \(NXDOMAIN/);
    expect(new Error('x').stack).toMatch(/\n\s+at /); // the limit was put back
    clock.advance(1_000);
    await rejection(r.a('gone.test'));
    expect(count('gone.test')).toBe(2);

    expect((await r.tlsa('nodata.test')).records).toEqual([]);
    clock.advance(19_000);
    expect((await r.tlsa('nodata.test')).records).toEqual([]);
    expect(count('nodata.test')).toBe(1);
    clock.advance(1_000);
    await r.tlsa('nodata.test');
    expect(count('nodata.test')).toBe(2);

    await rejection(r.a('nosoa.test'));
    await rejection(r.a('nosoa.test'));
    expect(count('nosoa.test')).toBe(2);
  });

  it('the DNSSEC status is kept in the entry: a secure answer stays secure, an insecure one insecure', async () => {
    dns.add('signed.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 1) }], { ad: true });
    dns.add('unsigned.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 2) }], { ad: false });
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, cache: {} });
    for (let i = 0; i < 2; i++) {
      expect(await r.tlsa('signed.test')).toMatchObject({ authentic: true, chainAuthentic: true });
      expect(await r.tlsa('unsigned.test')).toMatchObject({ authentic: false, chainAuthentic: false });
    }
    expect(dns.queries).toHaveLength(2);
  });

  it('a DNSSEC-bogus answer is never cached: each lookup asks again and fails again, and a later good answer is used', async () => {
    dns.servfail('bogus.test', 'TLSA', { ede: [{ code: 6, text: 'DNSSEC bogus' }] });
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, cache: {} });
    expect((await rejection(r.tlsa('bogus.test'))).code).toBe('DNS_BOGUS');
    expect((await rejection(r.tlsa('bogus.test'))).code).toBe('DNS_BOGUS');
    expect(dns.queries).toHaveLength(2);
    dns.add('bogus.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 3) }], { ad: true });
    expect(await r.tlsa('bogus.test')).toMatchObject({ authentic: true });
  });

  it('the cache is bounded: beyond maxEntries the least recently used answer goes', async () => {
    for (const n of ['a', 'b', 'c']) dns.add(`${n}.lru.test`, 'A', ['192.0.2.1']);
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, cache: { maxEntries: 2 } });
    await r.a('a.lru.test');
    await r.a('b.lru.test');
    await r.a('a.lru.test'); // a is now the most recently used
    await r.a('c.lru.test'); // evicts b
    await r.a('a.lru.test');
    await r.a('b.lru.test');
    expect(dns.queries.map((q) => q.name)).toEqual(['a.lru.test', 'b.lru.test', 'c.lru.test', 'b.lru.test']);
  });

  it('concurrent lookups of one name share one query', async () => {
    dns.add('same.test', 'AAAA', ['2001:db8::1']);
    const r = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, cache: {} });
    const all = await Promise.all(Array.from({ length: 5 }, () => r.aaaa('same.test')));
    expect(all.every((a) => a.records[0] === '2001:db8::1')).toBe(true);
    expect(dns.queries).toHaveLength(1);
  });
});

describe("the test DNS's negativeSoaTtl (what the benchmark's DNS answers)", () => {
  it('made-up NXDOMAIN and NODATA carry an SOA of the parent, so the caching resolver asks once per TTL', async () => {
    const soaDns = await startFakeDns({ negativeSoaTtl: 300 });
    try {
      soaDns.add('mx.d1.bench.test', 'A', ['127.0.0.31']);
      const clock = new ManualClock();
      const r = createStubResolver({ servers: [soaDns.address], timeoutMs: 1000, tries: 1, clock, cache: {} });
      const count = (name: string) => soaDns.queries.filter((q) => q.name === name).length;
      for (let i = 0; i < 3; i++) {
        expect((await rejection(r.txt('_mta-sts.d1.bench.test'))).code).toBe('DNS_NXDOMAIN');
        expect((await r.aaaa('mx.d1.bench.test')).records).toEqual([]);
      }
      expect(count('_mta-sts.d1.bench.test')).toBe(1);
      expect(count('mx.d1.bench.test')).toBe(1);
      clock.advance(300_000);
      await rejection(r.txt('_mta-sts.d1.bench.test'));
      expect(count('_mta-sts.d1.bench.test')).toBe(2);
    } finally {
      await soaDns.close();
    }
  });
});
