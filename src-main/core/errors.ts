/**
 * One error hierarchy for the engine (style.md §3). Every failure the queue or the UI has to
 * act on is a DeliveryError with a stable `code`, the stage it happened in, whether it is
 * permanent (RFC 5321 §4.2.1: 5yz permanent, 4yz transient), and — when a server replied —
 * the SMTP reply code, the RFC 3463 enhanced status code and the reply lines.
 *
 * The queue decides retries from these fields, never from message text.
 */
import type { ErrorCode } from '../../shared/domain';

/** Where in a delivery attempt a failure happened. */
export type Stage =
  | 'compose'
  | 'dns'
  | 'policy'
  | 'connect'
  | 'greeting'
  | 'ehlo'
  | 'starttls'
  | 'tls'
  | 'auth'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'quit'
  | 'store'
  | 'queue';

/** Stable error codes, defined once in shared/ (the UI explains them). */
export type { ErrorCode };

export interface DeliveryErrorFields {
  code: ErrorCode;
  message: string;
  stage: Stage;
  permanent: boolean;
  /** SMTP reply code (e.g. 550) when a server replied, or the code we assign locally. */
  smtpCode?: number | undefined;
  /** RFC 3463 enhanced status code, e.g. "5.1.10". */
  enhancedCode?: string | undefined;
  /** MX host name the failure belongs to, when any. */
  host?: string | undefined;
  ip?: string | undefined;
  /** The command that got the reply, e.g. "RCPT TO:<a@b>". */
  command?: string | undefined;
  /** Reply lines as received (without the code prefix). */
  lines?: string[] | undefined;
  cause?: unknown;
}

export class DeliveryError extends Error {
  readonly code: ErrorCode;
  readonly stage: Stage;
  readonly permanent: boolean;
  readonly smtpCode: number | undefined;
  readonly enhancedCode: string | undefined;
  readonly host: string | undefined;
  readonly ip: string | undefined;
  readonly command: string | undefined;
  readonly lines: string[] | undefined;

  constructor(f: DeliveryErrorFields) {
    super(f.message, f.cause === undefined ? undefined : { cause: f.cause });
    this.name = 'DeliveryError';
    this.code = f.code;
    this.stage = f.stage;
    this.permanent = f.permanent;
    this.smtpCode = f.smtpCode;
    this.enhancedCode = f.enhancedCode;
    this.host = f.host;
    this.ip = f.ip;
    this.command = f.command;
    this.lines = f.lines;
  }

  /** A copy with host/ip filled in (errors raised deep in a session don't know them). */
  at(host: string | undefined, ip?: string): DeliveryError {
    return new DeliveryError({ ...this.toFields(), host: this.host ?? host, ip: this.ip ?? ip });
  }

  toFields(): DeliveryErrorFields {
    return {
      code: this.code,
      message: this.message,
      stage: this.stage,
      permanent: this.permanent,
      smtpCode: this.smtpCode,
      enhancedCode: this.enhancedCode,
      host: this.host,
      ip: this.ip,
      command: this.command,
      lines: this.lines,
      cause: this.cause,
    };
  }

  /** Plain object for storage and IPC (structured clone drops classes). */
  toJSON(): Omit<DeliveryErrorFields, 'cause'> {
    const { cause: _cause, ...rest } = this.toFields();
    return rest;
  }
}

export function isDeliveryError(e: unknown): e is DeliveryError {
  return e instanceof DeliveryError;
}

/** Wraps anything thrown into a DeliveryError; unknown errors are temporary (retry is safer). */
export function toDeliveryError(e: unknown, stage: Stage, host?: string): DeliveryError {
  if (e instanceof DeliveryError) return host ? e.at(host) : e;
  const message = e instanceof Error ? e.message : String(e);
  return new DeliveryError({ code: 'INTERNAL', message, stage, permanent: false, host, cause: e });
}
