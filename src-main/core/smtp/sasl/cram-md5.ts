/**
 * SASL CRAM-MD5 (RFC 2195 §2): the server sends a challenge, the client answers
 * "user SP hex(HMAC-MD5(password, challenge))". The password never crosses the wire, but a
 * recorded exchange allows an offline guess: we still use it only inside TLS.
 */
import { createHmac } from 'node:crypto';
import { SaslError, type SaslClient, type SaslCredentials } from './mechanism';

export function cramMd5Client(c: SaslCredentials): SaslClient {
  let answered = false;
  return {
    name: 'CRAM-MD5',
    initialResponse: () => null,
    respond(challenge) {
      if (answered) throw new SaslError('CRAM-MD5: unexpected second challenge');
      if (challenge.length === 0) throw new SaslError('CRAM-MD5: empty challenge');
      answered = true;
      // RFC 2195 §2: the digest in lowercase hex.
      const digest = createHmac('md5', Buffer.from(c.password, 'utf8')).update(challenge).digest('hex');
      return Buffer.from(`${c.username} ${digest}`, 'utf8');
    },
    verifySuccess: () => (answered ? null : 'CRAM-MD5: server accepted without a challenge'),
  };
}
