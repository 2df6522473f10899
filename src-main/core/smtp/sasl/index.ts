/**
 * Choosing the SASL mechanism for SMTP AUTH (RFC 4954): the one the user configured for the
 * transport, else the strongest the server announces, in the order SCRAM-SHA-256,
 * SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN (mox's smtpclient does the same).
 */
import { cramMd5Client } from './cram-md5';
import { loginClient } from './login';
import { SASL_MECHANISMS, SaslError, type SaslClient, type SaslCredentials, type SaslMechanismName } from './mechanism';
import { plainClient } from './plain';
import { scramClient } from './scram';

export { SASL_MECHANISMS, SaslError, type SaslClient, type SaslCredentials, type SaslMechanismName };

export function saslClient(name: SaslMechanismName, c: SaslCredentials): SaslClient {
  switch (name) {
    case 'SCRAM-SHA-256':
      return scramClient(c, 'sha256');
    case 'SCRAM-SHA-1':
      return scramClient(c, 'sha1');
    case 'CRAM-MD5':
      return cramMd5Client(c);
    case 'PLAIN':
      return plainClient(c);
    case 'LOGIN':
      return loginClient(c);
  }
}

/**
 * The mechanism to use, or an error text. `offered` is the server's AUTH list (after TLS);
 * `configured` the transport's choice, which must be offered.
 */
export function pickMechanism(offered: readonly string[], configured: SaslMechanismName | null): { ok: true; name: SaslMechanismName } | { ok: false; reason: string } {
  const have = new Set(offered.map((m) => m.toUpperCase()));
  if (configured) {
    return have.has(configured) ? { ok: true, name: configured } : { ok: false, reason: `the server does not offer ${configured} (it offers ${offered.join(' ') || 'no AUTH mechanism'})` };
  }
  const best = SASL_MECHANISMS.find((m) => have.has(m));
  return best ? { ok: true, name: best } : { ok: false, reason: `the server offers no mechanism we support (${offered.join(' ') || 'none'})` };
}
