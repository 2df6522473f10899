/**
 * The contract between the queue and the delivery engine. The queue hands over one job per
 * (message, recipient domain) — all recipients of a message at one domain travel in one
 * transaction (delivery-rules §8) — and gets back a per-recipient outcome plus one record per
 * host tried, which it stores as the attempt history (§9, §12).
 */
import type { DomainTlsHint, MtaStsMode, TlsMode, TranscriptLine, Verification } from '../../../shared/domain';

export interface DeliveryJob {
  messageId: string;
  /** Envelope sender (A-label domain); "" for the null reverse-path. */
  mailFrom: string;
  /** Absolute path of the message file, streamed on DATA. */
  rawPath: string;
  size: number;
  eightBit: boolean;
  smtpUtf8: boolean;
  tlsMode: TlsMode;
  /** Recipient domain, IDNA A-label. */
  domain: string;
  recipients: { id: number; envelope: string }[];
  /** 1 for the first attempt of these recipients. */
  attemptNumber: number;
  /** IPs dialed by earlier attempts for this message and domain, so retries rotate (§1). */
  dialedIps: string[];
  onProgress?: ((bytesSent: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export type OutcomeStatus = 'delivered' | 'failed' | 'deferred';

export interface RecipientOutcome {
  recipientId: number;
  status: OutcomeStatus;
  code: number | null;
  enhancedCode: string | null;
  reply: string | null;
  host: string | null;
  errorCode: string | null;
}

export interface AttemptRecord {
  startedAt: number;
  durationMs: number;
  domain: string;
  host: string | null;
  ip: string | null;
  port: number | null;
  stage: string | null;
  starttls: boolean;
  tlsVersion: string | null;
  tlsCipher: string | null;
  certFingerprint: string | null;
  verification: Verification | null;
  verificationReason: string | null;
  mtaStsMode: MtaStsMode | null;
  dane: boolean;
  requiretls: boolean;
  plaintextFallback: boolean;
  tlsrptPolicy: string | null;
  tlsrptFailure: string | null;
  code: number | null;
  enhancedCode: string | null;
  reply: string | null;
  errorCode: string | null;
  permanent: boolean;
  transcript: TranscriptLine[];
  results: { recipientId: number; status: OutcomeStatus | 'not-attempted'; code: number | null; enhancedCode: string | null; reply: string | null }[];
}

export interface DeliveryOutcome {
  recipients: RecipientOutcome[];
  attempts: AttemptRecord[];
  /** dialedIps of the job plus the IPs dialed now. */
  dialedIps: string[];
  /** What this attempt learnt about the domain's TLS (rules §11), when a session got far enough. */
  hint: DomainTlsHint | null;
}

export type DeliverFn = (job: DeliveryJob) => Promise<DeliveryOutcome>;
