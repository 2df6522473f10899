/**
 * The queue's SQL: the pending set, claiming work, and recording outcomes atomically. Every
 * state change is one transaction, so a crash leaves each recipient either before or after a
 * step, never halfway — and recipients caught in 'sending' are recovered at start.
 *
 * Each transition of the pending set (queued/deferred with a next-attempt time) is one function
 * here (or in hold-rules.ts / Store.insertMessage) that writes the row and reports the change to
 * the PendingFeed, which hands it to the queue's in-memory due set after the commit. Statements
 * are prepared once per connection (issue 14 item 4), lazily, on first use.
 */
import type { Statement } from 'better-sqlite3';
import type { AttemptRecord, RecipientState, TlsMode } from '../../../shared/domain';
import type { PendingChange, PendingFeed } from './pending-feed';
import type { Db } from './db';
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

/** What the queue's statements need of the store (not the Store class: no import cycle). */
export interface QueueStore {
  readonly db: Db;
  readonly pending: PendingFeed;
  statement(sql: string): Statement;
  addEvent(messageId: string, recipientId: number | null, at: number, kind: string, detail?: string): void;
}

const PENDING = "state IN ('queued', 'deferred')";
const isPendingState = (s: RecipientState) => s === 'queued' || s === 'deferred';

export class QueueRepo {
  #dataVersion: number | null = null;

  readonly feed: PendingFeed;

  constructor(private readonly store: QueueStore) {
    this.feed = store.pending;
  }

  private get db() {
    return this.store.db;
  }


  /**
   * Runs `fn` in one transaction (nested: inside the caller's, see PendingFeed.atomically); the
   * pending-set changes reach the queue after the commit.
   */
  atomically<T>(fn: () => T, opts: { savepoint?: boolean } = {}): T {
    return this.feed.atomically(fn, opts);
  }

  // ---- the pending set --------------------------------------------------------------------

  /** Every pending recipient as the store holds it (the due set is rebuilt from this). */
  pendingRows(): PendingChange[] {
    const rows = this.store.statement(`SELECT id, message_id AS messageId, domain, next_attempt_at AS at FROM recipients WHERE ${PENDING} AND next_attempt_at IS NOT NULL`).all() as PendingChange[];
    this.changedElsewhere();
    return rows;
  }

  /**
   * Whether another connection (the CLI, another process) committed since the last call:
   * SQLite's data_version changes only for other connections' commits (cheap: no table read).
   */
  changedElsewhere(): boolean {
    const v = this.store.statement('PRAGMA data_version').pluck().get() as number;
    const changed = this.#dataVersion !== null && v !== this.#dataVersion;
    this.#dataVersion = v;
    return changed;
  }

  /** The pending-set change a row's current state makes (for rows whose state is not known). */
  #current(id: number): PendingChange | null {
    const r = this.store.statement('SELECT id, message_id AS messageId, domain, state, next_attempt_at AS at FROM recipients WHERE id = ?').get(id) as
      | (PendingChange & { state: RecipientState })
      | undefined;
    if (!r) return null;
    return { id: r.id, messageId: r.messageId, domain: r.domain, at: isPendingState(r.state) ? r.at : null };
  }

  #reportIds(ids: readonly number[]): void {
    if (!this.feed.listening) return;
    const out: PendingChange[] = [];
    for (const id of ids) {
      const c = this.#current(id);
      if (c) out.push(c);
    }
    this.feed.report(out);
  }

  // ---- transitions ------------------------------------------------------------------------

  /** Recipients left in 'sending' by a crash become 'deferred' and due now (at-least-once). */
  recoverInterrupted(now: number): number {
    return this.atomically(() => {
      const rows = this.store.statement("SELECT id, message_id, domain FROM recipients WHERE state = 'sending'").all() as { id: number; message_id: string; domain: string }[];
      const upd = this.store.statement(
        "UPDATE recipients SET state = 'deferred', next_attempt_at = ?, last_reply = 'interrupted', last_error_code = 'INTERRUPTED', updated_at = ? WHERE id = ?",
      );
      for (const r of rows) {
        upd.run(now, now, r.id);
        this.store.addEvent(r.message_id, r.id, now, 'interrupted', 'the app stopped during delivery; retrying');
      }
      this.feed.report(rows.map((r) => ({ id: r.id, messageId: r.message_id, domain: r.domain, at: now })));
      return rows.length;
    });
  }

  /**
   * Claims recipients for delivery; returns the ids actually claimed (still pending on disk).
   * Inside the caller's transaction when there is one (a batch of claims and outcomes).
   */
  claim(rcpts: readonly { id: number; messageId: string; domain: string }[], now: number): number[] {
    return this.atomically(() => {
      const upd = this.store.statement(`UPDATE recipients SET state = 'sending', updated_at = ? WHERE id = ? AND ${PENDING}`);
      const claimed: number[] = [];
      const raced: number[] = [];
      for (const r of rcpts) (upd.run(now, r.id).changes === 1 ? claimed : raced).push(r.id);
      // Claimed rows leave the pending set; a row another process changed reports what it is now.
      const ids = new Set(claimed);
      this.feed.report(rcpts.filter((r) => ids.has(r.id)).map((r) => ({ id: r.id, messageId: r.messageId, domain: r.domain, at: null })));
      this.#reportIds(raced);
      return claimed;
    });
  }

  /** What a delivery needs of claimed recipients and their message, in id order. */
  dueRecipients(ids: readonly number[]): DueRecipient[] {
    const sel = this.store.statement(
      `SELECT r.*, m.mail_from, m.raw_path, m.size, m.eight_bit, m.smtputf8, m.tls_mode, m.created_at, m.sha256
       FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.id = ?`,
    );
    return ids.map((id) => sel.get(id) as DueRecipient | undefined).filter((r): r is DueRecipient => r !== undefined);
  }

  /** Due recipients, oldest due first (tests compare the in-memory due set with this). */
  due(now: number, limit: number, onlyMessage: string | null = null): DueRecipient[] {
    const select = `SELECT r.*, m.mail_from, m.raw_path, m.size, m.eight_bit, m.smtputf8, m.tls_mode, m.created_at, m.sha256
         FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.${PENDING} AND r.next_attempt_at <= @now`;
    const order = 'ORDER BY r.next_attempt_at, r.id LIMIT @limit';
    return (
      onlyMessage === null
        ? this.store.statement(`${select} ${order}`).all({ now, limit })
        : this.store.statement(`${select} AND r.message_id = @onlyMessage ${order}`).all({ now, limit, onlyMessage })
    ) as DueRecipient[];
  }

  /** The earliest next attempt in the store (the queue itself asks its in-memory due set). */
  nextDueAt(onlyMessage: string | null = null): number | null {
    // ORDER BY … LIMIT 1 walks recipients_pending in due order and stops at the first row.
    const where = `WHERE ${PENDING} AND next_attempt_at IS NOT NULL`;
    const row = (
      onlyMessage === null
        ? this.store.statement(`SELECT next_attempt_at AS t FROM recipients ${where} ORDER BY next_attempt_at LIMIT 1`).get()
        : this.store.statement(`SELECT next_attempt_at AS t FROM recipients ${where} AND message_id = ? ORDER BY next_attempt_at LIMIT 1`).get(onlyMessage)
    ) as { t: number } | undefined;
    return row?.t ?? null;
  }

  /** Stores the attempts, their per-recipient results and the recipients' new states at once. */
  recordOutcome(messageId: string, attempts: AttemptRecord[], updates: RecipientUpdate[], dialedIps: string[] | null, now: number): void {
    const insAttempt = this.store.statement(
      `INSERT INTO attempts (message_id, started_at, duration_ms, domain, host, ip, port, stage, starttls, tls_version, tls_cipher,
         cert_fingerprint, verification, verification_reason, mta_sts_mode, dane, requiretls, plaintext_fallback, tlsrpt_policy,
         tlsrpt_failure, code, enhanced_code, reply, error_code, permanent, transcript, transport, route_id,
         tlsrpt_policy_string, tlsrpt_mx_host, local_ip, reused_session, tls_resumed)
       VALUES (@messageId, @startedAt, @durationMs, @domain, @host, @ip, @port, @stage, @starttls, @tlsVersion, @tlsCipher,
         @certFingerprint, @verification, @verificationReason, @mtaStsMode, @dane, @requiretls, @plaintextFallback, @tlsrptPolicy,
         @tlsrptFailure, @code, @enhancedCode, @reply, @errorCode, @permanent, @transcript, @transport, @routeId,
         @tlsrptPolicyStringJson, @tlsrptMxHostJson, @localIp, @reusedSession, @tlsResumed)`,
    );
    const insResult = this.store.statement(
      'INSERT OR REPLACE INTO attempt_results (attempt_id, recipient_id, status, code, enhanced_code, reply) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const updRcpt = this.store.statement(
      `UPDATE recipients SET state = @state, next_attempt_at = @nextAttemptAt, attempts = attempts + @inc,
         last_attempt_at = CASE WHEN @inc = 1 THEN @now ELSE last_attempt_at END,
         last_code = @code, last_enhanced = @enhancedCode, last_reply = @reply, last_host = @host, last_error_code = @errorCode,
         dialed_ips = COALESCE(@dialedIps, dialed_ips), updated_at = @now
       WHERE id = @id AND state = 'sending'`,
    );
    this.atomically(() => {
      for (const a of attempts) {
        const info = insAttempt.run({
          ...a,
          messageId,
          starttls: a.starttls ? 1 : 0,
          dane: a.dane ? 1 : 0,
          requiretls: a.requiretls ? 1 : 0,
          plaintextFallback: a.plaintextFallback ? 1 : 0,
          reusedSession: a.reusedSession ? 1 : 0,
          tlsResumed: a.tlsResumed ? 1 : 0,
          permanent: a.permanent ? 1 : 0,
          transcript: JSON.stringify(a.transcript),
          tlsrptPolicyStringJson: a.tlsrptPolicyString ? JSON.stringify(a.tlsrptPolicyString) : null,
          tlsrptMxHostJson: a.tlsrptMxHost ? JSON.stringify(a.tlsrptMxHost) : null,
          localIp: a.localIp ?? null,
        });
        for (const r of a.results) insResult.run(info.lastInsertRowid, r.recipientId, r.status, r.code, r.enhancedCode, r.reply);
      }
      const ips = dialedIps ? JSON.stringify(dialedIps) : null;
      const changed: number[] = [];
      for (const u of updates) {
        if (updRcpt.run({ ...u, inc: u.countsAsAttempt ? 1 : 0, now, dialedIps: ips }).changes === 1 && isPendingState(u.state)) changed.push(u.id);
      }
      this.#reportIds(changed);
    });
  }

  recipient(id: number): RecipientRow | undefined {
    return this.store.statement('SELECT * FROM recipients WHERE id = ?').get(id) as RecipientRow | undefined;
  }

  /**
   * Whether every recipient of the message has reached a final state (delivered, failed,
   * canceled): its envelope is then settled (message-files.ts). The one rule of "finished".
   */
  messageFinished(messageId: string): boolean {
    return (
      this.store.statement("SELECT NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = ? AND state NOT IN ('delivered', 'failed', 'canceled'))").pluck().get(messageId) === 1
    );
  }

  recipientsOf(messageId: string): RecipientRow[] {
    return this.store.statement('SELECT * FROM recipients WHERE message_id = ? ORDER BY id').all(messageId) as RecipientRow[];
  }

  /** Moves recipients from one of `from` states to `to`; returns the ids changed. */
  transition(ids: number[], from: RecipientState[], to: RecipientState, nextAttemptAt: number | null, now: number): number[] {
    const upd = this.store.statement(`UPDATE recipients SET state = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state IN (${from.map(() => '?').join(',')})`);
    return this.atomically(() => {
      const changed = ids.filter((id) => upd.run(to, nextAttemptAt, now, id, ...from).changes === 1);
      this.#reportIds(changed);
      return changed;
    });
  }

  setTlsMode(messageId: string, mode: TlsMode): boolean {
    return this.store.statement('UPDATE messages SET tls_mode = ? WHERE id = ?').run(mode, messageId).changes === 1;
  }

  addNotice(messageId: string, recipientId: number | null, kind: 'delay' | 'failure', at: number, text: string): void {
    this.store.statement('INSERT INTO notices (message_id, recipient_id, kind, at, text) VALUES (?, ?, ?, ?, ?)').run(messageId, recipientId, kind, at, text);
  }

  /** Recipients still pending whose message is older than `olderThan`, not yet delay-notified. */
  delayNoticeCandidates(olderThan: number): (RecipientRow & { created_at: number })[] {
    return this.store.statement(
      // CROSS JOIN keeps messages as the outer loop: the created_at index finds the few old
      // messages instead of probing every pending recipient (100k queued: 0.1 ms, not 90 ms).
      `SELECT r.*, m.created_at FROM messages m CROSS JOIN recipients r ON r.message_id = m.id
       WHERE m.created_at <= ? AND r.state IN ('queued', 'deferred', 'held') AND r.delay_notified = 0`,
    ).all(olderThan) as (RecipientRow & { created_at: number })[];
  }

  markDelayNotified(id: number): void {
    this.store.statement('UPDATE recipients SET delay_notified = 1 WHERE id = ?').run(id);
  }
}
