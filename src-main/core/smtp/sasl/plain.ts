/**
 * SASL PLAIN (RFC 4616 §2): one message, [authzid] NUL authcid NUL passwd, UTF-8.
 * The password crosses the wire as is: only ever used inside TLS (the SMTP client refuses
 * AUTH before TLS).
 */
import { SaslError, type SaslClient, type SaslCredentials } from './mechanism';

export function plainClient(c: SaslCredentials): SaslClient {
  // RFC 4616 §2: the fields cannot contain NUL.
  if (c.username.includes('\0') || c.password.includes('\0')) throw new SaslError('PLAIN: user name and password cannot contain NUL');
  return {
    name: 'PLAIN',
    initialResponse: () => Buffer.from(`\0${c.username}\0${c.password}`, 'utf8'),
    respond(challenge) {
      // RFC 4954 §4: a server may send an empty challenge when no initial response was sent;
      // we always send one, so any further challenge is a protocol error.
      if (challenge.length === 0) return Buffer.from(`\0${c.username}\0${c.password}`, 'utf8');
      throw new SaslError('PLAIN: unexpected server challenge');
    },
    verifySuccess: () => null,
  };
}
