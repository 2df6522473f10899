import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifyTlsa,
  isUsableTlsa,
  verifyDane,
  type TlsaRecord,
} from '../../../src-main/core/tls-policy/dane';
import { spkiFromCertificate } from '../../../src-main/core/tls-policy/der';
import { TestPki, type TestCert } from './pki';

let pki: TestPki;
let root: TestCert;
let inter: TestCert;
let leaf: TestCert; // issued by inter, names mx.example.com + example.com
let wildLeaf: TestCert; // issued by inter, *.example.net
let otherRoot: TestCert;
let strangerLeaf: TestCert; // issued by otherRoot, same name
let rsaLeaf: TestCert; // self-signed RSA leaf
let leafIssuedByLeaf: TestCert; // "issued" by a non-CA leaf
let nonCaIssuer: TestCert;

// Set after the certificates exist: they are valid from their creation second on.
let NOW = 0;
const NAMES = ['mx.example.com'];

beforeAll(() => {
  pki = new TestPki();
  root = pki.selfSigned('Test Root', { ca: true });
  inter = pki.issue(root, 'Test Intermediate', { ca: true });
  leaf = pki.issue(inter, 'mx.example.com', { names: ['mx.example.com', 'example.com'] });
  wildLeaf = pki.issue(inter, 'wild', { names: ['*.example.net'] });
  otherRoot = pki.selfSigned('Other Root', { ca: true });
  strangerLeaf = pki.issue(otherRoot, 'mx.example.com', { names: ['mx.example.com'] });
  rsaLeaf = pki.selfSigned('rsa.example.com', { ca: false, names: ['rsa.example.com'], key: 'rsa' });
  const bareLeaf = pki.issue(otherRoot, 'bare.example.com', { names: ['bare.example.com'], bare: true });
  leafIssuedByLeaf = pki.issue(bareLeaf, 'mx.example.com', { names: ['mx.example.com'] });
  nonCaIssuer = bareLeaf;
  NOW = Date.now() + 60_000;
}, 60_000);
afterAll(() => pki?.cleanup());

function select(cert: TestCert, selector: number): Buffer {
  return selector === 0 ? cert.der : spkiFromCertificate(cert.der)!;
}
function tlsa(usage: number, selector: number, matchingType: number, cert: TestCert): TlsaRecord {
  const sel = select(cert, selector);
  const data =
    matchingType === 0 ? sel : createHash(matchingType === 1 ? 'sha256' : 'sha512').update(sel).digest();
  return { usage, selector, matchingType, data };
}
const chain = (...certs: TestCert[]) => certs.map((c) => c.der);

describe('spkiFromCertificate', () => {
  it('returns the SPKI bytes node would export, for EC and RSA', () => {
    for (const c of [leaf, rsaLeaf, root]) {
      const exported = new X509Certificate(c.der).publicKey.export({ type: 'spki', format: 'der' });
      expect(spkiFromCertificate(c.der)!.equals(exported)).toBe(true);
    }
  });
  it('returns null on malformed input instead of throwing', () => {
    expect(spkiFromCertificate(Buffer.alloc(0))).toBeNull();
    expect(spkiFromCertificate(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]))).toBeNull();
    expect(spkiFromCertificate(leaf.der.subarray(0, 100))).toBeNull();
    expect(spkiFromCertificate(Buffer.from([0x30, 0x03, 0x30, 0x01, 0x00]))).toBeNull();
  });
});

describe('classifyTlsa / isUsableTlsa (RFC 7672 §3.1)', () => {
  const d32 = Buffer.alloc(32, 1);
  const d64 = Buffer.alloc(64, 1);
  it.each([
    [3, 1, 1, d32, true],
    [2, 0, 2, d64, true],
    [3, 0, 0, Buffer.from([1]), true],
    [0, 1, 1, d32, false], // PKIX-TA: unusable for SMTP (RFC 7672 §3.1.3)
    [1, 1, 1, d32, false], // PKIX-EE: unusable for SMTP
    [4, 1, 1, d32, false],
    [3, 2, 1, d32, false],
    [3, 1, 3, d32, false],
    [3, 1, 1, d64, false], // wrong digest length
    [3, 1, 2, d32, false],
    [3, 1, 0, Buffer.alloc(0), false],
  ])('usage %i selector %i mtype %i → %s', (usage, selector, matchingType, data, want) => {
    expect(isUsableTlsa({ usage, selector, matchingType, data })).toBe(want);
  });
  it('classifies record sets', () => {
    expect(classifyTlsa([])).toBe('none');
    expect(classifyTlsa([{ usage: 1, selector: 1, matchingType: 1, data: d32 }])).toBe('all-unusable');
    expect(
      classifyTlsa([
        { usage: 1, selector: 1, matchingType: 1, data: d32 },
        { usage: 3, selector: 1, matchingType: 1, data: d32 },
      ]),
    ).toBe('usable');
  });
});

describe('verifyDane: DANE-EE (usage 3)', () => {
  const combos = [0, 1].flatMap((s) => [0, 1, 2].map((m) => [s, m] as const));
  it.each(combos)('3 %i %i matches the leaf', (selector, mtype) => {
    const r = tlsa(3, selector, mtype, leaf);
    const v = verifyDane({ records: [r], chain: chain(leaf, inter), allowedNames: NAMES, now: NOW });
    expect(v).toEqual({ verified: true, method: 'dane-ee', record: r });
  });
  it.each(combos)('3 %i %i does not match another certificate', (selector, mtype) => {
    const v = verifyDane({ records: [tlsa(3, selector, mtype, leaf)], chain: chain(strangerLeaf), allowedNames: NAMES, now: NOW });
    expect(v).toMatchObject({ verified: false, tlsrptFailure: 'validation-failure' });
  });
  it.each(combos)('3 %i %i matches the leaf only, not an issuer in the chain', (selector, mtype) => {
    const v = verifyDane({ records: [tlsa(3, selector, mtype, inter)], chain: chain(leaf, inter), allowedNames: NAMES, now: NOW });
    expect(v.verified).toBe(false);
  });
  it('ignores names and expiry (RFC 7672 §3.1.1)', () => {
    const r = tlsa(3, 1, 1, leaf);
    const farFuture = NOW + 10 * 365 * 86400_000;
    expect(verifyDane({ records: [r], chain: chain(leaf), allowedNames: ['other.example'], now: farFuture }).verified).toBe(true);
    expect(verifyDane({ records: [tlsa(3, 0, 2, rsaLeaf)], chain: chain(rsaLeaf), allowedNames: [], now: NOW }).verified).toBe(true);
  });
  it('a DANE-EE selector 1 record survives a reissued certificate with the same key', () => {
    // SPKI pinning: the record stays valid as long as the key is the same.
    const r = tlsa(3, 1, 1, leaf);
    expect(r.data.equals(createHash('sha256').update(new X509Certificate(leaf.der).publicKey.export({ type: 'spki', format: 'der' })).digest())).toBe(true);
  });
});

describe('verifyDane: DANE-TA (usage 2)', () => {
  const combos = [0, 1].flatMap((s) => [0, 1, 2].map((m) => [s, m] as const));
  it.each(combos)('2 %i %i: anchor at the root, chain leaf→inter→root', (selector, mtype) => {
    const r = tlsa(2, selector, mtype, root);
    expect(verifyDane({ records: [r], chain: chain(leaf, inter, root), allowedNames: NAMES, now: NOW })).toEqual({
      verified: true,
      method: 'dane-ta',
      record: r,
    });
  });
  it.each(combos)('2 %i %i: anchor at the intermediate', (selector, mtype) => {
    const r = tlsa(2, selector, mtype, inter);
    expect(verifyDane({ records: [r], chain: chain(leaf, inter), allowedNames: NAMES, now: NOW })).toMatchObject({ verified: true, method: 'dane-ta' });
  });
  it.each(combos)('2 %i %i: anchor not related to the chain fails', (selector, mtype) => {
    const v = verifyDane({ records: [tlsa(2, selector, mtype, otherRoot)], chain: chain(leaf, inter, root), allowedNames: NAMES, now: NOW });
    expect(v).toMatchObject({ verified: false, tlsrptFailure: 'validation-failure' });
  });
  it.each(combos)('2 %i %i: a matching certificate the leaf does not chain to fails', (selector, mtype) => {
    // The attacker appends the real TA certificate to a chain for their own leaf.
    const v = verifyDane({ records: [tlsa(2, selector, mtype, root)], chain: chain(strangerLeaf, inter, root), allowedNames: NAMES, now: NOW });
    expect(v).toMatchObject({ verified: false, tlsrptFailure: 'validation-failure' });
  });

  it('builds the path from an out-of-order chain with extra certificates', () => {
    const r = tlsa(2, 1, 1, root);
    expect(verifyDane({ records: [r], chain: chain(leaf, otherRoot, root, inter), allowedNames: NAMES, now: NOW }).verified).toBe(true);
  });
  it('a "2 1 0" record with the full key works when the anchor is not in the chain (RFC 7671 §5.2.2)', () => {
    expect(verifyDane({ records: [tlsa(2, 1, 0, root)], chain: chain(leaf, inter), allowedNames: NAMES, now: NOW }).verified).toBe(true);
    expect(verifyDane({ records: [tlsa(2, 1, 0, inter)], chain: chain(leaf), allowedNames: NAMES, now: NOW }).verified).toBe(true);
  });
  it('a digest record needs the anchor certificate in the chain', () => {
    const v = verifyDane({ records: [tlsa(2, 1, 1, root)], chain: chain(leaf, inter), allowedNames: NAMES, now: NOW });
    expect(v).toMatchObject({ verified: false, tlsrptFailure: 'validation-failure' });
  });
  it('the leaf itself is never the trust anchor', () => {
    const v = verifyDane({ records: [tlsa(2, 0, 1, leaf)], chain: chain(leaf, inter), allowedNames: NAMES, now: NOW });
    expect(v.verified).toBe(false);
  });
  it('an issuer that is not a CA does not count', () => {
    const v = verifyDane({ records: [tlsa(2, 0, 1, nonCaIssuer)], chain: chain(leafIssuedByLeaf, nonCaIssuer), allowedNames: NAMES, now: NOW });
    expect(v).toMatchObject({ verified: false, tlsrptFailure: 'validation-failure' });
  });

  it.each([
    [['mx.example.com'], true],
    [['MX.EXAMPLE.COM.'], true],
    [['example.com'], true],
    [['other.example', 'example.com'], true],
    [['other.example'], false],
    [['a.mx.example.com'], false],
    [[], false],
  ])('leaf name check with allowed names %j → %s', (names, want) => {
    const v = verifyDane({ records: [tlsa(2, 1, 1, root)], chain: chain(leaf, inter, root), allowedNames: names, now: NOW });
    if (want) expect(v.verified).toBe(true);
    else expect(v).toMatchObject({ verified: false, tlsrptFailure: 'certificate-host-mismatch' });
  });
  it.each([
    ['mx.example.net', true],
    ['example.net', false],
    ['a.b.example.net', false],
  ])('wildcard leaf *.example.net vs %s → %s (RFC 7672 §3.2.3)', (name, want) => {
    const v = verifyDane({ records: [tlsa(2, 1, 1, inter)], chain: chain(wildLeaf, inter), allowedNames: [name], now: NOW });
    expect(v.verified).toBe(want);
  });

  it('checks validity periods below the anchor', () => {
    const r = tlsa(2, 1, 1, root);
    const later = NOW + 2 * 365 * 86400_000; // leaf (365 days) expired, root (3650) not
    expect(verifyDane({ records: [r], chain: chain(leaf, inter, root), allowedNames: NAMES, now: later })).toMatchObject({
      verified: false,
      tlsrptFailure: 'certificate-expired',
      reason: 'the certificate has expired',
    });
    const before = NOW - 2 * 86400_000;
    expect(verifyDane({ records: [r], chain: chain(leaf, inter, root), allowedNames: NAMES, now: before })).toMatchObject({
      verified: false,
      tlsrptFailure: 'certificate-expired',
    });
  });
});

describe('verifyDane: record sets and hostile chains', () => {
  it('only unusable records → tlsa-invalid', () => {
    const records = [tlsa(0, 1, 1, root), tlsa(1, 1, 1, leaf), { usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(5) }];
    expect(verifyDane({ records, chain: chain(leaf, inter, root), allowedNames: NAMES, now: NOW })).toMatchObject({
      verified: false,
      tlsrptFailure: 'tlsa-invalid',
    });
  });
  it('PKIX usages are ignored even when they would match', () => {
    const records = [tlsa(1, 0, 0, leaf), tlsa(3, 1, 1, strangerLeaf)];
    expect(verifyDane({ records, chain: chain(leaf, inter), allowedNames: NAMES, now: NOW }).verified).toBe(false);
  });
  it('any one matching record is enough', () => {
    const good = tlsa(3, 1, 2, leaf);
    const records = [tlsa(3, 1, 1, strangerLeaf), tlsa(2, 1, 1, otherRoot), good];
    expect(verifyDane({ records, chain: chain(leaf, inter), allowedNames: NAMES, now: NOW })).toMatchObject({ verified: true, record: good });
  });
  it('an empty or malformed chain fails without throwing', () => {
    const records = [tlsa(3, 1, 1, leaf)];
    expect(verifyDane({ records, chain: [], allowedNames: NAMES, now: NOW })).toMatchObject({ verified: false, tlsrptFailure: 'validation-failure' });
    expect(verifyDane({ records, chain: [Buffer.from('garbage')], allowedNames: NAMES, now: NOW })).toMatchObject({
      verified: false,
      tlsrptFailure: 'validation-failure',
    });
    expect(verifyDane({ records, chain: [leaf.der, Buffer.alloc(10)], allowedNames: NAMES, now: NOW }).verified).toBe(false);
    expect(verifyDane({ records, chain: Array(17).fill(leaf.der), allowedNames: NAMES, now: NOW }).verified).toBe(false);
  });
  it('a chain of repeated certificates does not loop', () => {
    const v = verifyDane({ records: [tlsa(2, 1, 1, otherRoot)], chain: chain(leaf, inter, inter, root, root, inter), allowedNames: NAMES, now: NOW });
    expect(v.verified).toBe(false);
  });
});
