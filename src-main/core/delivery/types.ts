/**
 * The contract between the queue and the delivery engine. The queue hands over one job per
 * (message, recipient domain) — all recipients of a message at one domain travel in one
 * transaction (delivery-rules §8) — and gets back a per-recipient outcome plus one record per
 * host tried, which it stores as the attempt history (§9, §12).
 */
import type { AttemptRecord, DomainTlsHint, ErrorCode, TlsMode } from '../../../shared/domain';
import type { Clock } from '../clock';
import type { Resolver } from '../dns/types';
import type { Dialer } from '../net/dialer';
import type { SmtpTimeouts } from '../smtp/client';
import type { PolicyCache } from '../tls-policy/mta-sts-cache';
import type { SessionPool } from './session-pool';
import type { TlsSessionCache } from './tls-sessions';
import type { MtaStsFetcher } from '../tls-policy/mta-sts-fetch';

export interface DeliveryJob {
  messageId: string;
  /** Envelope sender (A-label domain); "" for the null reverse-path. */
  mailFrom: string;
  /**
   * A fresh stream of the message for one transaction (the queued file, verified while it is
   * read, with the TLS mode's header in front: queue/message-source.ts). A stream that throws
   * aborts the DATA before the final dot.
   */
  body: () => AsyncIterable<Uint8Array>;
  /** What `body` sends, in bytes (RFC 1870 SIZE=). */
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
  /** Called on every sign of life of the session (each SMTP line); the queue's stall detector. */
  onActivity?: (() => void) | undefined;
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
  errorCode: ErrorCode | null;
}

export type { AttemptRecord };

export interface DeliveryOutcome {
  recipients: RecipientOutcome[];
  attempts: AttemptRecord[];
  /** dialedIps of the job plus the IPs dialed now. */
  dialedIps: string[];
  /** What this attempt learnt about the domain's TLS (rules §11), when a session got far enough. */
  hint: DomainTlsHint | null;
}

export type DeliverFn = (job: DeliveryJob) => Promise<DeliveryOutcome>;

/** What the engine is built from: every side effect injected (resolver, dialer, clock, fetcher). */
export interface EngineOptions {
  resolver: Resolver;
  /**
   * Opens the TCP connection of a session. The seam for transports: `dialerFor` (below), when
   * given, chooses the dialer per attempt (e.g. a SOCKS5 proxy for some routes).
   */
  dialer: Dialer;
  /** Chooses the dialer for one job's attempt (rules §13 routes); default: `dialer`. */
  dialerFor?: ((job: DeliveryJob) => Dialer) | undefined;
  clock: Clock;
  mtaSts: { fetcher: MtaStsFetcher; cache: PolicyCache };
  /** Name we give in EHLO (RFC 5321 §4.1.1.1: the client's FQDN). */
  ehloName: string;
  /** 25 in production; tests point it elsewhere. */
  smtpPort?: number | undefined;
  /** Extra trusted roots (PEM) for PKIX checks; tests use their own CA. */
  extraCa?: string[] | undefined;
  connectTimeoutMs?: number | undefined;
  timeouts?: Partial<SmtpTimeouts> | undefined;
  /** Wall-clock budget of one delivery attempt to a domain, all hosts together (rules §7). */
  domainBudgetMs?: number | undefined;
  random?: (() => number) | undefined;
  /**
   * Kept SMTP sessions (connection reuse, session-pool.ts); none: a session per message. The
   * owner closes it (Outbox.close; the queue's stop and pause through Outbox.closeIdleSessions).
   */
  sessionPool?: SessionPool | undefined;
  /** TLS session tickets with their verification outcomes, for resumption (tls-sessions.ts). */
  tlsSessions?: TlsSessionCache | undefined;
  /**
   * Identifies the transport that opens connections (dialer, IP family, SOCKS proxy): part of
   * a kept session's key, so a session is only reused by the transport that opened it.
   */
  transportKey?: string | undefined;
}
