/**
 * TLSRPT-style results (RFC 8460 §4.3): the vocabulary in which every attempt records which
 * policy applied and, when something went wrong, what kind of failure it was. The same words
 * feed the delivery log, its export and the user-facing explanations, so they are defined once.
 *
 * Threat addressed: a downgrade or interception attempt must leave a precise, comparable trace
 * ("certificate-not-trusted" on every attempt to one host says more than a free-text message).
 */

import { TlsrptFailure as TlsrptFailureSchema, type TlsrptFailure, type TlsrptPolicyType } from '../../../shared/domain';

/** The types live in shared/ (the UI and the export show them); re-exported for the engine. */
export type { TlsrptFailure, TlsrptPolicyType };

export const TLSRPT_FAILURES: readonly TlsrptFailure[] = TlsrptFailureSchema.options;

/** What an attempt records about TLS policy (delivery-rules.md §12). */
export interface TlsrptResult {
  policyType: TlsrptPolicyType;
  failure: TlsrptFailure | null;
  /** Plain-language reason, for the log and the user; null when nothing failed. */
  reason: string | null;
}

/** A failure type with a short, plain-language explanation. */
export interface TlsFailureInfo {
  tlsrptFailure: TlsrptFailure;
  reason: string;
}

/**
 * Maps the `code` of a node TLS verification error (socket.authorizationError, or the `code` of
 * the error a rejecting handshake throws) to its RFC 8460 failure type and a short reason.
 * The codes are OpenSSL's X509_V_ERR_* names as node exposes them, plus node's own
 * ERR_TLS_CERT_ALTNAME_INVALID for the host name check. Unknown codes are a generic
 * validation-failure: never silently "fine".
 */
export function tlsFailureFromAuthorizationError(err: string | Error | null | undefined): TlsFailureInfo {
  const code = typeof err === 'string' ? err : ((err as { code?: unknown } | null | undefined)?.code ?? err?.message);
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return { tlsrptFailure: 'certificate-expired', reason: 'the certificate has expired' };
    case 'CERT_NOT_YET_VALID':
      // RFC 8460 has no "not yet valid" type; it is a validity-period failure like expiry.
      return { tlsrptFailure: 'certificate-expired', reason: 'the certificate is not valid yet' };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
      return { tlsrptFailure: 'certificate-host-mismatch', reason: 'the certificate is for a different host name' };
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return { tlsrptFailure: 'certificate-not-trusted', reason: 'the certificate is self-signed' };
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return { tlsrptFailure: 'certificate-not-trusted', reason: 'the certificate chain ends in an untrusted self-signed root' };
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return { tlsrptFailure: 'certificate-not-trusted', reason: 'the certificate was not issued by a trusted authority' };
    case 'CERT_UNTRUSTED':
    case 'CERT_REJECTED':
    case 'INVALID_CA':
      return { tlsrptFailure: 'certificate-not-trusted', reason: 'the certificate authority is not trusted' };
    case 'CERT_REVOKED':
      return { tlsrptFailure: 'validation-failure', reason: 'the certificate has been revoked' };
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_CHAIN_TOO_LONG':
    case 'PATH_LENGTH_EXCEEDED':
    case 'INVALID_PURPOSE':
    case 'UNABLE_TO_DECRYPT_CERT_SIGNATURE':
    case 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY':
    case 'ERROR_IN_CERT_NOT_BEFORE_FIELD':
    case 'ERROR_IN_CERT_NOT_AFTER_FIELD':
      return { tlsrptFailure: 'validation-failure', reason: 'the certificate chain is malformed or its signatures do not verify' };
    default:
      return {
        tlsrptFailure: 'validation-failure',
        reason: code ? `the certificate could not be verified (${String(code)})` : 'the certificate could not be verified',
      };
  }
}

/** Node TLS error codes that mean "the certificate did not verify" (as opposed to I/O errors). */
const CERT_VERIFICATION_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);

/** True when a node error code is a certificate verification failure. */
export function isCertificateVerificationError(code: unknown): boolean {
  return typeof code === 'string' && CERT_VERIFICATION_CODES.has(code);
}
