import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { createStubResolver } from '../../../src-main/core/dns';
import { DeliveryError } from '../../../src-main/core/errors';
import type { Dialer } from '../../../src-main/core/net/dialer';
import { tcpDialer } from '../../../src-main/core/net/dialer';
import { buildResponse, startFakeDns, toAnswer, type FakeDns } from '../../helpers/fake-dns';

let one: FakeDns;
let two: FakeDns;

beforeAll(async () => {
  [one, two] = await Promise.all([startFakeDns(), startFakeDns()]);
});
afterAll(() => Promise.all([one.close(), two.close()]));
beforeEach(() => {
  for (const d of [one, two]) {
    d.clear();
    d.queries.length = 0;
  }
});

async function rejection(p: Promise<unknown>): Promise<DeliveryError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DeliveryError);
  return e as DeliveryError;
}

describe('servers, timeouts and retries', () => {
  it('a silent first server times out and the second answers', async () => {
    one.drop('example.test', '*');
    two.add('example.test', 'A', ['192.0.2.2'], { ad: true });
    const r = createStubResolver({ servers: [one.address, two.address], timeoutMs: 200, tries: 2 });
    const a = await r.a('example.test');
    expect(a.records).toEqual(['192.0.2.2']);
    expect(one.queries).toHaveLength(1);
    expect(two.queries).toHaveLength(1);
  });

  it('SERVFAIL from the first server moves on to the second', async () => {
    one.servfail('example.test', '*');
    two.add('example.test', 'MX', [{ preference: 1, exchange: 'mx.example.test' }]);
    const r = createStubResolver({ servers: [one.address, two.address], timeoutMs: 500, tries: 1 });
    expect((await r.mx('example.test')).records).toHaveLength(1);
  });

  it('NXDOMAIN is final: the second server is not asked', async () => {
    one.nxdomain('gone.test');
    two.add('gone.test', 'A', ['192.0.2.2']);
    const r = createStubResolver({ servers: [one.address, two.address], timeoutMs: 500, tries: 2 });
    expect((await rejection(r.a('gone.test'))).code).toBe('DNS_NXDOMAIN');
    expect(two.queries).toHaveLength(0);
  });

  it('every server silent: DNS_TEMPORARY after `tries` rounds', async () => {
    one.drop('example.test', '*');
    two.drop('example.test', '*');
    const r = createStubResolver({ servers: [one.address, two.address], timeoutMs: 100, tries: 2 });
    const e = await rejection(r.a('example.test'));
    expect(e).toMatchObject({ code: 'DNS_TEMPORARY', permanent: false, stage: 'dns' });
    expect(e.message).toContain('timed out');
    expect(one.queries).toHaveLength(2);
    expect(two.queries).toHaveLength(2);
  });

  it('a closed port (ICMP unreachable) is temporary and the next server answers', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
    const dead = `127.0.0.1:${sock.address().port}`;
    await new Promise<void>((res) => sock.close(() => res()));
    two.add('example.test', 'A', ['192.0.2.2']);
    const r = createStubResolver({ servers: [dead, two.address], timeoutMs: 2000, tries: 1 });
    expect((await r.a('example.test')).records).toEqual(['192.0.2.2']);
    const alone = createStubResolver({ servers: [dead], timeoutMs: 2000, tries: 1 });
    expect((await rejection(alone.a('example.test'))).code).toBe('DNS_TEMPORARY');
  });

  it('timeouts run on the injected clock', async () => {
    one.drop('example.test', '*');
    const clock = new ManualClock();
    const r = createStubResolver({ servers: [one.address, two.address], timeoutMs: 3000, tries: 1, clock });
    two.drop('example.test', '*');
    const p = r.a('example.test').then(() => undefined, (e: unknown) => e);
    await vi.waitFor(() => expect(one.queries).toHaveLength(1));
    expect(two.queries).toHaveLength(0);
    clock.advance(3000);
    await vi.waitFor(() => expect(two.queries).toHaveLength(1));
    clock.advance(3000);
    expect(await p).toMatchObject({ code: 'DNS_TEMPORARY' });
  });

  it('no servers at all is DNS_TEMPORARY; a bad server string is INVALID_INPUT', async () => {
    expect((await rejection(createStubResolver({ servers: [] }).a('example.test'))).code).toBe('DNS_TEMPORARY');
    for (const bad of ['resolver.example', '127.0.0.1:0', '127.0.0.1:99999', '[::1', '']) {
      expect(() => createStubResolver({ servers: [bad] })).toThrow(DeliveryError);
    }
    expect(() => createStubResolver({ servers: ['127.0.0.1', '[::1]:5353', '::1', '127.0.0.53:53'] })).not.toThrow();
  });

  it('defaults to the system servers without throwing', () => {
    expect(() => createStubResolver()).not.toThrow();
  });
});

describe('truncation (RFC 7766 §5)', () => {
  it('TC=1 over UDP makes the resolver ask again over TCP', async () => {
    one.add('big.test', 'TXT', ['v=spf1 -all'], { truncate: true, ad: true });
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1 });
    const a = await r.txt('big.test');
    expect(a.records).toEqual(['v=spf1 -all']);
    expect(a.authentic).toBe(true);
    expect(one.queries.map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('an answer larger than the advertised UDP size comes over TCP', async () => {
    const txt = Array.from({ length: 12 }, (_, i) => `record ${i} ${'x'.repeat(200)}`);
    one.add('large.test', 'TXT', txt);
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1 });
    expect((await r.txt('large.test')).records).toEqual(txt);
    expect(one.queries.map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('uses the injected dialer for TCP', async () => {
    one.add('big.test', 'A', ['192.0.2.1'], { truncate: true });
    const dialed: string[] = [];
    const dialer: Dialer = (o) => {
      dialed.push(`${o.ip}:${o.port}`);
      return tcpDialer(o);
    };
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1, dialer });
    expect((await r.a('big.test')).records).toEqual(['192.0.2.1']);
    expect(dialed).toEqual([one.address]);
  });

  it('a TCP answer with the wrong ID is DNS_BOGUS', async () => {
    one.raw('big.test', 'A', ({ query, transport }) =>
      transport === 'udp'
        ? buildResponse(query, { tc: true })
        : buildResponse(query, { id: ((query.id ?? 0) + 1) & 0xffff, answers: [toAnswer('big.test', 'A', '192.0.2.1')] }),
    );
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1 });
    expect((await rejection(r.a('big.test'))).code).toBe('DNS_BOGUS');
  });

  it('a TCP server that closes without answering is DNS_TEMPORARY', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as net.AddressInfo).port;
    one.raw('big.test', 'A', ({ query }) => buildResponse(query, { tc: true }));
    // TCP goes to the closing server while UDP is answered by `one`.
    const dialer: Dialer = (o) => tcpDialer({ ...o, port });
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1, dialer });
    try {
      expect((await rejection(r.a('big.test'))).code).toBe('DNS_TEMPORARY');
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
    }
  });
});

describe('anti-spoofing (RFC 5452)', () => {
  it('a reply with the wrong ID is ignored; the genuine one that follows is used', async () => {
    one.raw('example.test', 'A', ({ query }) => [
      buildResponse(query, { id: ((query.id ?? 0) + 1) & 0xffff, answers: [toAnswer('example.test', 'A', '203.0.113.66')] }),
      buildResponse(query, { answers: [toAnswer('example.test', 'A', '192.0.2.1')] }),
    ]);
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1 });
    expect((await r.a('example.test')).records).toEqual(['192.0.2.1']);
  });

  it('a reply with the right ID but another question is ignored', async () => {
    one.raw('example.test', 'A', ({ query }) => [
      buildResponse(query, { question: { name: 'other.test', type: 'A' }, answers: [toAnswer('other.test', 'A', '203.0.113.66')] }),
      buildResponse(query, { question: { name: 'example.test', type: 'AAAA' }, answers: [] }),
      buildResponse(query, { answers: [toAnswer('example.test', 'A', '192.0.2.1')] }),
    ]);
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1 });
    expect((await r.a('example.test')).records).toEqual(['192.0.2.1']);
  });

  it('a reply from another port than the server queried is ignored', async () => {
    one.raw('example.test', 'A', ({ query }) => [
      { data: buildResponse(query, { answers: [toAnswer('example.test', 'A', '203.0.113.66')] }), fromOtherSocket: true },
      buildResponse(query, { answers: [toAnswer('example.test', 'A', '192.0.2.1')] }),
    ]);
    const r = createStubResolver({ servers: [one.address], timeoutMs: 1000, tries: 1 });
    expect((await r.a('example.test')).records).toEqual(['192.0.2.1']);
  });

  it('only forged replies: the lookup times out, it never accepts them', async () => {
    one.raw('example.test', 'A', ({ query }) => [
      { data: buildResponse(query, { answers: [toAnswer('example.test', 'A', '203.0.113.66')] }), fromOtherSocket: true },
      buildResponse(query, { id: ((query.id ?? 0) + 1) & 0xffff, answers: [toAnswer('example.test', 'A', '203.0.113.66')] }),
    ]);
    const r = createStubResolver({ servers: [one.address], timeoutMs: 200, tries: 1 });
    expect((await rejection(r.a('example.test'))).code).toBe('DNS_TEMPORARY');
  });

  it('a query (QR=0) echoed back is not taken as an answer', async () => {
    one.raw('example.test', 'A', ({ query }) => {
      const echo = buildResponse(query, { answers: [toAnswer('example.test', 'A', '203.0.113.66')] });
      echo[2] = (echo[2] ?? 0) & 0x7f; // clear QR
      return echo;
    });
    const r = createStubResolver({ servers: [one.address], timeoutMs: 200, tries: 1 });
    expect((await rejection(r.a('example.test'))).code).toBe('DNS_TEMPORARY');
  });
});
