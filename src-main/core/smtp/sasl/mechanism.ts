/**
 * The client side of a SASL mechanism (RFC 4422 §3), as SMTP AUTH (RFC 4954) drives it:
 * an optional initial response, then one response per server challenge, then — for
 * mechanisms with mutual authentication (SCRAM) — a check of the server's final message.
 *
 * Every response is secret material: callers never log it (the SMTP client writes
 * "[credentials]" in the transcript instead).
 */

export interface SaslCredentials {
  username: string;
  password: string;
}

export interface SaslClient {
  /** The IANA mechanism name, as in EHLO's AUTH line and the AUTH command. */
  readonly name: SaslMechanismName;
  /** RFC 4954 §4: the initial response sent with AUTH, or null to wait for a challenge. */
  initialResponse(): Buffer | null;
  /** The response to one server challenge (already base64-decoded). Throws on a bad challenge. */
  respond(challenge: Buffer): Buffer;
  /**
   * Called on the server's success reply. For SCRAM this is where the server proves it knows
   * the password too (RFC 5802 §3 ServerSignature): returns an error text when it did not.
   * `serverFinal` is data a server put on its 235 reply (not RFC 4954 §4, but seen), or null.
   */
  verifySuccess(serverFinal: Buffer | null): string | null;
}

/** Strongest first: the order in which we pick from what the server offers. */
export const SASL_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'CRAM-MD5', 'PLAIN', 'LOGIN'] as const;
export type SaslMechanismName = (typeof SASL_MECHANISMS)[number];

export class SaslError extends Error {
  override name = 'SaslError';
}
