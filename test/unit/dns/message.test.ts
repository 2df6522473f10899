import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { parseEde } from '../../../src-main/core/dns/ede';
import { decodeResponse, encodeQuery, responseMismatch } from '../../../src-main/core/dns/message';
import { parseServer } from '../../../src-main/core/dns/wire-query';
import { buildResponse, toAnswer } from '../../helpers/fake-dns';

describe('encodeQuery', () => {
  it('asks with RD and AD, one IN question, and an OPT record with DO', () => {
    const q = dnsPacket.decode(encodeQuery(4242, 'example.test', 'TLSA'));
    expect(q.id).toBe(4242);
    expect(q.flag_qr).toBe(false);
    expect(q.flag_rd).toBe(true);
    expect(q.flag_ad).toBe(true);
    expect(q.questions).toEqual([{ name: 'example.test', type: 'TLSA', class: 'IN' }]);
    const opt = q.additionals?.[0];
    expect(opt).toMatchObject({ type: 'OPT', udpPayloadSize: 1232, flag_do: true });
  });
});

describe('decodeResponse', () => {
  const query = dnsPacket.decode(encodeQuery(7, 'example.test', 'A'));

  it('reads rcode, AD, TC and the answer records', () => {
    const res = decodeResponse(buildResponse(query, { ad: true, answers: [toAnswer('example.test', 'A', '192.0.2.1')] }));
    expect(res).toMatchObject({ rcode: 'NOERROR', ad: true, tc: false, ede: [] });
    expect(res.answers).toEqual([{ name: 'example.test', type: 'A', class: 'IN', ttl: 300, data: '192.0.2.1' }]);
    expect(responseMismatch(res.packet, 7, 'EXAMPLE.test.', 'A')).toBeUndefined();
    expect(responseMismatch(res.packet, 8, 'example.test', 'A')).toBe('ID differs');
    expect(responseMismatch(res.packet, 7, 'example.test', 'AAAA')).toBe('question differs');
  });

  it('combines the EDNS extended rcode (RFC 6891 §6.1.3): BADVERS', () => {
    const buf = buildResponse(query, {});
    // The OPT record is last: its EXTENDED-RCODE octet sits 7 bytes before the RDLENGTH end.
    buf[buf.length - 6] = 1;
    expect(decodeResponse(buf).rcode).toBe('BADVERS');
  });

  it('throws DNS_BOGUS for a truncated header', () => {
    expect(() => decodeResponse(Buffer.alloc(5))).toThrow(expect.objectContaining({ code: 'DNS_BOGUS' }));
  });
});

describe('parseEde (RFC 8914)', () => {
  it('reads INFO-CODE and EXTRA-TEXT, skips other options and short ones', () => {
    expect(
      parseEde([
        { code: 15, data: Buffer.from([0, 6, 0x62, 0x61, 0x64]) },
        { code: 10, data: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]) },
        { code: 15, data: Buffer.from([0]) },
        { code: 15, data: Buffer.from([0, 9]) },
      ]),
    ).toEqual([
      { code: 6, text: 'bad' },
      { code: 9, text: '' },
    ]);
  });
});

describe('parseServer', () => {
  it.each([
    ['127.0.0.1', { ip: '127.0.0.1', port: 53, family: 4 }],
    ['127.0.0.53:5353', { ip: '127.0.0.53', port: 5353, family: 4 }],
    ['::1', { ip: '::1', port: 53, family: 6 }],
    ['[::1]:5300', { ip: '::1', port: 5300, family: 6 }],
    ['[2001:db8::1]', { ip: '2001:db8::1', port: 53, family: 6 }],
  ])('%s', (s, want) => {
    expect(parseServer(s)).toEqual(want);
  });
});
