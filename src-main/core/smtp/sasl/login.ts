/**
 * SASL LOGIN (draft-murchison-sasl-login-00; obsolete but still the only mechanism some
 * providers offer): the server prompts "Username:" then "Password:", the client answers each.
 * Like PLAIN, only inside TLS.
 */
import { SaslError, type SaslClient, type SaslCredentials } from './mechanism';

export function loginClient(c: SaslCredentials): SaslClient {
  let step = 0;
  return {
    name: 'LOGIN',
    initialResponse: () => null,
    respond(challenge) {
      // The prompts' text is not standardised ("Username:", "User Name", …): go by order.
      if (step === 0) return (step++, Buffer.from(c.username, 'utf8'));
      if (step === 1) return (step++, Buffer.from(c.password, 'utf8'));
      throw new SaslError(`LOGIN: unexpected third challenge ${JSON.stringify(challenge.toString('latin1').slice(0, 40))}`);
    },
    verifySuccess: () => (step === 2 ? null : 'LOGIN: server accepted before asking for the password'),
  };
}
