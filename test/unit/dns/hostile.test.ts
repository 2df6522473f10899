import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DecodedPacket } from 'dns-packet';
import { createStubResolver, type Resolver } from '../../../src-main/core/dns';
import { DeliveryError } from '../../../src-main/core/errors';
import { buildResponse, startFakeDns, toAnswer, type FakeDns } from '../../helpers/fake-dns';

let dns: FakeDns;
let resolver: Resolver;

beforeAll(async () => {
  dns = await startFakeDns();
  resolver = createStubResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
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

/** A header with the query's ID, QR=1, RD/RA, and the given counts. */
function header(query: DecodedPacket, counts: [number, number, number, number], flags = 0x8180): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(query.id ?? 0, 0);
  b.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => b.writeUInt16BE(c, 4 + i * 2));
  return b;
}

/** The query's question section, copied as encoded. */
function questionOf(query: DecodedPacket): Buffer {
  return buildResponse(query).subarray(12, 12 + 4 + (query.questions?.[0]?.name.length ?? 0) + 2);
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

describe('malformed answers are DNS_BOGUS, never a crash', () => {
  it('garbage after a matching ID', async () => {
    dns.garbage('example.test', 'A');
    const e = await rejection(resolver.a('example.test'));
    expect(e).toMatchObject({ code: 'DNS_BOGUS', permanent: false, stage: 'dns' });
  });

  it('a compression pointer to itself', async () => {
    dns.raw('example.test', 'A', ({ query }) => Buffer.concat([header(query, [1, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]));
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('a compression loop between two names', async () => {
    dns.raw('example.test', 'A', ({ query }) =>
      Buffer.concat([
        header(query, [1, 1, 0, 0]),
        questionOf(query),
        // Owner name: label "a" then a pointer forward to the next name, which points back.
        Buffer.from([1, 0x61, 0xc0, 12 + questionOf(query).length + 4, 1, 0x62, 0xc0, 12 + questionOf(query).length]),
        u16(1), u16(1), Buffer.alloc(4), u16(4), Buffer.from([192, 0, 2, 1]),
      ]),
    );
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('huge section counts with nothing behind them', async () => {
    dns.raw('example.test', 'A', ({ query }) => Buffer.concat([header(query, [1, 0xffff, 0xffff, 0xffff]), questionOf(query)]));
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_BOGUS');
    dns.raw('example.test', 'A', ({ query }) => Buffer.concat([header(query, [0xffff, 0, 0, 0]), questionOf(query)]));
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('an A record whose RDLENGTH does not match its content', async () => {
    dns.raw('example.test', 'A', ({ query }) => {
      const ok = buildResponse(query, { answers: [toAnswer('example.test', 'A', '192.0.2.1'), toAnswer('example.test', 'A', '192.0.2.2')] });
      // The first A's RDLENGTH (4) sits 6 bytes before its RDATA; make it 2.
      const at = ok.indexOf(Buffer.from([0, 4, 192, 0, 2, 1]));
      ok.writeUInt16BE(2, at);
      return ok;
    });
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('an A record with an extra RDATA byte (the codec alone would read a valid address)', async () => {
    dns.raw('example.test', 'A', ({ query }) =>
      Buffer.concat([header(query, [1, 1, 0, 0]), questionOf(query), Buffer.from([0xc0, 12]), u16(1), u16(1), Buffer.alloc(4), u16(5), Buffer.from([192, 0, 2, 1, 9])]),
    );
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('RDATA running past the end of the message', async () => {
    dns.raw('example.test', 'MX', ({ query }) => {
      const ok = buildResponse(query, { answers: [toAnswer('example.test', 'MX', { preference: 1, exchange: 'mx.example.test' })] });
      return ok.subarray(0, ok.length - 3);
    });
    expect((await rejection(resolver.mx('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('a TLSA record shorter than its three fixed octets', async () => {
    dns.raw('_25._tcp.mx.test', 'TLSA', ({ query }) =>
      Buffer.concat([header(query, [1, 1, 0, 0]), questionOf(query), Buffer.from([0xc0, 12]), u16(52), u16(1), Buffer.alloc(4), u16(2), Buffer.from([3, 1])]),
    );
    expect((await rejection(resolver.tlsa('_25._tcp.mx.test'))).code).toBe('DNS_BOGUS');
  });

  it('a TXT character-string longer than its record', async () => {
    dns.raw('example.test', 'TXT', ({ query }) =>
      Buffer.concat([header(query, [1, 1, 0, 0]), questionOf(query), Buffer.from([0xc0, 12]), u16(16), u16(1), Buffer.alloc(4), u16(3), Buffer.from([200, 0x61, 0x62])]),
    );
    expect((await rejection(resolver.txt('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('an MX exchange with control characters', async () => {
    dns.raw('example.test', 'MX', ({ query }) =>
      buildResponse(query, { answers: [toAnswer('example.test', 'MX', { preference: 1, exchange: 'mx\u001b[31m.example.test' })] }),
    );
    expect((await rejection(resolver.mx('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('two OPT records (RFC 6891 §6.1.1)', async () => {
    dns.raw('example.test', 'A', ({ query }) => {
      const ok = buildResponse(query, { answers: [toAnswer('example.test', 'A', '192.0.2.1')] });
      const opt = Buffer.from([0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
      const out = Buffer.concat([ok, opt]);
      out.writeUInt16BE(2, 10);
      return out;
    });
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_BOGUS');
  });

  it('a datagram shorter than a header is ignored like a spoof (times out)', async () => {
    dns.raw('example.test', 'A', () => Buffer.from([1, 2, 3]));
    expect((await rejection(resolver.a('example.test'))).code).toBe('DNS_TEMPORARY');
  });

  it('a malformed EDE option is skipped, the answer kept', async () => {
    dns.raw('example.test', 'A', ({ query }) => {
      const ok = buildResponse(query, { answers: [toAnswer('example.test', 'A', '192.0.2.1')], ede: [{ code: 1 }] });
      // Cut the EDE option to one byte of INFO-CODE: OPTION-LENGTH 1, OPT RDLENGTH 5.
      const out = ok.subarray(0, ok.length - 1);
      out.writeUInt16BE(1, out.length - 3);
      out.writeUInt16BE(5, out.length - 7);
      return out;
    });
    const r = await resolver.a('example.test');
    expect(r.records).toEqual(['192.0.2.1']);
    expect(r.ede).toEqual([]);
  });

  it('records of other classes and unrelated DNSSEC records are ignored', async () => {
    dns.raw('example.test', 'A', ({ query }) =>
      buildResponse(query, {
        ad: true,
        answers: [
          { name: 'example.test', type: 'A', ttl: 300, class: 'CH', data: '203.0.113.66' },
          toAnswer('example.test', 'A', '192.0.2.1'),
          {
            name: 'example.test',
            type: 'RRSIG',
            ttl: 300,
            class: 'IN',
            data: {
              typeCovered: 'A',
              algorithm: 13,
              labels: 2,
              originalTTL: 300,
              expiration: 2_000_000_000,
              inception: 1_700_000_000,
              keyTag: 12345,
              signersName: 'example.test',
              signature: Buffer.alloc(64, 7),
            },
          },
        ],
      }),
    );
    const r = await resolver.a('example.test');
    expect(r.records).toEqual(['192.0.2.1']);
    expect(r.authentic).toBe(true);
  });

  it('many hostile answers in a row leave no unhandled rejection and no open handles', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `n${i}.test`);
    names.forEach((n, i) =>
      i % 2 ? dns.garbage(n, 'A') : dns.raw(n, 'A', ({ query }) => Buffer.concat([header(query, [1, 0xffff, 0, 0]), questionOf(query)])),
    );
    const results = await Promise.allSettled(names.map((n) => resolver.a(n)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') expect((r.reason as DeliveryError).code).toBe('DNS_BOGUS');
    }
  });
});
