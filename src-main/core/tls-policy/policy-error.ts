/**
 * The one error type raised by MTA-STS parsing and fetching: a DeliveryError (stage "policy",
 * never permanent: a policy problem is a reason to deliver without the policy or to retry, not
 * to bounce) that also carries its RFC 8460 failure type, so the caller records a TLSRPT result
 * without inspecting message text (style.md §3).
 */
import { DeliveryError, type ErrorCode } from '../errors';
import type { TlsrptFailure } from './tlsrpt';

export class TlsPolicyError extends DeliveryError {
  readonly tlsrptFailure: TlsrptFailure;

  constructor(f: { code: ErrorCode; message: string; tlsrptFailure: TlsrptFailure; host?: string; cause?: unknown }) {
    super({ code: f.code, message: f.message, stage: 'policy', permanent: false, host: f.host, cause: f.cause });
    this.name = 'TlsPolicyError';
    this.tlsrptFailure = f.tlsrptFailure;
  }
}

/** A syntax error in an MTA-STS TXT record or policy file (RFC 8461 §3.1, §3.2). */
export function policyInvalid(message: string, host?: string): TlsPolicyError {
  // todo spec: errors.ts has no MTA-STS-specific code; INVALID_INPUT means "the remote side
  // published something we refuse to parse" here.
  return new TlsPolicyError({ code: 'INVALID_INPUT', message, tlsrptFailure: 'sts-policy-invalid', host });
}
