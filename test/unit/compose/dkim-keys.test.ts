import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkDkimRecord, dkimDnsRecord, dkimPublicKeyFromPrivate, generateDkimKey } from '../../../src-main/core/compose/dkim-keys';

describe('generateDkimKey', () => {
  it('rsa-sha256: 2048-bit key, p= is the DER SubjectPublicKeyInfo', () => {
    const k = generateDkimKey('rsa-sha256');
    const pub = crypto.createPublicKey({ key: Buffer.from(k.publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
    expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(crypto.createPublicKey(k.privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64')).toBe(k.publicKeyBase64);
    expect(dkimPublicKeyFromPrivate(k.privateKeyPem)).toEqual({ algorithm: 'rsa-sha256', publicKeyBase64: k.publicKeyBase64 });
  });

  it('ed25519-sha256: p= is the raw 32-byte key (RFC 8463 §4.2)', () => {
    const k = generateDkimKey('ed25519-sha256');
    const raw = Buffer.from(k.publicKeyBase64, 'base64');
    expect(raw.length).toBe(32);
    const spki = crypto.createPublicKey(k.privateKeyPem).export({ type: 'spki', format: 'der' });
    expect(spki.subarray(12).equals(raw)).toBe(true);
    expect(dkimPublicKeyFromPrivate(k.privateKeyPem)).toEqual({ algorithm: 'ed25519-sha256', publicKeyBase64: k.publicKeyBase64 });
  });
});

describe('dkimDnsRecord', () => {
  it('names the record under _domainkey with the A-label domain', () => {
    const r = dkimDnsRecord({ selector: 'Mail2024', domain: 'Bücher.de', algorithm: 'ed25519-sha256', publicKey: 'AAAA' });
    expect(r).toEqual({ name: 'mail2024._domainkey.xn--bcher-kva.de', value: 'v=DKIM1; k=ed25519; p=AAAA', strings: ['v=DKIM1; k=ed25519; p=AAAA'] });
  });
  it('splits a long RSA record into ≤255-octet strings that join back to the value', () => {
    const k = generateDkimKey('rsa-sha256');
    const r = dkimDnsRecord({ selector: 's', domain: 'example.org', algorithm: 'rsa-sha256', publicKey: k.publicKeyBase64 });
    expect(r.value).toBe(`v=DKIM1; k=rsa; p=${k.publicKeyBase64}`);
    expect(r.strings.length).toBeGreaterThan(1);
    for (const s of r.strings) expect(s.length).toBeLessThanOrEqual(255);
    expect(r.strings.join('')).toBe(r.value);
  });
});

describe('checkDkimRecord', () => {
  const ed = { algorithm: 'ed25519-sha256' as const, publicKeyBase64: 'MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=' };
  const rsa = { algorithm: 'rsa-sha256' as const, publicKeyBase64: 'MIIBIjANBgkq' };
  const cases: Array<[string, Array<string | string[]>, typeof ed | typeof rsa, boolean, boolean, RegExp]> = [
    ['matching ed25519', [`v=DKIM1; k=ed25519; p=${ed.publicKeyBase64}`], ed, true, true, /matching/],
    ['matching rsa split over strings, k= defaulted', [['v=DKIM1; p=MIIB', 'IjANBgkq']], rsa, true, true, /matching/],
    ['whitespace inside p= is ignored', ['v=DKIM1;k=rsa;p=MIIB IjAN Bgkq;'], rsa, true, true, /matching/],
    ['testing mode is reported', [`v=DKIM1; k=rsa; t=y; p=${rsa.publicKeyBase64}`], rsa, true, true, /testing/],
    ['nothing published', [], ed, false, false, /no TXT/],
    ['only unrelated TXT', ['v=spf1 -all', 'google-site-verification=abc'], ed, false, false, /none is a DKIM/],
    ['revoked', ['v=DKIM1; k=rsa; p='], rsa, true, false, /revoked/],
    ['other key', [`v=DKIM1; k=rsa; p=AAAA`], rsa, true, false, /differs/],
    ['wrong key type', [`v=DKIM1; k=rsa; p=${ed.publicKeyBase64}`], ed, true, false, /k=rsa/],
    ['hash restricted to sha1', [`v=DKIM1; h=sha1; p=${rsa.publicKeyBase64}`], rsa, true, false, /h=sha1/],
    ['not for e-mail', [`v=DKIM1; s=other; p=${rsa.publicKeyBase64}`], rsa, true, false, /s=other/],
    ['two records', [`v=DKIM1; p=${rsa.publicKeyBase64}`, 'v=DKIM1; p=BBBB'], rsa, true, false, /2 DKIM key records/],
    ['v= not first is not a key record', [`k=rsa; v=DKIM1; p=${rsa.publicKeyBase64}`], rsa, false, false, /none/],
    ['duplicate tags invalidate the record', [`v=DKIM1; p=${rsa.publicKeyBase64}; p=x`], rsa, false, false, /none/],
  ];
  for (const [title, records, expected, published, matches, reason] of cases) {
    it(title, () => {
      const r = checkDkimRecord(records, expected);
      expect([r.published, r.matches]).toEqual([published, matches]);
      expect(r.reason).toMatch(reason);
    });
  }
  it('never throws on garbage', () => {
    for (const junk of [null, undefined, 'string', [null, 1, {}, [2, null]], ['\u0000=;;==;']]) {
      expect(() => checkDkimRecord(junk as unknown as string[], ed)).not.toThrow();
    }
  });
});
