/**
 * PKIX (WebPKI) verification of a TLS peer against the usual root store plus an optional extra
 * CA, and a host name (RFC 8461 §4.2 for MTA-STS MX hosts, RFC 6125 name matching as
 * implemented by node's tls.checkServerIdentity).
 *
 * The verification itself is OpenSSL's, run by node during the handshake; this module only
 * (1) builds the trust store to hand to tls.connect and (2) turns the handshake's outcome into
 * a verdict with an RFC 8460 failure type. It re-checks the name against the host the caller
 * cares about, because the handshake checked `servername`, which a caller may have set
 * differently (and node skips the name check on resumed sessions).
 *
 * Threat addressed: an on-path attacker presenting their own certificate to an MTA-STS enforce
 * host. With rejectUnauthorized false (opportunistic TLS) node does not fail the handshake, so
 * the verdict must be read explicitly — never assumed.
 */
import { createHash } from 'node:crypto';
import tls from 'node:tls';
import type { TlsrptFailure } from './tlsrpt';
import { tlsFailureFromAuthorizationError } from './tlsrpt';

export type PemLike = string | Buffer;

/**
 * The `ca` option for tls.connect/https.request: undefined (node's default roots) when there is
 * no extra CA; otherwise the default roots plus the extra ones, because a `ca` option replaces
 * the default store rather than extending it.
 */
export function caWithExtra(extra?: PemLike | readonly PemLike[] | undefined): PemLike[] | undefined {
  if (extra === undefined) return undefined;
  const list = Array.isArray(extra) ? (extra as readonly PemLike[]) : [extra as PemLike];
  if (list.length === 0) return undefined;
  return [...tls.rootCertificates, ...list];
}

/**
 * Building a secure context parses every CA of its store: with an extra CA that means the whole
 * bundle (~150 roots, ~20 ms of CPU) per TLS connection. One context per distinct CA
 * configuration is built once and shared by every connection that uses it (a context holds
 * only trust anchors and defaults: no per-connection state, and tls.connect's servername,
 * checkServerIdentity and session options still apply per connection).
 */
const contexts = new Map<string, tls.SecureContext>();
/** Distinct CA configurations in one process are few (the app's, a test's); bounded anyway. */
const MAX_CONTEXTS = 16;

export function secureContextFor(extra?: PemLike | readonly PemLike[] | undefined): tls.SecureContext {
  const ca = caWithExtra(extra);
  const key = ca === undefined ? '' : createHash('sha256').update(ca.slice(tls.rootCertificates.length).join('\0')).digest('hex');
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext(ca ? { ca } : {});
    if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value as string);
    contexts.set(key, ctx);
  }
  return ctx;
}

export type PkixVerdict =
  | { verified: true; method: 'pkix' }
  | { verified: false; reason: string; tlsrptFailure: TlsrptFailure };

/** What a finished handshake tells us; a TLSSocket satisfies it. */
export interface HandshakeOutcome {
  authorized: boolean;
  authorizationError?: Error | string | null | undefined;
  getPeerCertificate(detailed?: boolean): tls.PeerCertificate | Record<string, never>;
}

/**
 * The PKIX verdict for a completed handshake and the MX host name. The socket must have been
 * opened with the roots from caWithExtra() (or the defaults).
 */
export function pkixVerdict(socket: HandshakeOutcome, host: string): PkixVerdict {
  if (!socket.authorized) {
    const { tlsrptFailure, reason } = tlsFailureFromAuthorizationError(socket.authorizationError ?? undefined);
    return { verified: false, tlsrptFailure, reason };
  }
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) {
    return { verified: false, tlsrptFailure: 'validation-failure', reason: 'the server presented no certificate' };
  }
  // RFC 8461 §4.2: the certificate must be valid for the MX host name itself.
  const nameError = tls.checkServerIdentity(host.replace(/\.$/, ''), cert as tls.PeerCertificate);
  if (nameError) {
    const { tlsrptFailure, reason } = tlsFailureFromAuthorizationError(nameError);
    return { verified: false, tlsrptFailure, reason };
  }
  return { verified: true, method: 'pkix' };
}
