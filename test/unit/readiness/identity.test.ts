import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dkimDnsRecord, generateDkimKey } from '../../../src-main/core/compose/dkim-keys';
import { checkDkim } from '../../../src-main/core/readiness/dkim';
import { checkDmarc } from '../../../src-main/core/readiness/dmarc';
import { checkMx } from '../../../src-main/core/readiness/mx';
import { checkSpf } from '../../../src-main/core/readiness/spf';
import type { ReadinessIdentity } from '../../../src-main/core/readiness/types';
import { readinessHarness } from './harness';

let h: Awaited<ReturnType<typeof readinessHarness>>;
beforeAll(async () => {
  h = await readinessHarness();
});
afterAll(() => h.close());
beforeEach(() => h.dns.clear());

const IP = '198.51.100.7';
const key = generateDkimKey('ed25519-sha256');
const rsa = generateDkimKey('rsa-sha256');
const me: ReadinessIdentity = { address: 'me@example.test', dkimKeys: [{ selector: 'desk', algorithm: 'ed25519-sha256', publicKey: key.publicKeyBase64 }] };
const record = dkimDnsRecord({ selector: 'desk', domain: 'example.test', algorithm: 'ed25519-sha256', publicKey: key.publicKeyBase64 });
/** As identities.ts makes them: an RSA and an Ed25519 key, each under its own selector. */
const both: ReadinessIdentity = {
  address: 'me@example.test',
  dkimKeys: [
    { selector: 'd-rsa', algorithm: 'rsa-sha256', publicKey: rsa.publicKeyBase64 },
    { selector: 'd-ed25519', algorithm: 'ed25519-sha256', publicKey: key.publicKeyBase64 },
  ],
};
const bothRecords = both.dkimKeys.map((k) => dkimDnsRecord({ ...k, domain: 'example.test' }));

describe('spf (mailauth, through our resolver)', () => {
  it('pass: the record lists the address', async () => {
    h.dns.add('example.test', 'TXT', [`v=spf1 ip4:${IP} -all`]);
    const r = await checkSpf(h.deps(), me, [IP]);
    expect(r.check).toMatchObject({ id: 'spf', identity: 'me@example.test', status: 'pass', fix: null });
    expect(r.passesForAll).toBe(true);
  });

  it('pass through include: and a: mechanisms', async () => {
    h.dns.add('example.test', 'TXT', ['v=spf1 include:_spf.example.test -all']).add('_spf.example.test', 'TXT', ['v=spf1 a:out.example.test -all']).add('out.example.test', 'A', [IP]);
    expect((await checkSpf(h.deps(), me, [IP])).check.status).toBe('pass');
  });

  it('warn: softfail, and the fix names the mechanism to add', async () => {
    h.dns.add('example.test', 'TXT', ['v=spf1 ip4:192.0.2.1 ~all']);
    const r = await checkSpf(h.deps(), me, [IP]);
    expect(r.check.status).toBe('warn');
    expect(r.check.fix).toContain(`ip4:${IP}`);
    expect(r.passesForAll).toBe(false);
  });

  it('warn: no SPF record; the fix is a whole record', async () => {
    h.dns.add('example.test', 'TXT', ['some-verification=abc']);
    const r = await checkSpf(h.deps(), me, [IP, '2001:db8::7']);
    expect(r.check.status).toBe('warn');
    expect(r.check.fix).toBe(`Publish a TXT record at example.test: "v=spf1 ip4:${IP} ip6:2001:db8::7 ~all".`);
  });

  it('fail: -all without the address; fail: a broken record (permerror)', async () => {
    h.dns.add('example.test', 'TXT', ['v=spf1 ip4:192.0.2.1 -all']);
    expect((await checkSpf(h.deps(), me, [IP])).check.status).toBe('fail');
    h.dns.add('example.test', 'TXT', ['v=spf1 ip4:192.0.2.1 -all', 'v=spf1 -all']);
    const r = await checkSpf(h.deps(), me, [IP]);
    expect(r.check.status).toBe('fail');
    expect(r.check.summary).toContain('broken');
  });

  it('unknown: the TXT lookup fails (temperror)', async () => {
    h.dns.servfail('example.test', 'TXT');
    expect((await checkSpf(h.deps(), me, [IP])).check.status).toBe('unknown');
  });
});

describe('dkim', () => {
  it('pass: published, equal to our key, d= aligned with the From domain', async () => {
    h.dns.add(record.name, 'TXT', [record.strings]);
    const r = await checkDkim(h.deps(), me);
    expect(r.check).toMatchObject({ status: 'pass', identity: 'me@example.test' });
    expect(r.check.evidence).toMatchObject({ signingDomain: 'example.test', fromDomain: 'example.test', aligned: true });
    expect(r.passingDomain).toBe('example.test');
  });

  it('pass: both keys of a new identity (RSA and Ed25519) published', async () => {
    for (const r of bothRecords) h.dns.add(r.name, 'TXT', [r.strings]);
    const r = await checkDkim(h.deps(), both);
    expect(r.check.status).toBe('pass');
    expect(r.check.summary).toContain('All 2 DKIM keys');
  });

  it('warn: one of the two keys is not published (verifiers of that algorithm see a failure)', async () => {
    h.dns.nxdomain(bothRecords[0]!.name).add(bothRecords[1]!.name, 'TXT', [bothRecords[1]!.value]);
    const r = await checkDkim(h.deps(), both);
    expect(r.check.status).toBe('warn');
    expect(r.check.summary).toContain('rsa-sha256');
    expect(r.check.fix).toContain(bothRecords[0]!.name);
    expect(r.passingDomain).toBe('example.test');
  });

  it('warn: the identity has no key (mail goes unsigned)', async () => {
    const r = await checkDkim(h.deps(), { address: 'me@example.test', dkimKeys: [] });
    expect(r.check.status).toBe('warn');
    expect(r.check.fix).toMatch(/Generate DKIM keys/);
  });

  it('warn: testing mode t=y', async () => {
    h.dns.add(record.name, 'TXT', [`${record.value}; t=y`]);
    expect((await checkDkim(h.deps(), me)).check.status).toBe('warn');
  });

  it('fail: a different key is published; fail: nothing is published', async () => {
    const other = generateDkimKey('ed25519-sha256');
    h.dns.add(record.name, 'TXT', [`v=DKIM1; k=ed25519; p=${other.publicKeyBase64}`]);
    const r = await checkDkim(h.deps(), me);
    expect(r.check.status).toBe('fail');
    expect(r.check.summary).toContain('differs');
    h.dns.nxdomain(record.name);
    expect((await checkDkim(h.deps(), me)).check.status).toBe('fail');
  });

  it('unknown: the lookup fails', async () => {
    h.dns.servfail(record.name, 'TXT');
    expect((await checkDkim(h.deps(), me)).check.status).toBe('unknown');
  });
});

describe('dmarc (mailauth record discovery and alignment)', () => {
  it('pass: p=reject, and an aligned DKIM pass is predicted', async () => {
    h.dns.add('_dmarc.example.test', 'TXT', ['v=DMARC1; p=reject']);
    const c = await checkDmarc(h.deps(), me, { spfPasses: false, dkimDomain: 'example.test' });
    expect(c).toMatchObject({ status: 'pass', identity: 'me@example.test' });
    expect(c.evidence.policy).toBe('reject');
  });

  it('pass: the organizational domain\'s record applies to a subdomain (RFC 7489 §6.6.3)', async () => {
    h.dns.add('_dmarc.example.test', 'TXT', ['v=DMARC1; p=quarantine']);
    const c = await checkDmarc(h.deps(), { address: 'me@sub.example.test', dkimKeys: [] }, { spfPasses: true, dkimDomain: null });
    expect(c.status).toBe('pass');
  });

  it('warn: no record', async () => {
    h.dns.nxdomain('_dmarc.example.test');
    const c = await checkDmarc(h.deps(), me, { spfPasses: true, dkimDomain: null });
    expect(c.status).toBe('warn');
    expect(c.fix).toContain('_dmarc.example.test');
  });

  it('fail: p=reject and neither SPF nor DKIM would pass', async () => {
    h.dns.add('_dmarc.example.test', 'TXT', ['v=DMARC1; p=reject']);
    const c = await checkDmarc(h.deps(), me, { spfPasses: false, dkimDomain: null });
    expect(c.status).toBe('fail');
    expect(c.summary).toContain('reject it');
  });

  it('unknown: the lookup fails', async () => {
    h.dns.servfail('_dmarc.example.test', 'TXT');
    expect((await checkDmarc(h.deps(), me, { spfPasses: true, dkimDomain: null })).status).toBe('unknown');
  });
});

describe('mx of the From domain', () => {
  it('pass: MX hosts with addresses', async () => {
    h.dns.add('example.test', 'MX', [{ preference: 10, exchange: 'mx.example.test' }]).add('mx.example.test', 'A', ['198.51.100.25']);
    expect(await checkMx(h.deps(), me)).toMatchObject({ status: 'pass', identity: 'me@example.test' });
  });
  it('warn: no MX, only an address (implicit MX)', async () => {
    h.dns.add('example.test', 'MX', []).add('example.test', 'A', ['198.51.100.25']);
    expect((await checkMx(h.deps(), me)).status).toBe('warn');
  });
  it('fail: null MX (RFC 7505); fail: the domain does not exist', async () => {
    h.dns.add('example.test', 'MX', [{ preference: 0, exchange: '.' }]);
    expect((await checkMx(h.deps(), me)).summary).toContain('null MX');
    h.dns.nxdomain('example.test');
    expect((await checkMx(h.deps(), me)).status).toBe('fail');
  });
  it('unknown: the lookup fails', async () => {
    h.dns.servfail('example.test', 'MX');
    expect((await checkMx(h.deps(), me)).status).toBe('unknown');
  });
});
