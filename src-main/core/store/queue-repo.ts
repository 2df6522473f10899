/**
 * The queue's SQL: picking due work, claiming it, and recording outcomes atomically. Every
 * state change is one transaction, so a crash leaves each recipient either before or after a
 * step, never halfway — and recipients caught in 'sending' are recovered at start.
 */
import type { AttemptRecord, RecipientState, TlsMode } from '../../../shared/domain';
import type { Store } from './store';
import type { RecipientRow } from './rows';

export interface DueRecipient extends RecipientRow {
  mail_from: string;
  raw_path: string;
  size: number;
  eight_bit: number;
  smtputf8: number;
  tls_mode: TlsMode;
  created_at: number;
  sha256: string | null;
}

export interface RecipientUpdate {
  id: number;
  state: RecipientState;
  nextAttemptAt: number | null;
  code: number | null;
  enhancedCode: string | null;
  reply: string | null;
  host: string | null;
  errorCode: string | null;
  countsAsAttempt: boolean;
}

export class QueueRepo {
  constructor(private readonly store: Store) {}

  private get db() {
    return this.store.db;
  }

  /** Recipients left in 'sending' by a crash become 'deferred' and due now (at-least-once). */
  recoverInterrupted(now: number): number {
    return this.db.transaction(() => {
      const rows = this.db.prepare("SELECT id, message_id FROM recipients WHERE state = 'sending'").all() as { id: number; message_id: string }[];
      const upd = this.db.prepare(
        "UPDATE recipients SET state = 'deferred', next_attempt_at = ?, last_reply = 'interrupted', last_error_code = 'INTERRUPTED', updated_at = ? WHERE id = ?",
      );
      for (const r of rows) {
        upd.run(now, now, r.id);
        this.store.addEvent(r.message_id, r.id, now, 'interrupted', 'the app stopped during delivery; retrying');
      }
      return rows.length;
    }).immediate();
  }

  /** Due recipients, oldest due first, with what delivery needs of their message. */
  due(now: number, limit: number, onlyMessage: string | null = null): DueRecipient[] {
    // Two statements, so the common one stays a plain range scan of recipients_pending.
    const select = `SELECT r.*, m.mail_from, m.raw_path, m.size, m.eight_bit, m.smtputf8, m.tls_mode, m.created_at, m.sha256
         FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.state IN ('queued', 'deferred') AND r.next_attempt_at <= @now`;
    const order = 'ORDER BY r.next_attempt_at, r.id LIMIT @limit';
    return (
      onlyMessage === null
        ? this.db.prepare(`${select} ${order}`).all({ now, limit })
        : this.db.prepare(`${select} AND r.message_id = @onlyMessage ${order}`).all({ now, limit, onlyMessage })
    ) as DueRecipient[];
  }

  nextDueAt(onlyMessage: string | null = null): number | null {
    // ORDER BY … LIMIT 1 walks recipients_pending in due order and stops at the first row.
    const where = "WHERE state IN ('queued', 'deferred') AND next_attempt_at IS NOT NULL";
    const row = (
      onlyMessage === null
        ? this.db.prepare(`SELECT next_attempt_at AS t FROM recipients ${where} ORDER BY next_attempt_at LIMIT 1`).get()
        : this.db.prepare(`SELECT next_attempt_at AS t FROM recipients ${where} AND message_id = ? ORDER BY next_attempt_at LIMIT 1`).get(onlyMessage)
    ) as { t: number } | undefined;
    return row?.t ?? null;
  }

  /** Claims recipients for delivery; returns the ids actually claimed (still due, not raced). */
  claim(ids: number[], now: number): number[] {
    const upd = this.db.prepare(
      "UPDATE recipients SET state = 'sending', updated_at = ? WHERE id = ? AND state IN ('queued', 'deferred')",
    );
    return this.db.transaction(() => ids.filter((id) => upd.run(now, id).changes === 1)).immediate();
  }

  /** Stores the attempts, their per-recipient results and the recipients' new states at once. */
  recordOutcome(messageId: string, attempts: AttemptRecord[], updates: RecipientUpdate[], dialedIps: string[] | null, now: number): void {
    const insAttempt = this.db.prepare(
      `INSERT INTO attempts (message_id, started_at, duration_ms, domain, host, ip, port, stage, starttls, tls_version, tls_cipher,
         cert_fingerprint, verification, verification_reason, mta_sts_mode, dane, requiretls, plaintext_fallback, tlsrpt_policy,
         tlsrpt_failure, code, enhanced_code, reply, error_code, permanent, transcript, transport, route_id)
       VALUES (@messageId, @startedAt, @durationMs, @domain, @host, @ip, @port, @stage, @starttls, @tlsVersion, @tlsCipher,
         @certFingerprint, @verification, @verificationReason, @mtaStsMode, @dane, @requiretls, @plaintextFallback, @tlsrptPolicy,
         @tlsrptFailure, @code, @enhancedCode, @reply, @errorCode, @permanent, @transcript, @transport, @routeId)`,
    );
    const insResult = this.db.prepare(
      'INSERT OR REPLACE INTO attempt_results (attempt_id, recipient_id, status, code, enhanced_code, reply) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const updRcpt = this.db.prepare(
      `UPDATE recipients SET state = @state, next_attempt_at = @nextAttemptAt, attempts = attempts + @inc,
         last_attempt_at = CASE WHEN @inc = 1 THEN @now ELSE last_attempt_at END,
         last_code = @code, last_enhanced = @enhancedCode, last_reply = @reply, last_host = @host, last_error_code = @errorCode,
         dialed_ips = COALESCE(@dialedIps, dialed_ips), updated_at = @now
       WHERE id = @id AND state = 'sending'`,
    );
    this.db.transaction(() => {
      for (const a of attempts) {
        const info = insAttempt.run({
          ...a,
          messageId,
          starttls: a.starttls ? 1 : 0,
          dane: a.dane ? 1 : 0,
          requiretls: a.requiretls ? 1 : 0,
          plaintextFallback: a.plaintextFallback ? 1 : 0,
          permanent: a.permanent ? 1 : 0,
          transcript: JSON.stringify(a.transcript),
        });
        for (const r of a.results) insResult.run(info.lastInsertRowid, r.recipientId, r.status, r.code, r.enhancedCode, r.reply);
      }
      for (const u of updates) {
        updRcpt.run({ ...u, inc: u.countsAsAttempt ? 1 : 0, now, dialedIps: dialedIps ? JSON.stringify(dialedIps) : null });
      }
    }).immediate();
  }

  recipient(id: number): RecipientRow | undefined {
    return this.db.prepare('SELECT * FROM recipients WHERE id = ?').get(id) as RecipientRow | undefined;
  }

  recipientsOf(messageId: string): RecipientRow[] {
    return this.db.prepare('SELECT * FROM recipients WHERE message_id = ? ORDER BY id').all(messageId) as RecipientRow[];
  }

  /** Moves recipients from one of `from` states to `to`; returns the ids changed. */
  transition(ids: number[], from: RecipientState[], to: RecipientState, nextAttemptAt: number | null, now: number): number[] {
    const upd = this.db.prepare(
      `UPDATE recipients SET state = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state IN (${from.map(() => '?').join(',')})`,
    );
    return this.db.transaction(() => ids.filter((id) => upd.run(to, nextAttemptAt, now, id, ...from).changes === 1)).immediate();
  }

  setTlsMode(messageId: string, mode: TlsMode): boolean {
    return this.db.prepare('UPDATE messages SET tls_mode = ? WHERE id = ?').run(mode, messageId).changes === 1;
  }

  addNotice(messageId: string, recipientId: number | null, kind: 'delay' | 'failure', at: number, text: string): void {
    this.db.prepare('INSERT INTO notices (message_id, recipient_id, kind, at, text) VALUES (?, ?, ?, ?, ?)').run(messageId, recipientId, kind, at, text);
  }

  /** Recipients still pending whose message is older than `olderThan`, not yet delay-notified. */
  delayNoticeCandidates(olderThan: number): (RecipientRow & { created_at: number })[] {
    return this.db
      .prepare(
        // CROSS JOIN keeps messages as the outer loop: the created_at index finds the few old
        // messages instead of probing every pending recipient (100k queued: 0.1 ms, not 90 ms).
        `SELECT r.*, m.created_at FROM messages m CROSS JOIN recipients r ON r.message_id = m.id
         WHERE m.created_at <= ? AND r.state IN ('queued', 'deferred', 'held') AND r.delay_notified = 0`,
      )
      .all(olderThan) as (RecipientRow & { created_at: number })[];
  }

  markDelayNotified(id: number): void {
    this.db.prepare('UPDATE recipients SET delay_notified = 1 WHERE id = ?').run(id);
  }
}
