import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStubResolver, type Resolver } from '../../../src-main/core/dns';
import { DeliveryError } from '../../../src-main/core/errors';
import { buildResponse, startFakeDns, toAnswer, type FakeDns } from '../../helpers/fake-dns';

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
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DeliveryError);
  return e as DeliveryError;
}

describe('CNAME chains in one answer', () => {
  it('follows the chain and reports the expanded name, all authentic', async () => {
    dns.add('example.test', 'CNAME', ['Mail.Provider.test.'], { ad: true });
    dns.add('mail.provider.test', 'CNAME', ['mx-pool.provider.test'], { ad: true });
    dns.add('mx-pool.provider.test', 'MX', [{ preference: 5, exchange: 'mx.provider.test' }], { ad: true });
    const r = await resolver.mx('example.test');
    expect(r.records).toEqual([{ preference: 5, exchange: 'mx.provider.test' }]);
    expect(r.cnames).toEqual(['mail.provider.test', 'mx-pool.provider.test']);
    expect(r.expandedName).toBe('mx-pool.provider.test');
    expect(r.authentic).toBe(true);
    expect(r.chainAuthentic).toBe(true);
    expect(dns.queries).toHaveLength(1);
  });

  it('an insecure step makes the whole single answer unauthenticated', async () => {
    dns.add('example.test', 'CNAME', ['target.test'], { ad: false });
    dns.add('target.test', 'A', ['192.0.2.1'], { ad: true });
    const r = await resolver.a('example.test');
    expect(r.records).toEqual(['192.0.2.1']);
    expect(r.authentic).toBe(false);
    expect(r.chainAuthentic).toBe(false);
  });

  it('records in any order, unrelated records ignored', async () => {
    dns.raw('example.test', 'A', ({ query }) =>
      buildResponse(query, {
        ad: true,
        answers: [
          toAnswer('target.test', 'A', '192.0.2.7'),
          toAnswer('planted.test', 'A', '203.0.113.66'),
          toAnswer('example.test', 'CNAME', 'target.test'),
        ],
      }),
    );
    const r = await resolver.a('example.test');
    expect(r.records).toEqual(['192.0.2.7']);
    expect(r.expandedName).toBe('target.test');
  });

  it('a CNAME target that does not exist is NXDOMAIN (RFC 6604)', async () => {
    dns.add('example.test', 'CNAME', ['gone.test']);
    const e = await rejection(resolver.mx('example.test'));
    expect(e.code).toBe('DNS_NXDOMAIN');
    expect(e.message).toContain('gone.test');
  });

  it('a chain ending in NODATA: records empty, expanded name is the target', async () => {
    dns.add('example.test', 'CNAME', ['target.test'], { ad: true });
    dns.add('target.test', 'A', ['192.0.2.1'], { ad: true });
    const r = await resolver.mx('example.test');
    expect(r.records).toEqual([]);
    expect(r.expandedName).toBe('target.test');
    expect(r.chainAuthentic).toBe(true);
  });
});

describe('CNAME chains across responses (re-query)', () => {
  it('re-queries the target when the resolver did not chase; authentic only if every response was', async () => {
    dns.add('example.test', 'CNAME', ['target.test'], { ad: false, chase: false });
    dns.add('target.test', 'MX', [{ preference: 1, exchange: 'mx.target.test' }], { ad: true });
    const r = await resolver.mx('example.test');
    expect(dns.queries.map((q) => q.name)).toEqual(['example.test', 'target.test']);
    expect(r.records).toEqual([{ preference: 1, exchange: 'mx.target.test' }]);
    expect(r.cnames).toEqual(['target.test']);
    expect(r.authentic).toBe(true); // the final answer itself was authentic
    expect(r.chainAuthentic).toBe(false); // but the step to it was not
  });

  it('all steps authentic across responses', async () => {
    dns.add('a.test', 'CNAME', ['b.test'], { ad: true, chase: false });
    dns.add('b.test', 'CNAME', ['c.test'], { ad: true, chase: false });
    dns.add('c.test', 'A', ['192.0.2.3'], { ad: true });
    const r = await resolver.a('a.test');
    expect(r.cnames).toEqual(['b.test', 'c.test']);
    expect(r.chainAuthentic).toBe(true);
    expect(dns.queries).toHaveLength(3);
  });

  it('a loop across responses is DNS_BOGUS, not an endless walk', async () => {
    dns.add('a.test', 'CNAME', ['b.test'], { chase: false });
    dns.add('b.test', 'CNAME', ['a.test'], { chase: false });
    const e = await rejection(resolver.a('a.test'));
    expect(e).toMatchObject({ code: 'DNS_BOGUS', permanent: false });
    expect(dns.queries.length).toBeLessThanOrEqual(2);
  });

  it('a loop within one answer is DNS_BOGUS', async () => {
    dns.raw('a.test', 'A', ({ query }) =>
      buildResponse(query, {
        answers: [toAnswer('a.test', 'CNAME', 'b.test'), toAnswer('b.test', 'CNAME', 'a.test')],
      }),
    );
    expect((await rejection(resolver.a('a.test'))).code).toBe('DNS_BOGUS');
  });

  it('a chain longer than the hop limit is DNS_BOGUS', async () => {
    for (let i = 0; i < 12; i++) dns.add(`h${i}.test`, 'CNAME', [`h${i + 1}.test`], { chase: i % 2 === 0 });
    dns.add('h12.test', 'A', ['192.0.2.1']);
    expect((await rejection(resolver.a('h0.test'))).code).toBe('DNS_BOGUS');
    expect(dns.queries.length).toBeLessThanOrEqual(9);
    // Within the limit it works.
    const short = createStubResolver({ servers: [dns.address], timeoutMs: 1000, tries: 1, maxCnameHops: 12 });
    expect((await short.a('h0.test')).records).toEqual(['192.0.2.1']);
  });

  it('two CNAMEs at one owner, or a CNAME beside data, is DNS_BOGUS (RFC 2181 §10.1)', async () => {
    dns.raw('two.test', 'A', ({ query }) =>
      buildResponse(query, { answers: [toAnswer('two.test', 'CNAME', 'x.test'), toAnswer('two.test', 'CNAME', 'y.test')] }),
    );
    dns.raw('mixed.test', 'A', ({ query }) =>
      buildResponse(query, { answers: [toAnswer('mixed.test', 'CNAME', 'x.test'), toAnswer('mixed.test', 'A', '192.0.2.1')] }),
    );
    expect((await rejection(resolver.a('two.test'))).code).toBe('DNS_BOGUS');
    expect((await rejection(resolver.a('mixed.test'))).code).toBe('DNS_BOGUS');
  });

  it('a CNAME target that is not a host name is DNS_BOGUS', async () => {
    dns.raw('evil.test', 'A', ({ query }) =>
      buildResponse(query, { answers: [toAnswer('evil.test', 'CNAME', 'bad\u0007name.test')] }),
    );
    expect((await rejection(resolver.a('evil.test'))).code).toBe('DNS_BOGUS');
  });
});
