/** Row shapes of the database and their mapping to the shared domain types. */
import type { Attempt, DkimAlgorithm, DomainTlsHint, MessageEvent, Recipient, TlsMode } from '../../../shared/domain';

export interface MessageRow {
  id: string;
  created_at: number;
  mail_from: string;
  from_header: string;
  subject: string;
  message_id_header: string | null;
  size: number;
  raw_path: string;
  tls_mode: TlsMode;
  eight_bit: number;
  smtputf8: number;
  identity_id: number | null;
  /** Hex SHA-256 of the .eml at enqueue; null for messages queued before migration 5. */
  sha256: string | null;
}

export interface RecipientRow {
  id: number;
  message_id: string;
  address: string;
  envelope: string;
  domain: string;
  kind: Recipient['kind'];
  state: Recipient['state'];
  attempts: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_code: number | null;
  last_enhanced: string | null;
  last_reply: string | null;
  last_host: string | null;
  last_error_code: Recipient['lastErrorCode'];
  dialed_ips: string;
  updated_at: number;
  delay_notified: number;
  held_by_rule: number | null;
}

export function toRecipient(r: RecipientRow): Recipient {
  return {
    id: r.id,
    messageId: r.message_id,
    address: r.address,
    envelope: r.envelope,
    domain: r.domain,
    kind: r.kind,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastAttemptAt: r.last_attempt_at,
    lastCode: r.last_code,
    lastEnhanced: r.last_enhanced,
    lastReply: r.last_reply,
    lastHost: r.last_host,
    lastErrorCode: r.last_error_code,
    heldByRule: r.held_by_rule,
    updatedAt: r.updated_at,
  };
}

export interface AttemptRow {
  id: number;
  message_id: string;
  started_at: number;
  duration_ms: number;
  domain: string;
  host: string | null;
  ip: string | null;
  port: number | null;
  stage: string | null;
  starttls: number;
  tls_version: string | null;
  tls_cipher: string | null;
  cert_fingerprint: string | null;
  verification: Attempt['verification'];
  verification_reason: string | null;
  mta_sts_mode: Attempt['mtaStsMode'];
  dane: number;
  requiretls: number;
  plaintext_fallback: number;
  reused_session: number;
  tls_resumed: number;
  tlsrpt_policy: Attempt['tlsrptPolicy'];
  tlsrpt_failure: Attempt['tlsrptFailure'];
  tlsrpt_policy_string: string | null;
  tlsrpt_mx_host: string | null;
  local_ip: string | null;
  code: number | null;
  enhanced_code: string | null;
  reply: string | null;
  error_code: Attempt['errorCode'];
  permanent: number;
  transcript: string;
  transport: string;
  route_id: number | null;
}

export function toAttempt(a: AttemptRow, results: Attempt['results']): Attempt {
  return {
    id: a.id,
    messageId: a.message_id,
    startedAt: a.started_at,
    transport: a.transport,
    routeId: a.route_id,
    durationMs: a.duration_ms,
    domain: a.domain,
    host: a.host,
    ip: a.ip,
    port: a.port,
    stage: a.stage,
    starttls: a.starttls === 1,
    tlsVersion: a.tls_version,
    tlsCipher: a.tls_cipher,
    certFingerprint: a.cert_fingerprint,
    verification: a.verification,
    verificationReason: a.verification_reason,
    mtaStsMode: a.mta_sts_mode,
    dane: a.dane === 1,
    requiretls: a.requiretls === 1,
    plaintextFallback: a.plaintext_fallback === 1,
    reusedSession: a.reused_session === 1,
    tlsResumed: a.tls_resumed === 1,
    tlsrptPolicy: a.tlsrpt_policy,
    tlsrptFailure: a.tlsrpt_failure,
    tlsrptPolicyString: a.tlsrpt_policy_string === null ? null : (JSON.parse(a.tlsrpt_policy_string) as string[]),
    tlsrptMxHost: a.tlsrpt_mx_host === null ? null : (JSON.parse(a.tlsrpt_mx_host) as string[]),
    localIp: a.local_ip,
    code: a.code,
    enhancedCode: a.enhanced_code,
    reply: a.reply,
    errorCode: a.error_code,
    permanent: a.permanent === 1,
    transcript: JSON.parse(a.transcript) as Attempt['transcript'],
    results,
  };
}

export interface IdentityRow {
  id: number;
  address: string;
  display_name: string;
  signature: string;
  is_default: number;
  created_at: number;
}

export interface DkimKeyRow {
  identity_id: number;
  algorithm: DkimAlgorithm;
  selector: string;
  private_key: string;
  public_key: string;
  created_at: number;
}

/** An identity as stored, private keys included; core/identities.ts makes the public view. */
export interface StoredIdentity {
  id: number;
  address: string;
  displayName: string;
  /** Plain text inserted below the body in compose (shared/signature.ts); '' for none. */
  signature: string;
  isDefault: boolean;
  createdAt: number;
  /** RSA first, then Ed25519. */
  keys: StoredDkimKey[];
}

export interface StoredDkimKey {
  algorithm: DkimAlgorithm;
  selector: string;
  privateKey: string;
  publicKey: string;
}

export function toStoredIdentity(r: IdentityRow, keys: DkimKeyRow[]): StoredIdentity {
  return {
    id: r.id,
    address: r.address,
    displayName: r.display_name,
    signature: r.signature,
    isDefault: r.is_default === 1,
    createdAt: r.created_at,
    keys: keys
      .filter((k) => k.identity_id === r.id)
      .sort((x, y) => (x.algorithm === y.algorithm ? 0 : x.algorithm === 'rsa-sha256' ? -1 : 1))
      .map((k) => ({ algorithm: k.algorithm, selector: k.selector, privateKey: k.private_key, publicKey: k.public_key })),
  };
}

export interface DomainTlsRow {
  domain: string;
  starttls: number;
  requiretls: number;
  mta_sts_mode: DomainTlsHint['mtaStsMode'];
  dane: number;
  seen_at: number;
}

export function toHint(r: DomainTlsRow): DomainTlsHint {
  return {
    domain: r.domain,
    starttls: r.starttls === 1,
    requiretls: r.requiretls === 1,
    mtaStsMode: r.mta_sts_mode,
    dane: r.dane === 1,
    seenAt: r.seen_at,
  };
}

export interface MessageEventRow {
  id: number;
  message_id: string;
  recipient_id: number | null;
  at: number;
  kind: string;
  detail: string;
}

export function toMessageEvent(r: MessageEventRow): MessageEvent {
  return { id: r.id, messageId: r.message_id, recipientId: r.recipient_id, at: r.at, kind: r.kind, detail: r.detail };
}

export interface RecipientHistoryRow {
  address: string;
  display: string;
  name: string | null;
  uses: number;
  last_used: number;
}
