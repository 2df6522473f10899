/**
 * Just enough DER (X.690) to cut the SubjectPublicKeyInfo out of a certificate byte-for-byte
 * (RFC 5280 §4.1). DANE selector 1 (RFC 6698 §2.1.2) hashes the SPKI exactly as it appears in
 * the certificate; re-encoding the key (KeyObject.export) could produce different bytes for
 * legal-but-unusual encodings, and then a correct TLSA record would not match.
 *
 * Threat addressed: the certificate comes from the peer; every length is bounds-checked and a
 * malformed input returns null instead of throwing or reading past the buffer.
 */

interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

function readTlv(buf: Buffer, offset: number, limit: number): Tlv | null {
  if (offset + 2 > limit) return null;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) return null; // multi-byte tags do not occur in certificates
  let len = buf[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > limit) return null; // no indefinite lengths in DER
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i]!;
    pos += n;
  }
  if (pos + len > limit) return null;
  return { tag, start: offset, contentStart: pos, end: pos + len };
}

/** The DER bytes of the certificate's SubjectPublicKeyInfo, or null when malformed. */
export function spkiFromCertificate(der: Buffer): Buffer | null {
  const cert = readTlv(der, 0, der.length);
  if (!cert || cert.tag !== 0x30) return null;
  const tbs = readTlv(der, cert.contentStart, cert.end);
  if (!tbs || tbs.tag !== 0x30) return null;
  let pos = tbs.contentStart;
  let field = readTlv(der, pos, tbs.end);
  // version [0] EXPLICIT is optional.
  if (field && field.tag === 0xa0) {
    pos = field.end;
    field = readTlv(der, pos, tbs.end);
  }
  // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
  for (let i = 0; i < 5; i++) {
    if (!field) return null;
    pos = field.end;
    field = readTlv(der, pos, tbs.end);
  }
  if (!field || field.tag !== 0x30) return null;
  return der.subarray(field.start, field.end);
}
