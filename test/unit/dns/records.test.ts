import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStubResolver, type Resolver } from '../../../src-main/core/dns';
import { DeliveryError } from '../../../src-main/core/errors';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';

let dns: FakeDns;
let resolver: Resolver;

beforeAll(async () => {
  dns = await startFakeDns();
  resolver = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1 });
});
afterAll(() => dns.close());
beforeEach(() => {
  dns.clear();
  dns.queries.length = 0;
});

async function rejection(p: Promise<unknown>): Promise<DeliveryError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DeliveryError);
  return e as DeliveryError;
}

describe('record types', () => {
  it('PTR: the target name, lowercased (RFC 1035 §3.5)', async () => {
    dns.add('7.100.51.198.in-addr.arpa', 'PTR', ['Mail.Example.Test.']);
    expect((await resolver.ptr('7.100.51.198.in-addr.arpa')).records).toEqual(['mail.example.test']);
  });

  it('SERVFAIL keeps its rcode on the (temporary) error', async () => {
    dns.servfail('broken.test', 'A');
    const e = await rejection(resolver.a('broken.test'));
    expect(e).toMatchObject({ code: 'DNS_TEMPORARY', permanent: false, rcode: 'SERVFAIL' });
  });

  it('MX: preference and lowercased exchange, authentic', async () => {
    dns.add('example.test', 'MX', [
      { preference: 10, exchange: 'MX1.Example.Test' },
      { preference: 20, exchange: 'mx2.example.test.' },
    ], { ad: true });
    const r = await resolver.mx('example.test');
    expect(r.records).toEqual([
      { preference: 10, exchange: 'mx1.example.test' },
      { preference: 20, exchange: 'mx2.example.test' },
    ]);
    expect(r).toMatchObject({ name: 'example.test', authentic: true, chainAuthentic: true, cnames: [], expandedName: 'example.test', rcode: 'NOERROR', ede: [] });
  });

  it('MX: AD off is reported as not authentic', async () => {
    dns.add('example.test', 'MX', [{ preference: 0, exchange: 'mx.example.test' }], { ad: false });
    const r = await resolver.mx('example.test');
    expect(r.authentic).toBe(false);
    expect(r.chainAuthentic).toBe(false);
  });

  it('MX: a null MX keeps "." as exchange (RFC 7505)', async () => {
    dns.add('nullmx.test', 'MX', [{ preference: 0, exchange: '.' }], { ad: true });
    const r = await resolver.mx('nullmx.test');
    expect(r.records).toEqual([{ preference: 0, exchange: '.' }]);
  });

  it('A and AAAA', async () => {
    dns.add('host.test', 'A', ['192.0.2.1', '192.0.2.2'], { ad: true });
    dns.add('host.test', 'AAAA', ['2001:db8::1'], { ad: false });
    const a = await resolver.a('host.test');
    expect(a.records).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(a.authentic).toBe(true);
    const aaaa = await resolver.aaaa('host.test');
    expect(aaaa.records).toEqual(['2001:db8::1']);
    expect(aaaa.authentic).toBe(false);
  });

  it('TXT: the character-strings of one record are joined, records kept apart', async () => {
    dns.add('_mta-sts.example.test', 'TXT', [['v=STSv1; ', 'id=2024'], 'other record']);
    const r = await resolver.txt('_mta-sts.example.test');
    expect(r.records).toEqual(['v=STSv1; id=2024', 'other record']);
  });

  it('TLSA: usage, selector, matching type and data', async () => {
    const data = Buffer.from('a'.repeat(64), 'hex');
    dns.add('_25._tcp.mx.example.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data }], { ad: true });
    const r = await resolver.tlsa('_25._tcp.mx.example.test');
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ usage: 3, selector: 1, matchingType: 1 });
    expect(r.records[0]?.data.equals(data)).toBe(true);
    expect(r.authentic).toBe(true);
  });

  it('CNAME: the record itself, not followed', async () => {
    dns.add('alias.test', 'CNAME', ['target.test'], { ad: true });
    dns.add('target.test', 'A', ['192.0.2.9']);
    const r = await resolver.cname('alias.test');
    expect(r.records).toEqual(['target.test']);
    expect(r.cnames).toEqual([]);
    expect(r.expandedName).toBe('alias.test');
  });
});

describe('queries on the wire', () => {
  it('set RD, AD (RFC 6840 §5.7) and EDNS0 DO, with random IDs', async () => {
    dns.add('example.test', 'A', ['192.0.2.1']);
    for (let i = 0; i < 4; i++) await resolver.a('example.test');
    expect(dns.queries).toHaveLength(4);
    for (const q of dns.queries) {
      expect(q).toMatchObject({ name: 'example.test', type: 'A', transport: 'udp', rd: true, ad: true, do: true, udpPayloadSize: 1232 });
    }
    expect(new Set(dns.queries.map((q) => q.id)).size).toBeGreaterThan(1);
  });

  it('accepts a trailing dot and upper case, and asks for the lowercase name', async () => {
    dns.add('example.test', 'A', ['192.0.2.1']);
    const r = await resolver.a('EXAMPLE.Test.');
    expect(r.name).toBe('example.test');
    expect(r.records).toEqual(['192.0.2.1']);
    expect(dns.queries[0]?.name).toBe('example.test');
  });

  it.each([
    '',
    '.',
    'a..b',
    'exa mple.test',
    'a'.repeat(64) + '.test',
    ('a'.repeat(60) + '.').repeat(5) + 'test',
    'bad\u0000.test',
    'münchen.test',
    '-.test',
  ])('rejects invalid name %j as INVALID_INPUT without a query', async (name) => {
    const e = await rejection(resolver.a(name));
    expect(e.code).toBe('INVALID_INPUT');
    expect(dns.queries).toHaveLength(0);
  });
});

describe('rcodes', () => {
  it('NXDOMAIN is a permanent DNS_NXDOMAIN with 5.1.2', async () => {
    dns.nxdomain('gone.test', { ad: true });
    const e = await rejection(resolver.mx('gone.test'));
    expect(e).toMatchObject({ code: 'DNS_NXDOMAIN', permanent: true, stage: 'dns', enhancedCode: '5.1.2' });
  });

  it('an unknown name is NXDOMAIN', async () => {
    const e = await rejection(resolver.a('nothing.test'));
    expect(e.code).toBe('DNS_NXDOMAIN');
  });

  it('NODATA gives no records and still reports AD (secure NODATA matters for DANE)', async () => {
    dns.add('example.test', 'MX', [{ preference: 10, exchange: 'mx.example.test' }]);
    dns.add('_25._tcp.mx.example.test', 'TLSA', [], { ad: true });
    const r = await resolver.tlsa('_25._tcp.mx.example.test');
    expect(r.records).toEqual([]);
    expect(r.authentic).toBe(true);
    expect(r.rcode).toBe('NOERROR');

    dns.add('_25._tcp.mx.example.test', 'TLSA', [], { ad: false });
    expect((await resolver.tlsa('_25._tcp.mx.example.test')).authentic).toBe(false);
  });

  it('SERVFAIL is a temporary DNS_TEMPORARY carrying the EDE', async () => {
    dns.servfail('down.test', 'MX', { ede: [{ code: 22, text: 'no reachable authority' }] });
    const e = await rejection(resolver.mx('down.test'));
    expect(e).toMatchObject({ code: 'DNS_TEMPORARY', permanent: false, stage: 'dns' });
    expect(e.lines).toEqual(['EDE 22 (No Reachable Authority): no reachable authority']);
  });

  it('SERVFAIL with a DNSSEC EDE is DNS_BOGUS (temporary), carrying the EDE', async () => {
    dns.servfail('bogus.test', 'MX', { ede: [{ code: 6, text: 'validation failure <bogus.test. MX>' }] });
    const e = await rejection(resolver.mx('bogus.test'));
    expect(e).toMatchObject({ code: 'DNS_BOGUS', permanent: false, stage: 'dns' });
    expect(e.message).toContain('SERVFAIL');
    expect(e.lines).toEqual(['EDE 6 (DNSSEC Bogus): validation failure <bogus.test. MX>']);
  });

  it('REFUSED is temporary', async () => {
    dns.rcode('refused.test', '*', 'REFUSED');
    const e = await rejection(resolver.a('refused.test'));
    expect(e).toMatchObject({ code: 'DNS_TEMPORARY', permanent: false });
  });
});

describe('extended DNS errors (RFC 8914)', () => {
  it('are reported on successful answers, control characters removed', async () => {
    dns.add('stale.test', 'A', ['192.0.2.1'], { ede: [{ code: 3, text: 'served\nstale' }, { code: 22 }] });
    const r = await resolver.a('stale.test');
    expect(r.ede).toEqual([
      { code: 3, text: 'served stale' },
      { code: 22, text: '' },
    ]);
  });
});
