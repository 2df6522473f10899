/**
 * DKIM signing keys and their DNS records: key generation, the TXT record a user must publish
 * at `<selector>._domainkey.<domain>` (RFC 6376 §3.6.1, §3.6.2), and checking what DNS
 * actually returns against the key we sign with.
 *
 * RSA keys are 2048 bits (RFC 8301 §3.2: at least 1024, 2048 recommended) with p= carrying the
 * DER SubjectPublicKeyInfo; Ed25519 keys (RFC 8463 §4.2) carry the raw 32-byte public key in p=.
 *
 * Threat: signing with a key whose record is missing, revoked, restricted or different — every
 * message would then fail DKIM (and DMARC) at the receiver while the user believes it is signed.
 * The check reads TXT data from an untrusted resolver, so it parses defensively and never throws.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { domainToASCII } from 'node:url';

import type { DkimAlgorithm } from '../../../shared/domain';

/** One name for the concept: shared/domain.ts DkimAlgorithm. */
export type DkimKeyAlgorithm = DkimAlgorithm;

export interface DkimKeyPair {
  privateKeyPem: string;
  /** The p= value: base64, no whitespace. */
  publicKeyBase64: string;
}

/** RFC 8463 §4.2 and RFC 8410 §4: the DER SPKI prefix of an Ed25519 public key. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function generateDkimKey(algorithm: DkimKeyAlgorithm): DkimKeyPair {
  if (algorithm === 'ed25519-sha256') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    return {
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKeyBase64: ed25519RawFromSpki(spki).toString('base64'),
    };
  }
  if (algorithm === 'rsa-sha256') {
    // RFC 8301 §3.2: signers SHOULD use keys of at least 2048 bits.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return {
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      // RFC 6376 §3.6.1 p=: base64 of the DER public key (SubjectPublicKeyInfo is what
      // verifiers, including OpenDKIM and mailauth, accept).
      publicKeyBase64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    };
  }
  throw new TypeError(`unsupported DKIM algorithm ${String(algorithm)}`);
}

/** The p= value for the public half of a PEM private key (to re-display an existing key). */
export function dkimPublicKeyFromPrivate(privateKeyPem: string): { algorithm: DkimKeyAlgorithm; publicKeyBase64: string } {
  const pub = createPublicKey(privateKeyPem);
  const spki = pub.export({ type: 'spki', format: 'der' });
  if (pub.asymmetricKeyType === 'ed25519') return { algorithm: 'ed25519-sha256', publicKeyBase64: ed25519RawFromSpki(spki).toString('base64') };
  if (pub.asymmetricKeyType === 'rsa') return { algorithm: 'rsa-sha256', publicKeyBase64: spki.toString('base64') };
  throw new TypeError(`unsupported DKIM key type ${String(pub.asymmetricKeyType)}`);
}

function ed25519RawFromSpki(spki: Buffer): Buffer {
  if (spki.length !== 44 || !spki.subarray(0, 12).equals(ED25519_SPKI_PREFIX)) throw new TypeError('unexpected Ed25519 SPKI encoding');
  return spki.subarray(12);
}

export interface DkimDnsRecord {
  /** Owner name, A-label: `<selector>._domainkey.<domain>` (RFC 6376 §3.6.2.1). */
  name: string;
  /** The record as one string, for display and copy-paste. */
  value: string;
  /** The same split into ≤255-octet character-strings (RFC 1035 §3.3.14), for zone files/APIs. */
  strings: string[];
}

export function dkimDnsRecord(r: { selector: string; domain: string; algorithm: DkimKeyAlgorithm; publicKey: string }): DkimDnsRecord {
  const domain = domainToASCII(r.domain) || r.domain.toLowerCase();
  // RFC 6376 §3.6.1 k=: "rsa" (default) or, per RFC 8463 §4.2, "ed25519".
  const k = r.algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa';
  const p = r.publicKey.replace(/\s+/g, '');
  const value = `v=DKIM1; k=${k}; p=${p}`;
  const strings: string[] = [];
  for (let i = 0; i < value.length; i += 255) strings.push(value.slice(i, i + 255));
  return { name: `${r.selector.toLowerCase()}._domainkey.${domain}`, value, strings };
}

export interface DkimRecordCheck {
  /** A DKIM key record exists at the name. */
  published: boolean;
  /** It is usable for e-mail and holds exactly our public key with our algorithm. */
  matches: boolean;
  reason: string;
}

/**
 * Compares the TXT records found at `<selector>._domainkey.<domain>` with the key we sign with.
 * Each element of `records` is one TXT record: a string, or its character-strings, which are
 * concatenated (RFC 6376 §3.6.2.2).
 */
export function checkDkimRecord(
  records: ReadonlyArray<string | readonly string[]>,
  expected: { algorithm: DkimKeyAlgorithm; publicKeyBase64: string },
): DkimRecordCheck {
  const texts = (Array.isArray(records) ? records : [])
    .map((r) => (Array.isArray(r) ? r.filter((s) => typeof s === 'string').join('') : typeof r === 'string' ? r : ''))
    .filter((t) => t.trim() !== '');
  const keys = texts.map(parseTagList).filter((t): t is Map<string, string> => t !== undefined && isKeyRecord(t));
  if (keys.length === 0) {
    return { published: false, matches: false, reason: texts.length ? 'TXT records found, but none is a DKIM key record' : 'no TXT record found' };
  }
  // RFC 6376 §3.6.2.2: multiple records make the result undefined — verifiers may pick any.
  if (keys.length > 1) return { published: true, matches: false, reason: `${keys.length} DKIM key records published; publish exactly one` };
  const tags = keys[0] as Map<string, string>;

  const v = tags.get('v');
  // RFC 6376 §3.6.1 v=: if present, must be "DKIM1".
  if (v !== undefined && v !== 'DKIM1') return { published: true, matches: false, reason: `unsupported version v=${v}` };
  const p = (tags.get('p') ?? '').replace(/\s+/g, '');
  // RFC 6376 §3.6.1 p=: an empty value means the key has been revoked.
  if (p === '') return { published: true, matches: false, reason: 'the key is revoked (empty p=)' };
  const k = (tags.get('k') ?? 'rsa').toLowerCase();
  const wantK = expected.algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa';
  if (k !== wantK) return { published: true, matches: false, reason: `record is for k=${k}, the key is ${wantK}` };
  const h = tags.get('h');
  // RFC 6376 §3.6.1 h=: acceptable hash algorithms; absent means all.
  if (h !== undefined && !h.split(':').map((x) => x.trim().toLowerCase()).includes('sha256')) {
    return { published: true, matches: false, reason: `record restricts hashes to h=${h}` };
  }
  const s = tags.get('s');
  // RFC 6376 §3.6.1 s=: service types; "*" or "email" required for mail.
  if (s !== undefined && !s.split(':').map((x) => x.trim().toLowerCase()).some((x) => x === '*' || x === 'email')) {
    return { published: true, matches: false, reason: `record is not for e-mail (s=${s})` };
  }
  if (p !== expected.publicKeyBase64.replace(/\s+/g, '')) {
    return { published: true, matches: false, reason: 'the published public key differs from the signing key' };
  }
  const flags = (tags.get('t') ?? '').split(':').map((x) => x.trim().toLowerCase());
  // RFC 6376 §3.6.1 t=y: testing mode; verifiers may treat failures as if unsigned.
  return { published: true, matches: true, reason: flags.includes('y') ? 'published and matching (testing mode t=y)' : 'published and matching' };
}

/** RFC 6376 §3.2 tag-list: `tag=value` separated by ';', whitespace around tags ignored. */
function parseTagList(text: string): Map<string, string> | undefined {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const name = part.slice(0, eq).trim();
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) return undefined;
    // RFC 6376 §3.2: duplicate tags make the whole list invalid.
    if (tags.has(name)) return undefined;
    tags.set(name, part.slice(eq + 1).trim());
  }
  return tags;
}

/** A key record has p=; when v= is present it must come first (RFC 6376 §3.6.1). */
function isKeyRecord(tags: Map<string, string>): boolean {
  if (!tags.has('p')) return false;
  const first = tags.keys().next().value;
  return !tags.has('v') || first === 'v';
}
