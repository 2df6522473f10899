/** A mutable attempt record filled in as a host attempt proceeds (rules §9, §12). */
import type { AttemptRecord } from './types';

export type AttemptDraft = AttemptRecord;

export function blankAttempt(domain: string, startedAt: number): AttemptDraft {
  return {
    startedAt,
    durationMs: 0,
    domain,
    host: null,
    ip: null,
    port: null,
    stage: null,
    starttls: false,
    tlsVersion: null,
    tlsCipher: null,
    certFingerprint: null,
    verification: null,
    verificationReason: null,
    mtaStsMode: null,
    dane: false,
    requiretls: false,
    plaintextFallback: false,
    tlsrptPolicy: null,
    tlsrptFailure: null,
    code: null,
    enhancedCode: null,
    reply: null,
    errorCode: null,
    permanent: false,
    transcript: [],
    results: [],
  };
}
