/**
 * DANE for SMTP: verifying a peer's certificate chain against its TLSA records (RFC 7672 §3,
 * RFC 6698 §2.1, RFC 7671 §5).
 *
 * - Usable records: usage DANE-TA(2) or DANE-EE(3), selector Cert(0) or SPKI(1), matching type
 *   Full(0), SHA2-256(1) or SHA2-512(2), with a digest of the right length. PKIX-TA(0) and
 *   PKIX-EE(1) are not usable for SMTP (RFC 7672 §3.1.3); unknown parameters are unusable
 *   (RFC 7671 §4.1 / RFC 6698 §4.1).
 * - DANE-EE(3): the leaf matches; no name check, no validity-period check (RFC 7672 §3.1.1).
 * - DANE-TA(2): a certificate in the presented chain (or, for "2 1 0", a bare public key)
 *   matches, the leaf chains to it by verified signatures, the certificates below the trust
 *   anchor are within their validity period, and the leaf carries one of the allowed reference
 *   identifiers (RFC 7672 §3.1.2, §3.2.2; wildcards only as the whole left-most label, §3.2.3).
 *
 * The caller passes only records from a DNSSEC-authentic answer (RFC 7672 §2.2): unsigned TLSA
 * records are an attacker's to choose. All parsing uses node:crypto's X509Certificate; the
 * peer's chain is hostile input and malformed certificates are a verification failure.
 */
import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { TlsaClass } from '../../../shared/domain';
import type { TlsaRecord } from '../dns/types';
import { spkiFromCertificate } from './der';
import { normalizeHostName } from './mta-sts-policy';

export type { TlsaRecord };

export type { TlsaClass };

export type DaneFailure = 'tlsa-invalid' | 'validation-failure' | 'certificate-host-mismatch' | 'certificate-expired';

export type DaneVerdict =
  | { verified: true; method: 'dane-ee' | 'dane-ta'; record: TlsaRecord }
  | { verified: false; reason: string; tlsrptFailure: DaneFailure };

export interface DaneVerifyInput {
  /** TLSA records of a DNSSEC-authentic answer only. */
  records: readonly TlsaRecord[];
  /** The presented chain as DER, leaf first. */
  chain: readonly Buffer[];
  /**
   * Reference identifiers for DANE-TA (RFC 7672 §3.2.2): the MX host name, its CNAME-expanded
   * name, the recipient domain and its expanded name (the caller includes only those allowed).
   */
  allowedNames: readonly string[];
  /** Clock ms for the validity-period check of DANE-TA chains. */
  now: number;
}

// RFC 6698 §2.1.3: matching types 1 and 2 are SHA2-256 and SHA2-512 digests.
const DIGEST_LENGTH: Record<number, number> = { 1: 32, 2: 64 };
/** Chains deeper than this are not built (defends against path-building blowups). */
const MAX_PATH_DEPTH = 8;
/** More certificates than this in one chain is hostile. */
const MAX_CHAIN_LENGTH = 16;

/** RFC 7672 §3.1: is this record one an SMTP client can use? */
export function isUsableTlsa(r: TlsaRecord): boolean {
  // RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not usable for SMTP.
  if (r.usage !== 2 && r.usage !== 3) return false;
  if (r.selector !== 0 && r.selector !== 1) return false;
  if (r.matchingType === 0) return r.data.length > 0;
  // A digest of the wrong length can never match: the record is malformed (RFC 7671 §4.1).
  const len = DIGEST_LENGTH[r.matchingType];
  return len !== undefined && r.data.length === len;
}

/** RFC 7672 §2.2: usable records → verify; only unusable ones → TLS required, unverified. */
export function classifyTlsa(records: readonly TlsaRecord[]): TlsaClass {
  if (records.length === 0) return 'none';
  return records.some(isUsableTlsa) ? 'usable' : 'all-unusable';
}

/** The chain a TLS peer presented, DER, leaf first (empty when it sent none). */
export function peerChainDer(socket: Pick<TLSSocket, 'getPeerCertificate'>): Buffer[] {
  const out: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const seen = new Set<unknown>();
  while (cert && cert.raw && !seen.has(cert) && out.length < MAX_CHAIN_LENGTH) {
    seen.add(cert);
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

/** Decides whether the presented chain satisfies the TLSA records. Never throws. */
export function verifyDane(input: DaneVerifyInput): DaneVerdict {
  const usable = input.records.filter(isUsableTlsa);
  if (usable.length === 0) {
    return { verified: false, tlsrptFailure: 'tlsa-invalid', reason: 'no usable TLSA records (only PKIX usages or unknown parameters)' };
  }
  if (input.chain.length === 0) return { verified: false, tlsrptFailure: 'validation-failure', reason: 'the server presented no certificate' };
  if (input.chain.length > MAX_CHAIN_LENGTH) {
    return { verified: false, tlsrptFailure: 'validation-failure', reason: `the server presented more than ${MAX_CHAIN_LENGTH} certificates` };
  }
  const certs: Cert[] = [];
  for (const der of input.chain) {
    const c = parseCert(der);
    if (!c) return { verified: false, tlsrptFailure: 'validation-failure', reason: 'the server presented a malformed certificate' };
    certs.push(c);
  }
  const leaf = certs[0]!;

  // RFC 7672 §3.1.1: DANE-EE(3) matches the leaf; names and dates are deliberately not checked.
  for (const r of usable) {
    if (r.usage === 3 && recordMatches(r, leaf)) return { verified: true, method: 'dane-ee', record: r };
  }

  const taRecords = usable.filter((r) => r.usage === 2);
  if (taRecords.length === 0) {
    return { verified: false, tlsrptFailure: 'validation-failure', reason: 'the certificate does not match any DANE-EE TLSA record' };
  }
  const path = findTrustAnchorPath(leaf, certs.slice(1), taRecords);
  if (!path) {
    return { verified: false, tlsrptFailure: 'validation-failure', reason: 'the certificate chain does not lead to a trust anchor named by a DANE-TA TLSA record' };
  }
  // RFC 7672 §3.1.2: with DANE-TA the usual validity checks apply to the chain below the
  // trust anchor (the anchor itself is trusted by virtue of the DNSSEC-signed record).
  for (const c of path.below) {
    if (!(input.now >= c.notBefore && input.now <= c.notAfter)) {
      const which = c === leaf ? 'the certificate' : 'an intermediate certificate';
      return {
        verified: false,
        tlsrptFailure: 'certificate-expired',
        reason: input.now < c.notBefore ? `${which} is not valid yet` : `${which} has expired`,
      };
    }
  }
  // RFC 7672 §3.2.2: the leaf must carry one of the reference identifiers.
  if (!leafHasName(leaf.x509, input.allowedNames)) {
    return {
      verified: false,
      tlsrptFailure: 'certificate-host-mismatch',
      reason: `the certificate is not valid for ${input.allowedNames.join(', ') || '(no names given)'}`,
    };
  }
  return { verified: true, method: 'dane-ta', record: path.record };
}

interface Cert {
  x509: X509Certificate;
  der: Buffer;
  spki: Buffer;
  notBefore: number;
  notAfter: number;
}

function parseCert(der: Buffer): Cert | null {
  try {
    const x509 = new X509Certificate(der);
    // RFC 6698 §2.1.2: selector 1 is the SPKI as encoded in the certificate.
    const spki = spkiFromCertificate(der);
    const notBefore = Date.parse(x509.validFrom);
    const notAfter = Date.parse(x509.validTo);
    if (!spki || Number.isNaN(notBefore) || Number.isNaN(notAfter)) return null;
    return { x509, der, spki, notBefore, notAfter };
  } catch {
    return null;
  }
}

/** RFC 6698 §2.1.2, §2.1.3: select the certificate or its SPKI, then compare or hash. */
function recordMatches(r: TlsaRecord, c: Cert): boolean {
  const selected = r.selector === 0 ? c.der : c.spki;
  return matchData(r, selected);
}

function matchData(r: TlsaRecord, selected: Buffer): boolean {
  switch (r.matchingType) {
    case 0:
      return selected.equals(r.data);
    case 1:
      return createHash('sha256').update(selected).digest().equals(r.data);
    case 2:
      return createHash('sha512').update(selected).digest().equals(r.data);
    default:
      return false;
  }
}

/**
 * Builds a path leaf → … → trust anchor from the presented certificates, in any order
 * (RFC 7671 §5.2.2: servers should send the TA certificate, but the order of extra
 * certificates is not to be relied upon). Each step requires the issuer to be a CA whose key
 * verifies the signature. The leaf itself is never the anchor: DANE-TA names an issuer.
 * A "2 1 0" record carries the anchor's full public key, which may sign the top of the
 * presented chain without being in it (RFC 7671 §5.2.2).
 */
function findTrustAnchorPath(
  leaf: Cert,
  candidates: readonly Cert[],
  taRecords: readonly TlsaRecord[],
): { below: Cert[]; record: TlsaRecord } | null {
  const bareKeys: { record: TlsaRecord; key: KeyObject }[] = [];
  for (const r of taRecords) {
    if (r.selector !== 1 || r.matchingType !== 0) continue;
    try {
      bareKeys.push({ record: r, key: createPublicKey({ key: r.data, format: 'der', type: 'spki' }) });
    } catch {
      // Not a public key; it can still match a certificate's SPKI bytes (it cannot, in fact).
    }
  }

  const walk = (current: Cert, below: Cert[], used: Set<Cert>): { below: Cert[]; record: TlsaRecord } | null => {
    if (below.length > MAX_PATH_DEPTH) return null;
    for (const { record, key } of bareKeys) {
      if (safeVerify(current.x509, key)) return { below, record };
    }
    for (const issuer of candidates) {
      if (used.has(issuer) || !issuer.x509.ca) continue;
      if (!safeCheckIssued(current.x509, issuer.x509) || !safeVerify(current.x509, issuer.x509.publicKey)) continue;
      const record = taRecords.find((r) => recordMatches(r, issuer));
      if (record) return { below, record };
      const next = walk(issuer, [...below, issuer], new Set([...used, issuer]));
      if (next) return next;
    }
    return null;
  };
  return walk(leaf, [leaf], new Set());
}

function safeVerify(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.verify(key);
  } catch {
    return false;
  }
}

function safeCheckIssued(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer);
  } catch {
    return false;
  }
}

/**
 * RFC 7672 §3.2.2, §3.2.3: DNS-ID (or CN-ID without any DNS-ID) equal to a reference name; a
 * wildcard only as the complete left-most label, matching exactly one label.
 */
function leafHasName(leaf: X509Certificate, names: readonly string[]): boolean {
  for (const raw of names) {
    const name = normalizeHostName(raw);
    if (name === null) continue;
    const matched = leaf.checkHost(name, {
      subject: 'default',
      wildcards: true,
      partialWildcards: false,
      multiLabelWildcards: false,
      singleLabelSubdomains: false,
    });
    if (matched !== undefined) return true;
  }
  return false;
}
