import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ReadinessReport } from '../../../shared/readiness';
import { port25Blocked, runReadiness } from '../../../src-main/core/readiness';
import { checkResolverDnssec } from '../../../src-main/core/readiness/resolver-dnssec';
import { parseMyIpQuery, parsePort25Target, parseZone, resolveTargets } from '../../../src-main/core/readiness/targets';
import { startScriptedPeer, serveBasic, type ScriptedPeer } from '../../helpers/smtp-peer';
import { readinessHarness } from './harness';

let h: Awaited<ReturnType<typeof readinessHarness>>;
let mx: ScriptedPeer;
beforeAll(async () => {
  h = await readinessHarness();
  mx = await startScriptedPeer((c) => serveBasic(c, { ehlo: ['PIPELINING'] }));
});
afterAll(async () => {
  await mx.close();
  await h.close();
});
beforeEach(() => h.dns.clear());

describe('resolver-dnssec', () => {
  it('pass: AD on the signed name, SERVFAIL on the bogus one, resolver on loopback', async () => {
    h.dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).servfail('bogus.test', 'A');
    const c = await checkResolverDnssec(h.deps());
    expect(c.status).toBe('pass');
    expect(c.summary).toContain('DANE is on');
  });

  it('fail: no AD bit — DANE is off, and the check says so', async () => {
    h.dns.add('signed.test', 'A', ['198.51.100.1'], { ad: false }).servfail('bogus.test', 'A');
    const c = await checkResolverDnssec(h.deps());
    expect(c.status).toBe('fail');
    expect(c.summary).toContain('DANE is off');
  });

  it('fail: AD is set, but the mis-signed name resolves (the AD bit means nothing)', async () => {
    h.dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).add('bogus.test', 'A', ['198.51.100.2']);
    const c = await checkResolverDnssec(h.deps());
    expect(c.status).toBe('fail');
    expect(c.summary).toContain('cannot be trusted');
  });

  it('warn: validating, but on another machine (the AD bit crosses the network)', async () => {
    h.dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).servfail('bogus.test', 'A');
    // Only the label differs: every query still goes to the loopback fake.
    const c = await checkResolverDnssec(h.deps({ resolverServers: ['192.0.2.53'] }));
    expect(c.status).toBe('warn');
  });

  it('unknown: the signed name gets no answer', async () => {
    h.dns.drop('signed.test', 'A').servfail('bogus.test', 'A');
    expect((await checkResolverDnssec(h.deps())).status).toBe('unknown');
  });
});

describe('runReadiness', () => {
  it('runs every check, in the documented order, into one report the contract accepts', async () => {
    h.dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).servfail('bogus.test', 'A');
    h.dns.add('myip.test', 'A', ['198.51.100.7']).add('myip.test', 'AAAA', []);
    h.dns.add('7.100.51.198.in-addr.arpa', 'PTR', ['desk.example.test']).add('desk.example.test', 'A', ['198.51.100.7']);
    h.dns.nxdomain('7.100.51.198.bl.test');
    h.dns.add('example.test', 'TXT', ['v=spf1 ip4:198.51.100.7 -all']).add('_dmarc.example.test', 'TXT', ['v=DMARC1; p=reject']);
    h.dns.add('example.test', 'MX', [{ preference: 10, exchange: 'mx.example.test' }]).add('mx.example.test', 'A', ['198.51.100.25']);
    const report = await runReadiness(
      h.deps({
        identities: [{ address: 'me@example.test', dkimKeys: [] }],
        targets: { port25: [{ host: '127.0.0.1', port: mx.port }], myIp: [{ name: 'myip.test', server: undefined }], dnsbl: ['bl.test'] },
      }),
    );
    expect(ReadinessReport.parse(report)).toEqual(report);
    expect(report.checks.map((c) => `${c.id}:${c.status}`)).toEqual([
      'port25:pass',
      'public-ip:pass',
      'ptr:pass',
      'dnsbl:pass',
      'spf:pass',
      'dmarc:pass',
      'dkim:warn',
      'mx:pass',
      'resolver-dnssec:pass',
      'ipv6:pass',
    ]);
    expect(port25Blocked(report)).toBe(false);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('without identities, the per-identity checks are unknown and say how to fix that', async () => {
    h.dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).servfail('bogus.test', 'A');
    const report = await runReadiness(h.deps());
    const spf = report.checks.find((c) => c.id === 'spf')!;
    expect(spf).toMatchObject({ status: 'unknown', identity: null });
    expect(spf.fix).toContain('--from');
    expect(report.checks.find((c) => c.id === 'port25')!.status).toBe('unknown');
  });
});

describe('targets', () => {
  it('refuses the Internet defaults when the test harness says so', () => {
    expect(process.env.OUTBOX_READINESS_DEFAULTS).toBe('refuse');
    expect(() => resolveTargets({})).toThrow(/port25, myIp, dnsbl, dnssecSigned, dnssecBogus/);
    expect(() => resolveTargets({ port25: [], myIp: [], dnsbl: [], dnssecSigned: 'a.test' })).toThrow(/dnssecBogus/);
    expect(resolveTargets({ port25: [], myIp: [], dnsbl: [], dnssecSigned: 'a.test', dnssecBogus: 'b.test' }).dnssecBogus).toBe('b.test');
  });
  it('fills the defaults in an ordinary environment', () => {
    const t = resolveTargets({ dnsbl: ['bl.test'] }, {});
    expect(t.dnsbl).toEqual(['bl.test']);
    expect(t.port25.length).toBeGreaterThan(0);
    expect(t.myIp[0]!.name).toBe('myip.opendns.com');
  });
  it('parses flags and refuses bad ones', () => {
    expect(parsePort25Target('mx.test')).toEqual({ host: 'mx.test', port: 25 });
    expect(parsePort25Target('127.0.0.10:2525')).toEqual({ host: '127.0.0.10', port: 2525 });
    expect(parsePort25Target('[::1]:25')).toEqual({ host: '::1', port: 25 });
    expect(() => parsePort25Target('mx.test:99999')).toThrow(/bad port/);
    expect(() => parsePort25Target('bad host')).toThrow();
    expect(parseMyIpQuery('myip.opendns.com@resolver1.opendns.com')).toEqual({ name: 'myip.opendns.com', server: 'resolver1.opendns.com' });
    expect(parseMyIpQuery('myip.test@127.0.0.53:5353')).toEqual({ name: 'myip.test', server: '127.0.0.53:5353' });
    expect(parseMyIpQuery('myip.test')).toEqual({ name: 'myip.test', server: undefined });
    expect(() => parseMyIpQuery('my ip@x')).toThrow();
    expect(parseZone('Zen.Spamhaus.org.')).toBe('zen.spamhaus.org');
    expect(() => parseZone('nodot')).toThrow();
  });
});
