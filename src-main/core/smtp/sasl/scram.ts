/**
 * SASL SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), client side, without channel
 * binding ("n,," — the TLS session below already protects the exchange; RFC 5802 §6).
 *
 *   client-first:  n,,n=<user>,r=<client nonce>
 *   server-first:  r=<client nonce + server nonce>,s=<salt>,i=<iterations>
 *   client-final:  c=biws,r=<nonce>,p=<ClientProof>
 *   server-final:  v=<ServerSignature>  — checked: the server proves it knows the password.
 *
 * Threats: a server that echoes a nonce not starting with ours (replay), asks for absurd
 * iteration counts (CPU exhaustion: bounded), or cannot prove the ServerSignature (an
 * impostor that only wants the proof) is refused. The password is never sent.
 *
 * RFC 5802 §2.2 / §5.1: the user name and the password are prepared with SASLprep (RFC 4013)
 * as stored strings (unassigned code points refused), by @mongodb-js/saslprep — the mapping
 * tables, NFKC, prohibited output and the bidi rule are the library's, not ours.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprep } from '@mongodb-js/saslprep';
import { SaslError, type SaslClient, type SaslCredentials } from './mechanism';

type Hash = 'sha1' | 'sha256';

/** RFC 5802 §5.1 i=: at least 4096 is recommended; a server asking for far more is hostile. */
const MAX_ITERATIONS = 1_000_000;

export function scramClient(c: SaslCredentials, hash: Hash, clientNonce: string = randomBytes(18).toString('base64')): SaslClient {
  const name = hash === 'sha256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-1';
  const fail = (m: string) => new SaslError(`${name}: ${m}`);
  const password = saslPrep(c.password, fail);
  // RFC 5802 §5.1: "=" and "," in the user name are escaped as =3D and =2C.
  const user = saslPrep(c.username, fail).replace(/=/g, '=3D').replace(/,/g, '=2C');
  const clientFirstBare = `n=${user},r=${clientNonce}`;
  let expectedServerSignature: Buffer | null = null;
  let verified = false;

  return {
    name,
    initialResponse: () => Buffer.from(`n,,${clientFirstBare}`, 'utf8'),
    respond(challenge) {
      const text = challenge.toString('utf8');
      if (expectedServerSignature === null) {
        // server-first-message (RFC 5802 §7).
        const attrs = parseAttributes(text, fail);
        if (attrs.has('m')) throw fail('server requires an extension we do not support');
        const nonce = attrs.get('r');
        const salt = attrs.get('s');
        const iter = attrs.get('i');
        if (!nonce || salt === undefined || !iter) throw fail('malformed server-first-message');
        // RFC 5802 §5.1: the combined nonce starts with the client's own.
        if (!nonce.startsWith(clientNonce) || nonce.length <= clientNonce.length) throw fail('server nonce does not extend ours');
        if (!/^\d{1,7}$/.test(iter) || Number(iter) < 1 || Number(iter) > MAX_ITERATIONS) throw fail(`iteration count ${iter} refused`);
        const saltBytes = Buffer.from(salt, 'base64');
        if (saltBytes.length === 0) throw fail('empty salt');
        const { clientFinal, serverSignature } = scramProof({ hash, password, salt: saltBytes, iterations: Number(iter), clientFirstBare, serverFirst: text, nonce });
        expectedServerSignature = serverSignature;
        return Buffer.from(clientFinal, 'utf8');
      }
      if (verified) throw fail('unexpected challenge after server-final-message');
      // server-final-message as a 334 challenge (RFC 4954 §4); we answer with an empty line.
      checkServerFinal(text);
      return Buffer.alloc(0);
    },
    verifySuccess(serverFinal) {
      if (!verified && serverFinal && serverFinal.length > 0 && expectedServerSignature) {
        try {
          checkServerFinal(serverFinal.toString('utf8'));
        } catch (e) {
          return (e as Error).message;
        }
      }
      // RFC 5802 §3: the client MUST verify the ServerSignature; success without it is refused.
      return verified ? null : `${name}: the server did not prove it knows the password (no valid ServerSignature)`;
    },
  };

  function checkServerFinal(text: string): void {
    const attrs = parseAttributes(text, fail);
    const err = attrs.get('e');
    if (err !== undefined) throw fail(`server error ${err}`);
    const v = attrs.get('v');
    if (!v || !expectedServerSignature) throw fail('malformed server-final-message');
    const got = Buffer.from(v, 'base64');
    if (got.length !== expectedServerSignature.length || !timingSafeEqual(got, expectedServerSignature)) throw fail('server signature does not match');
    verified = true;
  }
}

/** RFC 5802 §3: SaltedPassword, ClientProof and ServerSignature for one exchange. */
export function scramProof(p: { hash: Hash; password: string; salt: Buffer; iterations: number; clientFirstBare: string; serverFirst: string; nonce: string }): { clientFinal: string; serverSignature: Buffer } {
  const len = p.hash === 'sha256' ? 32 : 20;
  // Hi() is PBKDF2 with HMAC as the PRF and one block of output (RFC 5802 §2.2).
  const salted = pbkdf2Sync(Buffer.from(p.password, 'utf8'), p.salt, p.iterations, len, p.hash);
  const hmac = (key: Buffer, data: string) => createHmac(p.hash, key).update(data, 'utf8').digest();
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash(p.hash).update(clientKey).digest();
  // c=biws is base64("n,,"): the GS2 header without channel binding.
  const clientFinalWithoutProof = `c=biws,r=${p.nonce}`;
  const authMessage = `${p.clientFirstBare},${p.serverFirst},${clientFinalWithoutProof}`;
  const clientSignature = hmac(storedKey, authMessage);
  const proof = Buffer.alloc(len);
  for (let i = 0; i < len; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
  const serverKey = hmac(salted, 'Server Key');
  return { clientFinal: `${clientFinalWithoutProof},p=${proof.toString('base64')}`, serverSignature: hmac(serverKey, authMessage) };
}

function parseAttributes(text: string, fail: (m: string) => Error): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    // RFC 5802 §7: attr-val = ALPHA "=" value.
    const m = /^([A-Za-z])=(.*)$/s.exec(part);
    if (!m) throw fail(`malformed attribute ${JSON.stringify(part.slice(0, 20))}`);
    if (!out.has(m[1]!)) out.set(m[1]!, m[2]!);
  }
  return out;
}

function saslPrep(s: string, fail: (m: string) => Error): string {
  try {
    return saslprep(s, { allowUnassigned: false });
  } catch (e) {
    // The library's message names the RFC 4013 section; the string itself is never repeated.
    throw fail(`the user name or password is not allowed by SASLprep (${(e as Error).message})`);
  }
}
