import net from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caWithExtra, pkixVerdict } from '../../../src-main/core/tls-policy/pkix';
import { peerChainDer, verifyDane } from '../../../src-main/core/tls-policy/dane';
import { spkiFromCertificate } from '../../../src-main/core/tls-policy/der';
import {
  TLSRPT_FAILURES,
  isCertificateVerificationError,
  tlsFailureFromAuthorizationError,
} from '../../../src-main/core/tls-policy/tlsrpt';
import { TestPki, type TestCert } from './pki';

describe('tlsFailureFromAuthorizationError (RFC 8460 §4.3)', () => {
  it.each([
    ['CERT_HAS_EXPIRED', 'certificate-expired'],
    ['CERT_NOT_YET_VALID', 'certificate-expired'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'certificate-not-trusted'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'certificate-not-trusted'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'certificate-not-trusted'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'certificate-not-trusted'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'certificate-host-mismatch'],
    ['CERT_SIGNATURE_FAILURE', 'validation-failure'],
    ['CERT_REVOKED', 'validation-failure'],
    ['SOMETHING_NEW', 'validation-failure'],
  ])('%s → %s', (code, failure) => {
    const r = tlsFailureFromAuthorizationError(code);
    expect(r.tlsrptFailure).toBe(failure);
    expect(r.reason.length).toBeGreaterThan(5);
    expect(TLSRPT_FAILURES).toContain(r.tlsrptFailure);
  });
  it('accepts an Error with a code, and nothing at all', () => {
    expect(tlsFailureFromAuthorizationError(Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' })).tlsrptFailure).toBe('certificate-expired');
    expect(tlsFailureFromAuthorizationError(undefined)).toEqual({ tlsrptFailure: 'validation-failure', reason: 'the certificate could not be verified' });
  });
  it('isCertificateVerificationError separates certificate errors from I/O errors', () => {
    expect(isCertificateVerificationError('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe(true);
    expect(isCertificateVerificationError('ECONNRESET')).toBe(false);
    expect(isCertificateVerificationError(undefined)).toBe(false);
  });
});

describe('caWithExtra', () => {
  it('keeps node defaults without an extra CA and extends them otherwise', () => {
    expect(caWithExtra(undefined)).toBeUndefined();
    expect(caWithExtra([])).toBeUndefined();
    const list = caWithExtra('PEM')!;
    expect(list.length).toBe(tls.rootCertificates.length + 1);
    expect(list[list.length - 1]).toBe('PEM');
  });
});

describe('pkixVerdict and peerChainDer against a real handshake', () => {
  let pki: TestPki;
  let root: TestCert;
  let inter: TestCert;
  let leaf: TestCert;
  let self: TestCert;
  const servers: tls.Server[] = [];
  let chainedPort = 0;
  let selfPort = 0;

  async function serve(cert: TestCert, extraPem = ''): Promise<number> {
    const server = tls.createServer({ key: cert.keyPem, cert: cert.certPem + extraPem }, (s) => s.end());
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  }

  function handshake(port: number, servername: string, ca: TestCert | undefined): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ca: caWithExtra(ca?.certPem) });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  }

  beforeAll(async () => {
    pki = new TestPki();
    root = pki.selfSigned('PKIX Root', { ca: true });
    inter = pki.issue(root, 'PKIX Intermediate', { ca: true });
    leaf = pki.issue(inter, 'mx.example.com', { names: ['mx.example.com'] });
    self = pki.selfSigned('mx.example.com', { ca: false, names: ['mx.example.com'] });
    chainedPort = await serve(leaf, inter.certPem);
    selfPort = await serve(self);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    pki?.cleanup();
  });

  it('verified: trusted chain and matching name', async () => {
    const s = await handshake(chainedPort, 'mx.example.com', root);
    try {
      expect(pkixVerdict(s, 'mx.example.com')).toEqual({ verified: true, method: 'pkix' });
      expect(pkixVerdict(s, 'MX.example.com.')).toEqual({ verified: true, method: 'pkix' });
    } finally {
      s.destroy();
    }
  });

  it('re-checks the name against the MX host, not just the SNI name', async () => {
    const s = await handshake(chainedPort, 'mx.example.com', root);
    try {
      expect(pkixVerdict(s, 'mx.other.example')).toMatchObject({ verified: false, tlsrptFailure: 'certificate-host-mismatch' });
    } finally {
      s.destroy();
    }
  });

  it('host mismatch reported by the handshake', async () => {
    const s = await handshake(chainedPort, 'mx.other.example', root);
    try {
      expect(pkixVerdict(s, 'mx.other.example')).toMatchObject({ verified: false, tlsrptFailure: 'certificate-host-mismatch' });
    } finally {
      s.destroy();
    }
  });

  it('untrusted CA → certificate-not-trusted', async () => {
    const s = await handshake(chainedPort, 'mx.example.com', undefined);
    try {
      expect(pkixVerdict(s, 'mx.example.com')).toMatchObject({ verified: false, tlsrptFailure: 'certificate-not-trusted' });
    } finally {
      s.destroy();
    }
  });

  it('self-signed → certificate-not-trusted', async () => {
    const s = await handshake(selfPort, 'mx.example.com', root);
    try {
      const v = pkixVerdict(s, 'mx.example.com');
      expect(v).toMatchObject({ verified: false, tlsrptFailure: 'certificate-not-trusted', reason: 'the certificate is self-signed' });
    } finally {
      s.destroy();
    }
  });

  it('peerChainDer returns the presented chain, leaf first, usable for DANE', async () => {
    const s = await handshake(chainedPort, 'mx.example.com', undefined);
    try {
      const chain = peerChainDer(s);
      expect(chain[0]!.equals(leaf.der)).toBe(true);
      expect(chain[1]!.equals(inter.der)).toBe(true);
      const ee = { usage: 3, selector: 1, matchingType: 1, data: createHash('sha256').update(spkiFromCertificate(leaf.der)!).digest() };
      expect(verifyDane({ records: [ee], chain, allowedNames: [], now: Date.now() })).toMatchObject({ verified: true, method: 'dane-ee' });
      const ta = { usage: 2, selector: 0, matchingType: 2, data: createHash('sha512').update(inter.der).digest() };
      expect(verifyDane({ records: [ta], chain, allowedNames: ['mx.example.com'], now: Date.now() })).toMatchObject({
        verified: true,
        method: 'dane-ta',
      });
    } finally {
      s.destroy();
    }
  });
});
