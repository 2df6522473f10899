/**
 * The store: every durable fact of the outbox in one SQLite file plus one .eml file per message
 * (the exact bytes sent on the wire). Only data access lives here — no protocol logic, no
 * scheduling decisions (style.md: storage apart from protocol, as mox's queue vs smtpclient).
 *
 * Durability contract: a message is "queued" only after its .eml file is fsync'd and renamed
 * into place (compose does that) AND insertMessage's transaction has committed.
 */
import fs from 'node:fs';
import type { Statement } from 'better-sqlite3';
import path from 'node:path';
import type {
  Attempt,
  DomainTlsHint,
  LocalDraft,
  DraftSummary,
  MessageDetail,
  MessageSummary,
  Notice,
  RecipientKind,
  Settings,
  TlsMode,
} from '../../../shared/domain';
import { Settings as SettingsSchema, LocalDraft as DraftSchema } from '../../../shared/domain';
import { settingsFromStored, type IgnoredSetting } from '../../../shared/settings';
export type { StoredDkimKey, StoredIdentity } from './rows';
import { admit } from '../queue/admission';
import { pickRecipientTls, type RecipientTls } from '../../../shared/verdict';
import { DB_FILE, isDamagedDatabase, openDb, type Db, type OpenDbOptions } from './db';
import { Checkpointer } from './checkpointer';
import { HoldRuleRepo } from './hold-rules';
import { SearchIndex } from './search-index';
import { PendingFeed } from './pending-feed';
import { QueueRepo } from './queue-repo';
import { SuppressionRepo } from './suppressions';
import { DataDirError, pendingEnvelopeIds, removeMessageFiles, removeTemporaryFiles, settleEnvelope } from './message-files';
import {
  toAttempt,
  toHint,
  toStoredIdentity,
  toMessageEvent,
  toRecipient,
  type AttemptRow,
  type DomainTlsRow,
  type DkimKeyRow,
  type IdentityRow,
  type StoredDkimKey,
  type StoredIdentity,
  type MessageEventRow,
  type MessageRow,
  type RecipientHistoryRow,
  type RecipientRow,
} from './rows';

export interface NewRecipient {
  address: string;
  envelope: string;
  domain: string;
  kind: RecipientKind;
  /** The display name the sender wrote ("Bob" of "Bob <bob@example.com>"), for suggestions. */
  name?: string | undefined;
}

export interface NewMessage {
  id: string;
  createdAt: number;
  mailFrom: string;
  fromHeader: string;
  subject: string;
  messageIdHeader: string | null;
  size: number;
  /** Path of the durable .eml, relative to the data dir. */
  rawPath: string;
  tlsMode: TlsMode;
  eightBit: boolean;
  smtpUtf8: boolean;
  identityId: number | null;
  recipients: NewRecipient[];
  /** When the first attempt is due (normally createdAt: at once, rules §10). */
  nextAttemptAt: number;
  /** Hex SHA-256 of the .eml (null only for fixtures without a file). */
  sha256?: string | null;
  /**
   * Sent with an undo window (core/undo-send.ts): the compose draft kept beside the message,
   * in the same transaction, until `until` (= nextAttemptAt).
   */
  undo?: { draftId: string; draft: LocalDraft; until: number } | undefined;
}

export interface StoreOpenOptions extends OpenDbOptions {
  /** Check the queued files against the database at open (default true; recovery turns it off). */
  checkQueuedFiles?: boolean;
}

export interface MessageQuery {
  status?: string | undefined;
  domain?: string | undefined;
  text?: string | undefined;
  sort?: 'newest' | 'oldest';
  offset?: number;
  limit?: number;
}

export interface IdentityInput {
  address: string;
  displayName: string;
  signature?: string;
  isDefault?: boolean;
  keys?: StoredDkimKey[];
}

export class Store {
  readonly db: Db;
  readonly dataDir: string;
  /** The better-sqlite3 binary in use, for extra connections (export's reader). */
  readonly nativeBinding: string | undefined;
  readonly suppressions: SuppressionRepo;
  readonly holdRules: HoldRuleRepo;
  readonly #stmts = new Map<string, Statement>();
  /** Changes to the pending set, handed to the queue's in-memory due set after each commit. */
  readonly pending: PendingFeed;
  /** The queue's statements: claims, outcomes, the pending set (one per connection). */
  readonly queue: QueueRepo;
  /** What close() releases besides the database (onClose). */
  readonly #onClose: (() => void)[] = [];
  /** WAL checkpoints from a worker thread, off the commits of this connection. */
  #checkpointer: Checkpointer | undefined;
  /** The text-search index, filled in batches (store/search-index.ts). */
  readonly searchIndex: SearchIndex;

  constructor(db: Db, dataDir: string, nativeBinding?: string) {
    this.db = db;
    this.pending = new PendingFeed(db);
    this.suppressions = new SuppressionRepo(db);
    this.holdRules = new HoldRuleRepo(db, this.pending);
    this.queue = new QueueRepo(this);
    this.searchIndex = new SearchIndex(db);
    this.dataDir = dataDir;
    this.nativeBinding = nativeBinding;
    fs.mkdirSync(this.messagesDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.messagesDir, 0o700);
  }

  /**
   * Opens the data folder. Throws DataDirError when the database is damaged, or missing/empty
   * while messages/ holds queued messages: an empty outbox must never silently replace them.
   */
  static open(dataDir: string, opts: StoreOpenOptions = {}): Store {
    const file = path.join(dataDir, DB_FILE);
    const messagesDir = path.join(dataDir, 'messages');
    const before = fs.statSync(file, { throwIfNoEntry: false });
    let db: Db;
    try {
      db = openDb(dataDir, opts);
    } catch (e) {
      if (!isDamagedDatabase(e)) throw e;
      throw new DataDirError('damaged', pendingEnvelopeIds(messagesDir).map((id) => path.join('messages', `${id}.eml`)), (e as Error).message);
    }
    const store = new Store(db, dataDir, opts.nativeBinding);
    if (!opts.readonly) {
      store.#checkpointer = Checkpointer.start(db, file, opts.nativeBinding);
      // What a killed process left unindexed (store/search-index.ts); a full disk or a damaged
      // index must not stop the app from starting: the next search indexes or rebuilds it.
      store.searchIndex.flushQuietly();
    }
    if (!opts.readonly && opts.checkQueuedFiles !== false) {
      try {
        store.#checkQueuedFiles(before === undefined ? 'missing' : 'empty');
      } catch (e) {
        store.close();
        throw e;
      }
    }
    return store;
  }

  /**
   * Start-up: temporary files of interrupted enqueues go; pending envelopes the database does
   * not know are either an enqueue whose commit never happened (removed: never acknowledged)
   * or — when the database has no message at all — a lost database (DataDirError). A pending
   * envelope of a message the database has finished is settled now: the process stopped
   * between the outcome's commit and the rename that follows it (Queue#settle).
   */
  #checkQueuedFiles(fresh: DataDirError['reason']): void {
    removeTemporaryFiles(this.messagesDir);
    const known = this.db.prepare('SELECT 1 FROM messages WHERE id = ?').pluck();
    const orphans: string[] = [];
    for (const id of pendingEnvelopeIds(this.messagesDir)) {
      if (known.get(id) === undefined) orphans.push(id);
      else if (this.queue.messageFinished(id)) settleEnvelope(this.messagesDir, id, true);
    }
    if (orphans.length === 0) return;
    const count = this.db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
    if (count === 0) throw new DataDirError(fresh, orphans.map((id) => path.join('messages', `${id}.eml`)));
    for (const id of orphans) removeMessageFiles(this.messagesDir, id);
  }

  close(): void {
    this.searchIndex.close();
    for (const release of this.#onClose.splice(0)) release();
    // The worker's connection first, so this one is the last: its close checkpoints and
    // removes the WAL.
    this.#checkpointer?.close();
    this.db.close();
  }

  /** Whether WAL checkpoints run on the worker thread (store/checkpointer.ts). */
  get checkpointsOffThread(): boolean {
    return this.#checkpointer?.running ?? false;
  }

  /** Runs `release` when the store closes (core/enqueue.ts: the messages/ it holds open). */
  onClose(release: () => void): void {
    this.#onClose.push(release);
  }

  get messagesDir(): string {
    return path.join(this.dataDir, 'messages');
  }

  absolutePath(rawPath: string): string {
    return path.join(this.dataDir, rawPath);
  }

  // ---- messages -------------------------------------------------------------------------

  /**
   * Queues a message. Each recipient is admitted on the way in (queue/admission.ts): a
   * suppressed address fails at once with the entry's reason and no attempt; one a hold rule
   * matches is held by that rule. The returned ids are the recipients failed that way.
   */
  insertMessage(m: NewMessage): { suppressed: { recipientId: number; address: string; reason: string }[] } {
    const insertMsg = this.statement(`
      INSERT INTO messages (id, created_at, mail_from, from_header, subject, message_id_header, size, raw_path,
                            tls_mode, eight_bit, smtputf8, identity_id, sha256)
      VALUES (@id, @createdAt, @mailFrom, @fromHeader, @subject, @messageIdHeader, @size, @rawPath,
              @tlsMode, @eightBit, @smtpUtf8, @identityId, @sha256)`);
    const insertRcpt = this.statement(`
      INSERT INTO recipients (message_id, address, envelope, domain, kind, state, next_attempt_at, held_by_rule,
                              last_reply, last_error_code, updated_at)
      VALUES (@messageId, @address, @envelope, @domain, @kind, @state, @next, @rule, @reply, @errorCode, @at)`);
    // Who the user writes to, for the composer's suggestions; a name once given is kept.
    const seen = this.statement(`
      INSERT INTO recipient_history (address, display, name, uses, last_used) VALUES (@address, @display, @name, 1, @at)
      ON CONFLICT(address) DO UPDATE SET display = excluded.display, name = coalesce(excluded.name, name),
        uses = uses + 1, last_used = max(last_used, excluded.last_used)`);
    const suppressed: { recipientId: number; address: string; reason: string }[] = [];
    // The acknowledgment "queued" must survive power loss: this commit is fsync'd (durable);
    // the queue learns of the new recipients once it has happened (PendingFeed).
    this.pending.atomically(() => {
      insertMsg.run({ ...m, eightBit: m.eightBit ? 1 : 0, smtpUtf8: m.smtpUtf8 ? 1 : 0, sha256: m.sha256 ?? null });
      const rules = this.holdRules.rules();
      for (const r of m.recipients) {
        const a = admit(this.suppressions.lookup(r.envelope, m.identityId), rules, m.mailFrom, r.envelope);
        const reply = a.state === 'failed' ? `suppressed: ${a.suppression.reason}` : null;
        const info = insertRcpt.run({
          messageId: m.id, address: r.address, envelope: r.envelope, domain: r.domain.toLowerCase(), kind: r.kind, state: a.state,
          next: a.state === 'queued' ? m.nextAttemptAt : null, rule: a.state === 'held' ? a.rule.id : null,
          reply, errorCode: a.state === 'failed' ? 'SUPPRESSED' : null, at: m.createdAt,
        });
        const recipientId = Number(info.lastInsertRowid);
        if (a.state === 'queued') this.pending.report({ id: recipientId, messageId: m.id, domain: r.domain.toLowerCase(), at: m.nextAttemptAt });
        if (a.state === 'failed') {
          suppressed.push({ recipientId, address: r.address, reason: a.suppression.reason });
          this.addEvent(m.id, recipientId, m.createdAt, 'suppressed', `on the suppression list: ${a.suppression.reason}`);
          this
            .statement("INSERT INTO notices (message_id, recipient_id, kind, at, text) VALUES (?, ?, 'failure', ?, ?)")
            .run(m.id, recipientId, m.createdAt, `Not sent to ${r.address}: the address is on the suppression list (${a.suppression.reason})`);
        } else if (a.state === 'held') {
          this.addEvent(m.id, recipientId, m.createdAt, 'held', `by hold rule ${a.rule.id}`);
        }
        seen.run({ address: r.envelope.toLowerCase(), display: r.address, name: r.name ?? null, at: m.createdAt });
      }
      this.addEvent(m.id, null, m.createdAt, 'queued', `${m.recipients.length} recipient(s)`);
      if (m.undo) {
        this
          .statement('INSERT INTO drafts (id, updated_at, data, message_id, undo_until) VALUES (?, ?, ?, ?, ?)')
          .run(m.undo.draftId, m.createdAt, JSON.stringify({ ...m.undo.draft, id: m.undo.draftId }), m.id, m.undo.until);
      }
    }, { durable: true });
    // The message and each recipient went into the search index's backlog with the commit.
    this.searchIndex.added(1 + m.recipients.length);
    return { suppressed };
  }

  /**
   * The statement for `sql`, prepared on first use and kept: the one statement cache of the
   * database, used by the store and its repositories (hot paths: enqueue, claims, events, the
   * lookups every delivery makes).
   */
  statement(sql: string): Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  messageRow(id: string): MessageRow | undefined {
    return this.statement('SELECT * FROM messages WHERE id = ?').get(id) as MessageRow | undefined;
  }

  listMessages(q: MessageQuery): { total: number; items: MessageSummary[] } {
    // A text search sees every row: what is still in the index's backlog is indexed first.
    if (q.text && !this.db.readonly) this.searchIndex.flush();
    const sql = messageListSql(q);
    const total = (this.db.prepare(sql.count).get(sql.params) as { n: number }).n;
    const rows = this.db
      .prepare(sql.page(total))
      .all({ ...sql.params, limit: q.limit ?? 100, offset: q.offset ?? 0 }) as MessageRow[];
    return { total, items: this.summaries(rows) };
  }

  getMessage(id: string): MessageDetail | undefined {
    const row = this.messageRow(id);
    if (!row) return undefined;
    const [summary] = this.summaries([row]);
    const events = (
      this.db.prepare('SELECT * FROM message_events WHERE message_id = ? ORDER BY at, id').all(id) as MessageEventRow[]
    ).map(toMessageEvent);
    return { ...summary!, messageIdHeader: row.message_id_header, attempts: this.attemptsOf(id), events };
  }

  private summaries(rows: MessageRow[]): MessageSummary[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const placeholders = ids.map(() => '?').join(',');
    const rcpts = this.db
      .prepare(`SELECT * FROM recipients WHERE message_id IN (${placeholders}) ORDER BY id`)
      .all(...ids) as RecipientRow[];
    const unencrypted = new Set(
      (
        this.db
          .prepare(
            `SELECT DISTINCT a.message_id AS id FROM attempts a JOIN attempt_results ar ON ar.attempt_id = a.id
             WHERE a.message_id IN (${placeholders}) AND a.starttls = 0 AND ar.status = 'delivered'`,
          )
          .all(...ids) as { id: string }[]
      ).map((r) => r.id),
    );
    const tlsRows = this.db
      .prepare(
        `SELECT a.message_id AS messageId, ar.recipient_id AS recipientId, ar.status, a.starttls, a.verification,
                a.mta_sts_mode AS mtaStsMode, a.plaintext_fallback AS plaintextFallback, a.dane, a.started_at AS startedAt
         FROM attempts a JOIN attempt_results ar ON ar.attempt_id = a.id WHERE a.message_id IN (${placeholders})`,
      )
      .all(...ids) as (Omit<RecipientTls, 'starttls' | 'plaintextFallback' | 'dane'> & { messageId: string; starttls: number; plaintextFallback: number; dane: number })[];
    const tlsByMessage = new Map<string, RecipientTls[]>();
    for (const { messageId, ...t } of tlsRows) {
      const list = tlsByMessage.get(messageId) ?? [];
      list.push({ ...t, starttls: t.starttls === 1, plaintextFallback: t.plaintextFallback === 1, dane: t.dane === 1 });
      tlsByMessage.set(messageId, list);
    }
    const byMessage = new Map<string, RecipientRow[]>();
    for (const r of rcpts) {
      const list = byMessage.get(r.message_id) ?? [];
      list.push(r);
      byMessage.set(r.message_id, list);
    }
    const undo = new Map(
      (this.db.prepare(`SELECT message_id AS id, undo_until AS until FROM drafts WHERE message_id IN (${placeholders})`).all(...ids) as { id: string; until: number }[]).map((r) => [r.id, r.until]),
    );
    return rows.map((m) => ({
      id: m.id,
      createdAt: m.created_at,
      mailFrom: m.mail_from,
      fromHeader: m.from_header,
      subject: m.subject,
      size: m.size,
      tlsMode: m.tls_mode,
      recipients: (byMessage.get(m.id) ?? []).map(toRecipient),
      unencrypted: unencrypted.has(m.id),
      recipientTls: pickRecipientTls(tlsByMessage.get(m.id) ?? []),
      undoUntil: undo.get(m.id) ?? null,
    }));
  }

  /** Messages with a recipient still to be delivered (queued, sending, deferred or held). */
  countUnsentMessages(): number {
    return (
      this.db
        .prepare("SELECT count(DISTINCT message_id) AS n FROM recipients WHERE state IN ('queued', 'sending', 'deferred', 'held')")
        .get() as { n: number }
    ).n;
  }

  /** Messages with a failure the user has not looked at yet (an unseen failure notice). */
  countUnseenFailedMessages(): number {
    return this.db.prepare("SELECT count(DISTINCT message_id) FROM notices WHERE kind = 'failure' AND seen = 0").pluck().get() as number;
  }

  addEvent(messageId: string, recipientId: number | null, at: number, kind: string, detail = ''): void {
    this.statement('INSERT INTO message_events (message_id, recipient_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)').run(messageId, recipientId, at, kind, detail);
  }

  // ---- recipients seen (address suggestions) ---------------------------------------------

  /**
   * Mailboxes sent to whose address, domain or a word of whose name starts with `prefix`
   * (case-insensitive), most recently used first, at most `limit`. Ranking is the caller's.
   */
  recipientHistory(prefix: string, limit: number): RecipientHistoryRow[] {
    const p = `${prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    return this.db
      .prepare(
        `SELECT * FROM recipient_history
         WHERE address LIKE @p ESCAPE '\\' OR lower(display) LIKE @p ESCAPE '\\'
            OR substr(address, instr(address, '@') + 1) LIKE @p ESCAPE '\\'
            OR lower(name) LIKE @p ESCAPE '\\' OR lower(name) LIKE '% ' || @p ESCAPE '\\'
         ORDER BY last_used DESC LIMIT @limit`,
      )
      .all({ p, limit }) as RecipientHistoryRow[];
  }

  /** Removes a mailbox from the suggestions (it comes back when mail is sent to it again). */
  forgetRecipient(address: string): boolean {
    return this.db.prepare('DELETE FROM recipient_history WHERE address = ?').run(address.toLowerCase()).changes > 0;
  }

  // ---- attempts -------------------------------------------------------------------------

  attemptsOf(messageId: string): Attempt[] {
    const rows = this.db
      .prepare('SELECT * FROM attempts WHERE message_id = ? ORDER BY started_at, id')
      .all(messageId) as AttemptRow[];
    return this.withResults(rows);
  }

  listAttempts(q: { messageId?: string | undefined; recipientId?: number | undefined; since?: number | undefined; until?: number | undefined; offset?: number; limit?: number }) {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (q.messageId) (where.push('message_id = @messageId'), (params.messageId = q.messageId));
    if (q.recipientId !== undefined) {
      where.push('id IN (SELECT attempt_id FROM attempt_results WHERE recipient_id = @recipientId)');
      params.recipientId = q.recipientId;
    }
    if (q.since !== undefined) (where.push('started_at >= @since'), (params.since = q.since));
    if (q.until !== undefined) (where.push('started_at < @until'), (params.until = q.until));
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT count(*) AS n FROM attempts ${whereSql}`).get(params) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT * FROM attempts ${whereSql} ORDER BY started_at DESC, id DESC LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit: q.limit ?? 200, offset: q.offset ?? 0 }) as AttemptRow[];
    return { total, items: this.withResults(rows) };
  }

  private withResults(rows: AttemptRow[]): Attempt[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const results = this.db
      .prepare(
        `SELECT attempt_id, recipient_id, status, code, enhanced_code, reply FROM attempt_results
         WHERE attempt_id IN (${ids.map(() => '?').join(',')})`,
      )
      .all(...ids) as { attempt_id: number; recipient_id: number; status: Attempt['results'][number]['status']; code: number | null; enhanced_code: string | null; reply: string | null }[];
    const byAttempt = new Map<number, Attempt['results']>();
    for (const r of results) {
      const list = byAttempt.get(r.attempt_id) ?? [];
      list.push({ recipientId: r.recipient_id, status: r.status, code: r.code, enhancedCode: r.enhanced_code, reply: r.reply });
      byAttempt.set(r.attempt_id, list);
    }
    return rows.map((r) => toAttempt(r, byAttempt.get(r.id) ?? []));
  }

  // ---- settings -------------------------------------------------------------------------

  getSettings(): Settings {
    return this.loadSettings().settings;
  }

  /** The settings, each stored value checked on its own (shared/settings.ts), and what was ignored. */
  loadSettings(): { settings: Settings; ignored: IgnoredSetting[] } {
    const rows = this.statement('SELECT key, value FROM settings').all() as { key: string; value: string }[];
    return settingsFromStored(new Map(rows.map((r) => [r.key, r.value])));
  }

  setSettings(patch: Partial<Settings>): Settings {
    const next = SettingsSchema.parse({ ...this.getSettings(), ...patch });
    const put = this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.db.transaction(() => {
      for (const k of Object.keys(patch)) put.run(k, JSON.stringify(next[k as keyof Settings]));
    })();
    return next;
  }

  // ---- drafts ---------------------------------------------------------------------------

  // A draft kept beside a message in its undo window (message_id set) is not a draft the user
  // edits: it is not listed, saved over or deleted here, only loaded (core/undo-send.ts).

  /** Saves (creates or replaces) a draft; false, with nothing written, when `id` is a kept copy. */
  saveDraft(id: string, draft: LocalDraft, at: number): boolean {
    return (
      this.db
        .prepare(
          `INSERT INTO drafts (id, updated_at, data) VALUES (?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data WHERE drafts.message_id IS NULL`,
        )
        .run(id, at, JSON.stringify({ ...draft, id })).changes > 0
    );
  }

  listDrafts(): DraftSummary[] {
    const rows = this.db.prepare('SELECT id, updated_at, data FROM drafts WHERE message_id IS NULL ORDER BY updated_at DESC').all() as { id: string; updated_at: number; data: string }[];
    return rows.map((r) => {
      const d = JSON.parse(r.data) as Partial<LocalDraft>;
      return { id: r.id, updatedAt: r.updated_at, subject: d.subject ?? '', to: d.to ?? [] };
    });
  }

  loadDraft(id: string): LocalDraft | undefined {
    const row = this.db.prepare('SELECT data FROM drafts WHERE id = ?').get(id) as { data: string } | undefined;
    return row ? DraftSchema.parse(JSON.parse(row.data)) : undefined;
  }

  deleteDraft(id: string): boolean {
    return this.db.prepare('DELETE FROM drafts WHERE id = ? AND message_id IS NULL').run(id).changes > 0;
  }

  // ---- undo send (the rules are in core/undo-send.ts) -------------------------------------

  /** The draft kept beside a message in its undo window. */
  undoDraftOf(messageId: string): { id: string; until: number } | undefined {
    return this.statement('SELECT id, undo_until AS until FROM drafts WHERE message_id = ?').get(messageId) as { id: string; until: number } | undefined;
  }

  /** Makes the kept copy an ordinary draft again (Undo). */
  releaseUndoDraft(id: string, at: number): void {
    this.statement('UPDATE drafts SET message_id = NULL, undo_until = NULL, updated_at = ? WHERE id = ?').run(at, id);
  }

  /** Deletes the kept copies whose window ended at or before `now`; returns how many. */
  deleteExpiredUndoDrafts(now: number): number {
    return this.statement('DELETE FROM drafts WHERE undo_until IS NOT NULL AND undo_until <= ?').run(now).changes;
  }

  /** When the next undo window ends, or null. */
  nextUndoExpiry(): number | null {
    return (this.statement('SELECT min(undo_until) AS at FROM drafts WHERE undo_until IS NOT NULL').get() as { at: number | null }).at;
  }

  /**
   * Removes a message and everything recorded of it, inside the caller's transaction
   * (PendingFeed.atomically): its pending recipients leave the queue's due set at the commit.
   * The caller removes the files after the commit.
   */
  deleteMessageRows(messageId: string): void {
    const pending = this.statement("SELECT id, domain FROM recipients WHERE message_id = ? AND state IN ('queued', 'deferred')").all(messageId) as { id: number; domain: string }[];
    this.pending.report(pending.map((r) => ({ id: r.id, messageId, domain: r.domain, at: null })));
    this.statement('DELETE FROM messages WHERE id = ?').run(messageId);
  }

  // ---- identities -----------------------------------------------------------------------
  // Data access only; the rules (defaults, keys, records) are in core/identities.ts.

  listIdentities(): StoredIdentity[] {
    const rows = this.statement('SELECT * FROM identities ORDER BY is_default DESC, id').all() as IdentityRow[];
    const keys = this.statement('SELECT * FROM dkim_keys').all() as DkimKeyRow[];
    return rows.map((r) => toStoredIdentity(r, keys));
  }

  getIdentity(id: number): StoredIdentity | undefined {
    const row = this.db.prepare('SELECT * FROM identities WHERE id = ?').get(id) as IdentityRow | undefined;
    if (!row) return undefined;
    return toStoredIdentity(row, this.db.prepare('SELECT * FROM dkim_keys WHERE identity_id = ?').all(id) as DkimKeyRow[]);
  }

  /** Inserts the identity and its keys in one transaction; returns its id. */
  insertIdentity(i: IdentityInput, at: number): number {
    return this.db.transaction(() => {
      if (i.isDefault) this.db.prepare('UPDATE identities SET is_default = 0').run();
      const info = this.db
        .prepare('INSERT INTO identities (address, display_name, signature, is_default, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(i.address, i.displayName, i.signature ?? '', i.isDefault ? 1 : 0, at);
      const id = Number(info.lastInsertRowid);
      for (const k of i.keys ?? []) this.#putKey(id, k, at);
      return id;
    }).immediate();
  }

  updateIdentity(id: number, patch: { displayName?: string | undefined; signature?: string | undefined; isDefault?: boolean | undefined }): boolean {
    return this.db.transaction(() => {
      if (!this.getIdentity(id)) return false;
      if (patch.displayName !== undefined) this.db.prepare('UPDATE identities SET display_name = ? WHERE id = ?').run(patch.displayName, id);
      if (patch.signature !== undefined) this.db.prepare('UPDATE identities SET signature = ? WHERE id = ?').run(patch.signature, id);
      if (patch.isDefault) {
        this.db.prepare('UPDATE identities SET is_default = 0').run();
        this.db.prepare('UPDATE identities SET is_default = 1 WHERE id = ?').run(id);
      } else if (patch.isDefault === false) {
        this.db.prepare('UPDATE identities SET is_default = 0 WHERE id = ?').run(id);
      }
      return true;
    }).immediate();
  }

  /**
   * Replaces the identity's DKIM keys: with `replaceAll`, every key goes and `keys` are the new
   * set; otherwise only the keys of the given algorithms are replaced.
   */
  setIdentityKeys(id: number, keys: StoredDkimKey[], at: number, replaceAll: boolean): boolean {
    return this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM identities WHERE id = ?').get(id)) return false;
      if (replaceAll) this.db.prepare('DELETE FROM dkim_keys WHERE identity_id = ?').run(id);
      for (const k of keys) this.#putKey(id, k, at);
      return true;
    }).immediate();
  }

  #putKey(id: number, k: StoredDkimKey, at: number): void {
    this.db
      .prepare(
        `INSERT INTO dkim_keys (identity_id, algorithm, selector, private_key, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(identity_id, algorithm) DO UPDATE SET selector = excluded.selector, private_key = excluded.private_key,
           public_key = excluded.public_key, created_at = excluded.created_at`,
      )
      .run(id, k.algorithm, k.selector, k.privateKey, k.publicKey, at);
  }

  deleteIdentity(id: number): boolean {
    return this.db.prepare('DELETE FROM identities WHERE id = ?').run(id).changes === 1;
  }

  // ---- notices (rules §10) ---------------------------------------------------------------

  listNotices(limit: number, unseenOnly = false): Notice[] {
    const rows = this.db.prepare(`SELECT * FROM notices ${unseenOnly ? 'WHERE seen = 0' : ''} ORDER BY at DESC, id DESC LIMIT ?`).all(limit) as {
      id: number; message_id: string; recipient_id: number | null; kind: Notice['kind']; at: number; text: string; seen: number;
    }[];
    return rows.map((r) => ({ id: r.id, messageId: r.message_id, recipientId: r.recipient_id, kind: r.kind, at: r.at, text: r.text, seen: r.seen === 1 }));
  }

  /** Marks notices seen; returns the ids that were unseen until now. */
  markNoticesSeen(ids: number[]): number[] {
    const upd = this.db.prepare('UPDATE notices SET seen = 1 WHERE id = ? AND seen = 0');
    return this.db.transaction(() => ids.filter((id) => upd.run(id).changes === 1))();
  }

  // ---- recipient-domain TLS hints (rules §11) --------------------------------------------

  upsertDomainTls(h: DomainTlsHint): void {
    this
      .statement(
        `INSERT INTO recipient_domain_tls (domain, starttls, requiretls, mta_sts_mode, dane, seen_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(domain) DO UPDATE SET starttls = excluded.starttls, requiretls = excluded.requiretls,
           mta_sts_mode = excluded.mta_sts_mode, dane = excluded.dane, seen_at = excluded.seen_at`,
      )
      .run(h.domain.toLowerCase(), h.starttls ? 1 : 0, h.requiretls ? 1 : 0, h.mtaStsMode, h.dane ? 1 : 0, h.seenAt);
  }

  domainHints(domains: string[]): DomainTlsHint[] {
    const unique = [...new Set(domains.map((d) => d.toLowerCase()))];
    if (unique.length === 0) return [];
    return (
      this.db
        .prepare(`SELECT * FROM recipient_domain_tls WHERE domain IN (${unique.map(() => '?').join(',')})`)
        .all(...unique) as DomainTlsRow[]
    ).map(toHint);
  }
}

/** Up to this many matches, a filtered page is read from the matches and sorted; above, along
 *  the list's index (messages_list), newest first, until the page is full. */
export const SORT_MATCHES_MAX = 2000;

/**
 * The outbox list's queries (Store.listMessages), decided here only: the filters (a recipient's
 * state, a recipient's domain, text), the count of all matches, and the page in list order.
 * - Count: one recipient filter alone counts distinct messages straight from its covering
 *   index (recipients_state_message / recipients_domain_message), without visiting messages.
 * - Page: SQLite would drive a filtered query from the matching ids and sort them all, which
 *   at 100k matches costs more than the whole list; so when the count says the matches are
 *   many, the page walks messages_list in order and stops at the page's end (the matches are
 *   dense, so that is short), and when they are few it reads and sorts just them.
 */
export function messageListSql(q: MessageQuery): { count: string; page: (total: number) => string; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (q.status) {
    // IN (subquery) lets SQLite walk the recipients index once instead of probing per message.
    where.push('m.id IN (SELECT message_id FROM recipients WHERE state = @status)');
    params.status = q.status;
  }
  if (q.domain) {
    where.push('m.id IN (SELECT message_id FROM recipients WHERE domain = @domain)');
    params.domain = q.domain.toLowerCase();
  }
  if (q.text) {
    const t = textFilter(q.text);
    where.push(t.sql);
    params.text = t.param;
  }
  const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
  let count = `SELECT count(*) AS n FROM messages m ${whereSql}`;
  if (!q.text && (q.status ? !q.domain : q.domain)) {
    count = `SELECT count(DISTINCT message_id) AS n FROM recipients WHERE ${q.status ? 'state = @status' : 'domain = @domain'}`;
  }
  const order = q.sort === 'oldest' ? 'ASC' : 'DESC';
  const page = (total: number) =>
    `SELECT m.* FROM messages m ${where.length && total > SORT_MATCHES_MAX ? 'INDEXED BY messages_list' : ''} ${whereSql}
     ORDER BY m.created_at ${order}, m.id ${order} LIMIT @limit OFFSET @offset`;
  return { count, page, params };
}

/**
 * The outbox list's text search: messages whose subject, From or one recipient address contains
 * `text`, case-insensitively. Three characters or more go through the FTS5 trigram indexes
 * (migration 9): a phrase of trigrams is a substring match, the same rows as the LIKE scan
 * (except that non-ASCII letters match across case too, where LIKE folded ASCII only), and the
 * phrase is one quoted FTS5 string, so no character the user types (", *, :, (, AND, NEAR…) is query syntax.
 * Shorter searches have no trigram to look up and keep the LIKE scan, which gives the same rows;
 * so does text with a NUL, which would end FTS5's query string early.
 */
export function textFilter(text: string): { sql: string; param: string } {
  if ([...text].length >= 3 && !text.includes('\u0000')) {
    return {
      sql: `(m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH @text)
        OR m.id IN (SELECT r.message_id FROM recipients r WHERE r.id IN (SELECT rowid FROM recipients_fts WHERE recipients_fts MATCH @text)))`,
      param: `"${text.replaceAll('"', '""')}"`,
    };
  }
  return {
    sql: `(m.subject LIKE @text ESCAPE '\\' OR m.from_header LIKE @text ESCAPE '\\'
        OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.address LIKE @text ESCAPE '\\'))`,
    param: `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
  };
}
