import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkDnsbl, describeCode, dnsblQueryName } from '../../../src-main/core/readiness/dnsbl';
import { checkIpv6 } from '../../../src-main/core/readiness/ipv6';
import { checkPtr } from '../../../src-main/core/readiness/ptr';
import { expandIPv6, looksGeneric, reverseName } from '../../../src-main/core/readiness/reverse-dns';
import { readinessHarness } from './harness';

let h: Awaited<ReturnType<typeof readinessHarness>>;
beforeAll(async () => {
  h = await readinessHarness();
});
afterAll(() => h.close());
beforeEach(() => h.dns.clear());

const IP = '198.51.100.7';
const RNAME = '7.100.51.198.in-addr.arpa';
const IP6 = '2001:db8::7';
const RNAME6 = `${'7000000000000000000000008bd01002'.split('').join('.')}.ip6.arpa`;

describe('reverse names', () => {
  it('in-addr.arpa and ip6.arpa (RFC 1035 §3.5, RFC 3596 §2.5)', () => {
    expect(reverseName(IP)).toBe(RNAME);
    expect(reverseName(IP6)).toBe(RNAME6);
    expect(expandIPv6('::ffff:192.0.2.1')).toBe('00000000000000000000ffffc0000201');
    expect(dnsblQueryName(IP, 'bl.test')).toBe('7.100.51.198.bl.test');
  });
  it('recognizes ISP line names', () => {
    expect(looksGeneric('dsl-198-51-100-7.isp.test', IP)).toBe(true);
    expect(looksGeneric('7.100.51.198.dynamic.isp.test', IP)).toBe(true);
    expect(looksGeneric('pool-12.isp.test', IP)).toBe(true);
    expect(looksGeneric('mail.example.test', IP)).toBe(false);
  });
});

describe('ptr', () => {
  it('pass: PTR confirmed by its A record, and it is the EHLO name', async () => {
    h.dns.add(RNAME, 'PTR', ['mail.example.test']).add('mail.example.test', 'A', [IP]);
    const r = await checkPtr(h.deps({ ehloName: 'mail.example.test' }), [IP]);
    expect(r.check.status).toBe('pass');
    expect(r.check.fix).toBeNull();
    expect(r.suggestedEhlo).toBe('mail.example.test');
  });

  it('warn: confirmed, but the EHLO name differs — that name is suggested', async () => {
    h.dns.add(RNAME, 'PTR', ['mail.example.test']).add('mail.example.test', 'A', [IP]);
    const r = await checkPtr(h.deps({ ehloName: 'desk.local.test' }), [IP]);
    expect(r.check.status).toBe('warn');
    expect(r.check.fix).toBe('Use mail.example.test as the EHLO name (Settings → Sending).');
    expect(r.check.evidence.suggestedEhlo).toBe('mail.example.test');
  });

  it('warn: the PTR name does not point back (no FCrDNS)', async () => {
    h.dns.add(RNAME, 'PTR', ['mail.example.test']).add('mail.example.test', 'A', ['198.51.100.99']);
    const r = await checkPtr(h.deps(), [IP]);
    expect(r.check.status).toBe('warn');
    expect(r.check.summary).toContain('does not point back');
    expect(r.suggestedEhlo).toBeNull();
  });

  it('warn: a generic ISP name', async () => {
    h.dns.add(RNAME, 'PTR', ['dsl-198-51-100-7.isp.test']).add('dsl-198-51-100-7.isp.test', 'A', [IP]);
    const r = await checkPtr(h.deps({ ehloName: 'dsl-198-51-100-7.isp.test' }), [IP]);
    expect(r.check.status).toBe('warn');
    expect(r.check.summary).toContain('dynamic line');
  });

  it('fail: no PTR record', async () => {
    h.dns.nxdomain(RNAME);
    const r = await checkPtr(h.deps(), [IP]);
    expect(r.check.status).toBe('fail');
    expect(r.check.fix).toMatch(/PTR record/);
  });

  it('unknown: the lookup fails (SERVFAIL), or no address is known', async () => {
    h.dns.servfail(RNAME, 'PTR');
    expect((await checkPtr(h.deps(), [IP])).check.status).toBe('unknown');
    expect((await checkPtr(h.deps(), [])).check.status).toBe('unknown');
  });
});

describe('ipv6', () => {
  it('pass: no IPv6 address at all', async () => {
    const c = await checkIpv6(h.deps(), [], [IP], []);
    expect(c.status).toBe('pass');
  });

  it('pass: IPv6 with confirmed PTR', async () => {
    h.dns.add(RNAME6, 'PTR', ['mail.example.test']).add('mail.example.test', 'AAAA', ['2001:0db8:0:0::7']);
    const c = await checkIpv6(h.deps(), [IP6], [IP], []);
    expect(c.status).toBe('pass');
  });

  it('warn: IPv6 works without PTR — proposes IPv4 only for direct delivery', async () => {
    h.dns.nxdomain(RNAME6);
    const c = await checkIpv6(h.deps(), [IP6], [IP], []);
    expect(c.status).toBe('warn');
    expect(c.fix).toMatch(/IPv4 only/);
  });

  it('pass: no PTR, but direct delivery is already IPv4 only', async () => {
    h.dns.nxdomain(RNAME6);
    const c = await checkIpv6(h.deps({ directIpFamily: 'ipv4' }), [IP6], [IP], []);
    expect(c.status).toBe('pass');
    expect(c.summary).toContain('IPv4 only');
  });

  it('fail: only IPv6, and no PTR', async () => {
    h.dns.nxdomain(RNAME6);
    const c = await checkIpv6(h.deps(), [IP6], [], []);
    expect(c.status).toBe('fail');
  });

  it('unknown: the PTR lookup fails', async () => {
    h.dns.servfail(RNAME6, 'PTR');
    expect((await checkIpv6(h.deps(), [IP6], [IP], [])).status).toBe('unknown');
  });
});

describe('dnsbl', () => {
  const q = (zone: string) => `7.100.51.198.${zone}`;

  it('pass: not listed (NXDOMAIN) on every zone', async () => {
    h.dns.nxdomain(q('bl.test')).nxdomain(q('bl2.test'));
    const c = await checkDnsbl(h.deps({ targets: { dnsbl: ['bl.test', 'bl2.test'] } }), [IP]);
    expect(c.status).toBe('pass');
  });

  it('fail: listed on the PBL (Spamhaus 127.0.0.11), with the zone\'s TXT reason', async () => {
    h.dns.add(q('bl.test'), 'A', ['127.0.0.11']).add(q('bl.test'), 'TXT', ['dynamic range, see https://bl.test/']);
    const c = await checkDnsbl(h.deps({ targets: { dnsbl: ['bl.test'] } }), [IP]);
    expect(c.status).toBe('fail');
    expect(c.summary).toContain('PBL');
    expect(c.fix).toMatch(/relay/);
    expect((c.evidence.listings as { text: string }[])[0]!.text).toContain('dynamic range');
  });

  it('unknown, not listed: 127.255.255.254 means the query came through a public resolver', async () => {
    h.dns.add(q('bl.test'), 'A', ['127.255.255.254']);
    const c = await checkDnsbl(h.deps({ targets: { dnsbl: ['bl.test'] } }), [IP]);
    expect(c.status).toBe('unknown');
    expect(c.summary).toContain('public/open resolver');
  });

  it('unknown, not listed: an answer outside 127/8 (an NXDOMAIN-rewriting resolver)', async () => {
    h.dns.add(q('bl.test'), 'A', ['203.0.113.80']);
    expect((await checkDnsbl(h.deps({ targets: { dnsbl: ['bl.test'] } }), [IP])).status).toBe('unknown');
  });

  it('warn: one zone refused the query, the other says not listed', async () => {
    h.dns.add(q('bl.test'), 'A', ['127.255.255.255']).nxdomain(q('bl2.test'));
    const c = await checkDnsbl(h.deps({ targets: { dnsbl: ['bl.test', 'bl2.test'] } }), [IP]);
    expect(c.status).toBe('warn');
    expect(c.summary).toContain('bl.test');
  });

  it('documented Spamhaus codes', () => {
    expect(describeCode('127.0.0.2')).toEqual({ listed: true, meaning: 'SBL (spam source)' });
    expect(describeCode('127.0.0.4').meaning).toMatch(/XBL/);
    expect(describeCode('127.255.255.252').listed).toBeNull();
  });
});
