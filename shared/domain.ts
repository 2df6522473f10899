/**
 * Domain types shared by main and renderer. Each is a zod schema first, so what crosses IPC is
 * validated with the same definition the types come from.
 */
import { z } from 'zod';
import { unsafeTextProblem } from './text';

export const TlsMode = z.enum(['default', 'requiretls', 'tls-optional']);
export type TlsMode = z.infer<typeof TlsMode>;

export const RecipientState = z.enum(['queued', 'sending', 'delivered', 'deferred', 'failed', 'held', 'canceled']);
export type RecipientState = z.infer<typeof RecipientState>;

export const RecipientKind = z.enum(['to', 'cc', 'bcc']);
export type RecipientKind = z.infer<typeof RecipientKind>;

/**
 * How a peer's certificate was ACTUALLY verified in a session (rules §9). Not to be confused
 * with the verification a host's policy REQUIRES (delivery/host-policy.ts RequiredVerification).
 */
export const AchievedVerification = z.enum(['dane-ee', 'dane-ta', 'pkix', 'none']);
export type AchievedVerification = z.infer<typeof AchievedVerification>;

export const MtaStsMode = z.enum(['enforce', 'testing', 'none']);
export type MtaStsMode = z.infer<typeof MtaStsMode>;

/** RFC 8460 §4.3 policy-type, the vocabulary of every attempt's TLS report facts (rules §12). */
export const TlsrptPolicyType = z.enum(['sts', 'tlsa', 'no-policy-found']);
export type TlsrptPolicyType = z.infer<typeof TlsrptPolicyType>;

/** RFC 8460 §4.3 result-type values for failures (§4.3.1 negotiation, §4.3.2 policy). */
export const TlsrptFailure = z.enum([
  // RFC 8460 §4.3.1: routing/negotiation failures
  'starttls-not-supported',
  'certificate-host-mismatch',
  'certificate-expired',
  'certificate-not-trusted',
  'validation-failure',
  // RFC 8460 §4.3.2.1: DANE-specific
  'tlsa-invalid',
  'dnssec-invalid',
  'dane-required',
  // RFC 8460 §4.3.2.2: MTA-STS-specific
  'sts-policy-fetch-error',
  'sts-policy-invalid',
  'sts-webpki-invalid',
]);
export type TlsrptFailure = z.infer<typeof TlsrptFailure>;

/**
 * Stable engine error codes (src-main/core/errors.ts DeliveryError.code). Tests, the queue's
 * retry decisions and the UI's explanations key off these, never off reply text.
 */
export const ErrorCode = z.enum([
  'SMTP_REPLY', // the server answered with a 4xx/5xx
  'SMTP_PROTOCOL', // malformed or hostile reply, unexpected state
  'TIMEOUT',
  'CONNECT_FAILED',
  'CONNECTION_CLOSED',
  'TLS_FAILED', // handshake failed
  'TLS_REQUIRED', // policy or user requires TLS and it is not available
  'CERT_INVALID', // verification required and failed (PKIX or DANE)
  'AUTH_FAILED', // a relay refused our SASL credentials (RFC 4954 535)
  'AUTH_UNAVAILABLE', // a relay offers no usable mechanism, or AUTH would come before TLS
  'DNS_TEMPORARY', // SERVFAIL, timeout, network error
  'DNS_NXDOMAIN',
  'DNS_BOGUS', // malformed answer
  'NULL_MX',
  'NO_HOSTS',
  'MESSAGE_TOO_BIG',
  'SMTPUTF8_UNSUPPORTED',
  'REQUIRETLS_UNSUPPORTED',
  'POLICY_MISMATCH', // MTA-STS host not allowed
  'GIVE_UP', // retries exhausted or lifetime passed
  'CANCELED',
  'INVALID_INPUT',
  'MESSAGE_FILE', // the queued .eml is missing or not what was queued (size, SHA-256)
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const Recipient = z.object({
  id: z.number().int(),
  messageId: z.string(),
  address: z.string(),
  envelope: z.string(),
  domain: z.string(),
  kind: RecipientKind,
  state: RecipientState,
  attempts: z.number().int(),
  nextAttemptAt: z.number().nullable(),
  lastAttemptAt: z.number().nullable(),
  lastCode: z.number().nullable(),
  lastEnhanced: z.string().nullable(),
  lastReply: z.string().nullable(),
  lastHost: z.string().nullable(),
  lastErrorCode: ErrorCode.nullable(),
  /** The hold rule holding this recipient (state "held"); null when held by the user or not held. */
  heldByRule: z.number().int().nullable(),
  updatedAt: z.number(),
});
export type Recipient = z.infer<typeof Recipient>;

export const MessageSummary = z.object({
  id: z.string(),
  createdAt: z.number(),
  mailFrom: z.string(),
  fromHeader: z.string(),
  subject: z.string(),
  size: z.number().int(),
  tlsMode: TlsMode,
  recipients: z.array(Recipient),
  /** True when any attempt of this message went out without TLS. */
  unencrypted: z.boolean(),
  /**
   * Per recipient, the TLS facts of its deciding attempt (the one that delivered, else the
   * latest); shared/verdict.ts turns them into the verdict the outbox, detail and export show.
   */
  recipientTls: z
    .array(
      z.object({
        recipientId: z.number().int(),
        status: z.enum(['delivered', 'deferred', 'failed', 'not-attempted']),
        starttls: z.boolean(),
        verification: AchievedVerification.nullable(),
        mtaStsMode: MtaStsMode.nullable(),
        plaintextFallback: z.boolean(),
        dane: z.boolean(),
        startedAt: z.number(),
      }),
    )
    .default([]),
  /**
   * Sent with an undo window that has not ended: when it ends (the first attempt is not before
   * then). Until then, and while no attempt has started, Undo returns it to compose.
   */
  undoUntil: z.number().nullable().default(null),
});
export type MessageSummary = z.infer<typeof MessageSummary>;

export const TranscriptLine = z.object({
  at: z.number(),
  dir: z.enum(['c', 's', 'i']),
  text: z.string(),
});
export type TranscriptLine = z.infer<typeof TranscriptLine>;

export const AttemptResult = z.object({
  recipientId: z.number().int(),
  status: z.enum(['delivered', 'deferred', 'failed', 'not-attempted']),
  code: z.number().nullable(),
  enhancedCode: z.string().nullable(),
  reply: z.string().nullable(),
});
export type AttemptResult = z.infer<typeof AttemptResult>;

export const Attempt = z.object({
  id: z.number().int(),
  messageId: z.string(),
  startedAt: z.number(),
  /** Which transport carried the attempt ("direct" unless a route chose another) and which route chose it. */
  transport: z.string(),
  routeId: z.number().int().nullable(),
  durationMs: z.number(),
  domain: z.string(),
  host: z.string().nullable(),
  ip: z.string().nullable(),
  port: z.number().nullable(),
  stage: z.string().nullable(),
  starttls: z.boolean(),
  tlsVersion: z.string().nullable(),
  tlsCipher: z.string().nullable(),
  certFingerprint: z.string().nullable(),
  /** How the certificate was verified in this session (achieved, not required). */
  verification: AchievedVerification.nullable(),
  verificationReason: z.string().nullable(),
  mtaStsMode: MtaStsMode.nullable(),
  dane: z.boolean(),
  requiretls: z.boolean(),
  plaintextFallback: z.boolean(),
  /**
   * The session was kept from an earlier message (connection reuse, RFC 5321 §4.1.4), not
   * opened for this one. Absent (records made before reuse existed, fixtures): a new session.
   */
  reusedSession: z.boolean().optional(),
  /**
   * The TLS session was resumed from an earlier connection's ticket (RFC 8446 §2.2): no
   * certificate was exchanged, and the verification shown is that of the full handshake that
   * established it, under the same policy. Absent (older records): a full handshake.
   */
  tlsResumed: z.boolean().optional(),
  tlsrptPolicy: TlsrptPolicyType.nullable(),
  tlsrptFailure: TlsrptFailure.nullable(),
  /**
   * RFC 8460 §4.4, recorded at attempt time so a report says what was in force then: the
   * policy-string (the MTA-STS policy's lines, or the TLSA records as "usage selector type
   * hex"), the MTA-STS policy's mx patterns, and our own address on the connection
   * (sending-mta-ip; null when no connection was made or it went through a proxy). Absent in
   * attempts recorded before these were kept.
   */
  tlsrptPolicyString: z.array(z.string()).nullable().optional(),
  tlsrptMxHost: z.array(z.string()).nullable().optional(),
  localIp: z.string().nullable().optional(),
  code: z.number().nullable(),
  enhancedCode: z.string().nullable(),
  /** The server's reply as received, code first ("550 5.1.1 no such user"), or our own message. */
  reply: z.string().nullable(),
  errorCode: ErrorCode.nullable(),
  permanent: z.boolean(),
  transcript: z.array(TranscriptLine),
  results: z.array(AttemptResult),
});
export type Attempt = z.infer<typeof Attempt>;

/** An attempt as the engine produces it, before the store gives it an id and a message. */
export type AttemptRecord = Omit<Attempt, 'id' | 'messageId'>;

/**
 * A reply for people: "550 5.1.1 no such user". The one place a code, an enhanced code and a
 * reply text are put together, so none is shown twice: the engine stores a server's reply with
 * its codes ("250 2.0.0 Ok"), its own messages without ("connection timed out"), and a give-up
 * quotes the last reply ("gave up after 9 attempts; last: 451 4.3.0 …"). A code is put in front
 * only when the text does not already show it as a word.
 */
export function describeReply(r: { code: number | null; enhancedCode: string | null; reply: string | null }): string {
  const text = (r.reply ?? '').replace(/\s+/g, ' ').trim();
  const words = new Set(text.split(/[\s;:()/,]+|-(?=\S)/));
  const shows = (token: string) => words.has(token);
  const code = r.code !== null && !shows(String(r.code)) ? String(r.code) : null;
  const enhanced = r.enhancedCode && !shows(r.enhancedCode) ? r.enhancedCode : null;
  return [code, enhanced, text].filter((x) => x !== null && x !== '').join(' ');
}

export const MessageEvent = z.object({
  id: z.number().int(),
  messageId: z.string(),
  recipientId: z.number().int().nullable(),
  at: z.number(),
  kind: z.string(),
  detail: z.string(),
});
export type MessageEvent = z.infer<typeof MessageEvent>;

export const MessageDetail = MessageSummary.extend({
  messageIdHeader: z.string().nullable(),
  attempts: z.array(Attempt),
  events: z.array(MessageEvent),
});
export type MessageDetail = z.infer<typeof MessageDetail>;

/** What the engine last saw of a recipient domain (rules §11). */
export const DomainTlsHint = z.object({
  domain: z.string(),
  starttls: z.boolean(),
  requiretls: z.boolean(),
  mtaStsMode: MtaStsMode.nullable(),
  dane: z.boolean(),
  seenAt: z.number(),
});
export type DomainTlsHint = z.infer<typeof DomainTlsHint>;

export const DkimAlgorithm = z.enum(['rsa-sha256', 'ed25519-sha256']);
export type DkimAlgorithm = z.infer<typeof DkimAlgorithm>;

/** The TXT record to publish at `name` (RFC 6376 §3.6.2.1) for one signing key. */
export const DkimRecord = z.object({ name: z.string(), value: z.string() });
export type DkimRecord = z.infer<typeof DkimRecord>;

/**
 * One DKIM signing key of an identity, public half only (private keys never cross to the
 * renderer). An identity signs with every key it has: new identities get an RSA-2048 and an
 * Ed25519 key (RFC 8463 §4: dual signing, since many receivers verify only RSA).
 */
export const DkimKey = z.object({
  algorithm: DkimAlgorithm,
  selector: z.string(),
  publicKey: z.string(),
  record: DkimRecord,
});
export type DkimKey = z.infer<typeof DkimKey>;

export const Identity = z.object({
  id: z.number().int(),
  address: z.string(),
  displayName: z.string(),
  /** Inserted below the body in compose, after an RFC 3676 "-- " line (shared/compose-body.ts). */
  signature: z.string(),
  /** RSA first, then Ed25519; empty when the identity does not sign. */
  dkimKeys: z.array(DkimKey),
  isDefault: z.boolean(),
  createdAt: z.number(),
});
export type Identity = z.infer<typeof Identity>;

/** A header value: no CR, LF or NUL can reach a header (RFC 5322 §2.2, header injection). */
export const HeaderText = z.string().max(998).regex(/^[^\r\n\0]*$/, 'must not contain line breaks');

/** Text a person reads as one line (names, subjects, file names): shared/text.ts decides. */
export function displayText(max: number) {
  return z.string().max(max).superRefine((s, ctx) => {
    const problem = unsafeTextProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}
export const DisplayText = displayText(998);

/**
 * The longest subject a draft may have. Longer than a header line (RFC 5322 §2.1.1): compose
 * folds it (§2.2.3), with RFC 2047 encoded-words where a word is too long to fold.
 */
export const MAX_SUBJECT_CHARS = 2000;

/** RFC 6376 §3.1: a DKIM selector, one or more DNS labels. */
export const DkimSelector = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, 'a selector is one or more DNS labels');

/**
 * An attachment as the renderer holds it: an opaque token that main handed out for a file the
 * user chose in main's own dialog or dropped on the window. The renderer never names a path.
 */
export const AttachmentToken = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'not an attachment token');

export const DraftAttachment = z.object({
  token: AttachmentToken,
  filename: DisplayText.optional(),
  contentType: HeaderText.optional(),
  size: z.number().int().nonnegative().optional(),
}).strict();

const draftFields = {
  id: z.string().max(64).optional(),
  identityId: z.number().int().nullable().optional(),
  from: HeaderText.default(''),
  to: z.array(HeaderText).max(1000).default([]),
  cc: z.array(HeaderText).max(1000).default([]),
  bcc: z.array(HeaderText).max(1000).default([]),
  replyTo: HeaderText.optional(),
  subject: displayText(MAX_SUBJECT_CHARS).default(''),
  text: z.string().max(10 * 1024 * 1024).default(''),
  html: z.string().max(10 * 1024 * 1024).optional(),
  tlsMode: TlsMode.default('default'),
};

/** A draft as it crosses IPC: attachments are grant tokens. */
export const Draft = z.object({ ...draftFields, attachments: z.array(DraftAttachment).max(100).default([]) }).strict();
export type Draft = z.infer<typeof Draft>;
export type DraftInput = z.input<typeof Draft>;

/** A file main may read for a message: from a grant (app) or named on the command line (CLI). */
export const LocalAttachment = z.object({
  path: z.string().min(1).max(4096),
  filename: DisplayText.optional(),
  contentType: HeaderText.optional(),
  size: z.number().int().nonnegative().optional(),
}).strict();
export type LocalAttachment = z.infer<typeof LocalAttachment>;

/**
 * A draft on main's side: what the core sends and what the store keeps. Its paths come only
 * from grants (or the CLI's own arguments), never from the renderer.
 */
export const LocalDraft = z.object({ ...draftFields, attachments: z.array(LocalAttachment).max(100).default([]) }).strict();
export type LocalDraft = z.infer<typeof LocalDraft>;

export const DraftSummary = z.object({
  id: z.string(),
  updatedAt: z.number(),
  subject: z.string(),
  to: z.array(z.string()),
});
export type DraftSummary = z.infer<typeof DraftSummary>;

/** The settings schema lives in shared/settings.ts (one schema for IPC, CLI and load). */
export { Settings } from './settings';

export const Notice = z.object({
  id: z.number().int(),
  messageId: z.string(),
  recipientId: z.number().int().nullable(),
  kind: z.enum(['delay', 'failure']),
  at: z.number(),
  text: z.string(),
  seen: z.boolean(),
});
export type Notice = z.infer<typeof Notice>;

/** One parsed recipient as the composer shows it (chip), or why it is not valid. */
export const AddressCheck = z.object({
  input: z.string(),
  ok: z.boolean(),
  display: z.string().nullable(),
  domainAscii: z.string().nullable(),
  domainUnicode: z.string().nullable(),
  needsSmtpUtf8: z.boolean(),
  error: z.string().nullable(),
  /** Why mail to this address would fail at once: it is on the suppression list (rules §15). */
  suppressed: z.string().nullable().default(null),
});
export type AddressCheck = z.infer<typeof AddressCheck>;

/** A host's authentic TLSA records (RFC 7672 §2.2): usable ones mean DANE decides verification. */
export const TlsaClass = z.enum(['usable', 'all-unusable', 'none']);
export type TlsaClass = z.infer<typeof TlsaClass>;

/**
 * An address the composer offers while the user types (local only: the mailboxes mail was sent
 * to, and the user's own identities), best first (core/address-book.ts ranks them).
 */
export const AddressSuggestion = z.object({
  /** local@U-label, as shown. */
  address: z.string(),
  name: z.string().nullable(),
  /** The header form to put in the field: `Name <a@b>`, the name quoted when it needs to be. */
  mailbox: z.string(),
  source: z.enum(['recent', 'identity']),
  /** Messages sent to it, and when last (null: never, an identity only). */
  uses: z.number().int(),
  lastUsed: z.number().nullable(),
});
export type AddressSuggestion = z.infer<typeof AddressSuggestion>;

/** What the pre-send probe learnt about a recipient domain (rules §11, issue "TLS policies"). */
export const ProbeHost = z.object({
  host: z.string(),
  ip: z.string().nullable(),
  starttls: z.boolean(),
  requiretls: z.boolean(),
  tlsVersion: z.string().nullable(),
  verification: AchievedVerification.nullable(),
  verificationReason: z.string().nullable(),
  error: z.string().nullable(),
  tlsa: TlsaClass.default('none'),
  /** Whether the host is listed in the domain's MTA-STS policy (null: no policy). */
  mtaStsMatch: z.boolean().nullable().default(null),
});
export type ProbeHost = z.infer<typeof ProbeHost>;
export const ProbeResult = z.object({
  domain: z.string(),
  mx: z.array(z.string()),
  mtaStsMode: MtaStsMode.nullable(),
  mtaStsId: z.string().nullable(),
  dane: z.boolean(),
  hosts: z.array(ProbeHost),
  error: z.string().nullable(),
  /** The engine's error code when the domain itself cannot receive mail (NULL_MX, DNS_NXDOMAIN…). */
  errorCode: z.string().nullable().default(null),
  /** Whether that error is permanent (a send would fail at once, not be retried). */
  errorPermanent: z.boolean().default(false),
  at: z.number(),
});
export type ProbeResult = z.infer<typeof ProbeResult>;

/** An address that fails at once without a connection (rules §15). */
export const Suppression = z.object({
  id: z.number().int(),
  address: z.string(),
  /** null: for every identity. */
  identityId: z.number().int().nullable(),
  source: z.enum(['auto', 'manual']),
  reason: z.string(),
  reply: z.string().nullable(),
  code: z.number().int().nullable(),
  enhancedCode: z.string().nullable(),
  messageId: z.string().nullable(),
  createdAt: z.number(),
});
export type Suppression = z.infer<typeof Suppression>;

/** A rule that holds newly queued mail (rules §15); neither criterion = "pause sending". */
export const HoldRule = z.object({
  id: z.number().int(),
  /** Address ("a@example.org") or domain ("example.org"), envelope form; null = any. */
  sender: z.string().nullable(),
  recipient: z.string().nullable(),
  createdAt: z.number(),
  /** Recipients this rule holds now. */
  held: z.number().int(),
});
export type HoldRule = z.infer<typeof HoldRule>;
