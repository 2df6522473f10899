/**
 * Versioned schema migrations. The version lives in SQLite's `user_version`; each migration
 * runs in its own transaction together with the version bump, so a crash mid-migration leaves
 * the previous version intact and the next open simply runs it again. Migrations are
 * append-only: a shipped migration is never edited, only followed by a new one.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  up(db: Database): void;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'queue, attempts, policies, identities, settings',
    up(db) {
      db.exec(`
        CREATE TABLE messages (
          id            TEXT PRIMARY KEY,
          created_at    INTEGER NOT NULL,
          mail_from     TEXT NOT NULL,          -- envelope sender, A-label domain
          from_header   TEXT NOT NULL,          -- display form of From:
          subject       TEXT NOT NULL DEFAULT '',
          message_id_header TEXT,
          size          INTEGER NOT NULL,
          raw_path      TEXT NOT NULL,          -- relative to the data dir; the bytes sent on the wire
          tls_mode      TEXT NOT NULL DEFAULT 'default'
                        CHECK (tls_mode IN ('default', 'requiretls', 'tls-optional')),
          eight_bit     INTEGER NOT NULL DEFAULT 0,
          smtputf8      INTEGER NOT NULL DEFAULT 0,
          identity_id   INTEGER REFERENCES identities(id) ON DELETE SET NULL
        );
        CREATE INDEX messages_created ON messages(created_at);

        CREATE TABLE recipients (
          id              INTEGER PRIMARY KEY,
          message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
          address         TEXT NOT NULL,        -- as the user wrote it (U-label domain)
          envelope        TEXT NOT NULL,        -- local@A-label, used on the wire
          domain          TEXT NOT NULL,        -- A-label, lower case
          kind            TEXT NOT NULL DEFAULT 'to' CHECK (kind IN ('to', 'cc', 'bcc')),
          state           TEXT NOT NULL DEFAULT 'queued'
                          CHECK (state IN ('queued', 'sending', 'delivered', 'deferred', 'failed', 'held', 'canceled')),
          attempts        INTEGER NOT NULL DEFAULT 0,
          next_attempt_at INTEGER,              -- ms epoch; NULL when not scheduled
          last_attempt_at INTEGER,
          last_code       INTEGER,
          last_enhanced   TEXT,
          last_reply      TEXT,
          last_host       TEXT,
          last_error_code TEXT,
          dialed_ips      TEXT NOT NULL DEFAULT '[]', -- JSON: IPs tried, so retries rotate (rules §1)
          updated_at      INTEGER NOT NULL
        );
        CREATE INDEX recipients_message ON recipients(message_id);
        CREATE INDEX recipients_due ON recipients(state, next_attempt_at);
        CREATE INDEX recipients_domain ON recipients(domain);

        CREATE TABLE attempts (
          id               INTEGER PRIMARY KEY,
          message_id       TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
          started_at       INTEGER NOT NULL,
          duration_ms      INTEGER NOT NULL DEFAULT 0,
          domain           TEXT NOT NULL,
          host             TEXT,
          ip               TEXT,
          port             INTEGER,
          stage            TEXT,
          starttls         INTEGER NOT NULL DEFAULT 0,
          tls_version      TEXT,
          tls_cipher       TEXT,
          cert_fingerprint TEXT,               -- SHA-256 of the peer's leaf certificate
          verification     TEXT CHECK (verification IN ('dane-ee', 'dane-ta', 'pkix', 'none')),
          verification_reason TEXT,
          mta_sts_mode     TEXT,               -- enforce | testing | none | NULL (no policy)
          dane             INTEGER NOT NULL DEFAULT 0,
          requiretls       INTEGER NOT NULL DEFAULT 0,
          plaintext_fallback INTEGER NOT NULL DEFAULT 0,
          tlsrpt_policy    TEXT,               -- sts | tlsa | no-policy-found (RFC 8460 §4.3)
          tlsrpt_failure   TEXT,
          code             INTEGER,
          enhanced_code    TEXT,
          reply            TEXT,
          error_code       TEXT,
          permanent        INTEGER NOT NULL DEFAULT 0,
          transcript       TEXT NOT NULL DEFAULT '[]' -- JSON lines of the session, never the body
        );
        CREATE INDEX attempts_message ON attempts(message_id);
        CREATE INDEX attempts_started ON attempts(started_at);

        -- Per-recipient outcome of one attempt: one transaction carries many recipients (rules §8).
        CREATE TABLE attempt_results (
          attempt_id    INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
          recipient_id  INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,
          status        TEXT NOT NULL CHECK (status IN ('delivered', 'deferred', 'failed', 'not-attempted')),
          code          INTEGER,
          enhanced_code TEXT,
          reply         TEXT,
          PRIMARY KEY (attempt_id, recipient_id)
        );
        CREATE INDEX attempt_results_recipient ON attempt_results(recipient_id);

        CREATE TABLE recipient_domain_tls (
          domain      TEXT PRIMARY KEY,         -- A-label
          starttls    INTEGER NOT NULL,
          requiretls  INTEGER NOT NULL,
          mta_sts_mode TEXT,
          dane        INTEGER NOT NULL DEFAULT 0,
          seen_at     INTEGER NOT NULL
        );

        CREATE TABLE mtasts_policies (
          domain        TEXT PRIMARY KEY,
          policy_id     TEXT,
          mode          TEXT,
          mx            TEXT NOT NULL DEFAULT '[]',
          max_age       INTEGER,
          policy_text   TEXT,
          fetched_at    INTEGER,
          expires_at    INTEGER,
          last_failure_at INTEGER,
          last_failure  TEXT
        );

        CREATE TABLE identities (
          id            INTEGER PRIMARY KEY,
          address       TEXT NOT NULL,
          display_name  TEXT NOT NULL DEFAULT '',
          dkim_selector TEXT,
          dkim_algorithm TEXT CHECK (dkim_algorithm IN ('rsa-sha256', 'ed25519-sha256')),
          dkim_private_key TEXT,
          dkim_public_key  TEXT,
          is_default    INTEGER NOT NULL DEFAULT 0,
          created_at    INTEGER NOT NULL
        );

        CREATE TABLE settings (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL                   -- JSON
        );
      `);
    },
  },
  {
    version: 2,
    name: 'message history, notices, drafts',
    up(db) {
      db.exec(`
        -- What happened to a message besides attempts: user actions, TLS mode changes, restarts.
        CREATE TABLE message_events (
          id           INTEGER PRIMARY KEY,
          message_id   TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
          recipient_id INTEGER REFERENCES recipients(id) ON DELETE CASCADE,
          at           INTEGER NOT NULL,
          kind         TEXT NOT NULL,
          detail       TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX message_events_message ON message_events(message_id, at);

        -- Local DSN-like notices (rules §10): delay and failure.
        CREATE TABLE notices (
          id           INTEGER PRIMARY KEY,
          message_id   TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
          recipient_id INTEGER REFERENCES recipients(id) ON DELETE CASCADE,
          kind         TEXT NOT NULL CHECK (kind IN ('delay', 'failure')),
          at           INTEGER NOT NULL,
          text         TEXT NOT NULL,
          seen         INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX notices_at ON notices(at);

        ALTER TABLE recipients ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;

        CREATE TABLE drafts (
          id         TEXT PRIMARY KEY,
          updated_at INTEGER NOT NULL,
          data       TEXT NOT NULL              -- JSON of the Draft
        );
      `);
    },
  },
  {
    version: 3,
    name: 'index of pending recipients by due time',
    up(db) {
      // The queue asks "what is due next?" after every delivery. A partial index over only the
      // waiting recipients answers in O(log n) and in due order, however large the history.
      db.exec(`
        CREATE INDEX recipients_pending ON recipients(next_attempt_at) WHERE state IN ('queued', 'deferred');
        ANALYZE;
      `);
    },
  },
  {
    version: 4,
    name: 'DKIM keys: several per identity (RSA and Ed25519, dual signing)',
    up(db) {
      // RFC 8463 §4 recommends signing with both an RSA and an Ed25519 key: one row per key.
      // Existing single keys move over; the old columns go so no private key is kept twice.
      db.exec(`
        CREATE TABLE dkim_keys (
          identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
          algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
          selector    TEXT NOT NULL,
          private_key TEXT NOT NULL,
          public_key  TEXT NOT NULL,
          created_at  INTEGER NOT NULL,
          PRIMARY KEY (identity_id, algorithm)
        );
        INSERT INTO dkim_keys (identity_id, algorithm, selector, private_key, public_key, created_at)
          SELECT id, dkim_algorithm, dkim_selector, dkim_private_key, dkim_public_key, created_at FROM identities
          WHERE dkim_algorithm IS NOT NULL AND dkim_selector IS NOT NULL AND dkim_private_key IS NOT NULL AND dkim_public_key IS NOT NULL;
        ALTER TABLE identities DROP COLUMN dkim_selector;
        ALTER TABLE identities DROP COLUMN dkim_algorithm;
        ALTER TABLE identities DROP COLUMN dkim_private_key;
        ALTER TABLE identities DROP COLUMN dkim_public_key;
      `);
    },
  },
  {
    version: 5,
    name: 'suppression list, hold rules, indexes for history retention',
    up(db) {
      db.exec(`
        -- Addresses that fail at once without a connection (rules §15). identity_id NULL: for
        -- every identity. message_id names the failure that added an automatic entry; no
        -- foreign key, so history retention can remove the message and keep the entry.
        CREATE TABLE suppressions (
          id            INTEGER PRIMARY KEY,
          address       TEXT NOT NULL,          -- envelope form (local@A-label), lower case
          identity_id   INTEGER REFERENCES identities(id) ON DELETE CASCADE,
          source        TEXT NOT NULL CHECK (source IN ('auto', 'manual')),
          reason        TEXT NOT NULL,
          reply         TEXT,                   -- the server's reply that added it (auto)
          code          INTEGER,
          enhanced_code TEXT,
          message_id    TEXT,
          created_at    INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX suppressions_scope ON suppressions(address, coalesce(identity_id, 0));

        -- Hold rules (rules §15): NULL criterion = any. A rule with neither is "pause sending".
        CREATE TABLE hold_rules (
          id         INTEGER PRIMARY KEY,
          sender     TEXT,                      -- address or domain, envelope form, lower case
          recipient  TEXT,
          created_at INTEGER NOT NULL
        );
        -- Which rule holds a recipient (NULL: held by the user, or not held).
        ALTER TABLE recipients ADD COLUMN held_by_rule INTEGER;
        CREATE INDEX recipients_held_by_rule ON recipients(held_by_rule) WHERE held_by_rule IS NOT NULL;

        -- Deleting old messages cascades to these through recipient_id / message_id: without
        -- an index each deleted row would scan the whole table (history retention, 1M rows).
        CREATE INDEX message_events_recipient ON message_events(recipient_id) WHERE recipient_id IS NOT NULL;
        CREATE INDEX notices_message ON notices(message_id);
        CREATE INDEX notices_recipient ON notices(recipient_id) WHERE recipient_id IS NOT NULL;
      `);
    },
  },
  {
    version: 6,
    name: 'outgoing TLS reports sent',
    up(db) {
      // RFC 8460: each day's report goes to each destination once; a failed one is retried.
      db.exec(`
        CREATE TABLE tls_report_sends (
          day           TEXT NOT NULL,           -- UTC day YYYY-MM-DD
          policy_domain TEXT NOT NULL,
          dane          INTEGER NOT NULL,
          destination   TEXT NOT NULL,           -- mailto:… or https://…
          at            INTEGER NOT NULL,
          ok            INTEGER NOT NULL,
          detail        TEXT NOT NULL DEFAULT '',
          PRIMARY KEY (day, policy_domain, dane, destination)
        );
      `);
    },
  },
  {
    version: 7,
    name: 'transports, routes, secrets; the transport and route of each attempt',
    up(db) {
      // Transports and routes (delivery-rules §13). A transport's password is never in these
      // tables: secret_ref names where it is (keychain:<id> in `secrets`, encrypted by the OS
      // keychain; env:<VAR>; file:<path>), resolved only when a connection needs it.
      db.exec(`
        CREATE TABLE transports (
          name        TEXT PRIMARY KEY,
          type        TEXT NOT NULL CHECK (type IN ('direct', 'direct-socks5', 'smarthost', 'submission')),
          host        TEXT,
          port        INTEGER,
          tls         TEXT CHECK (tls IN ('starttls', 'implicit')),
          tls_verify  TEXT NOT NULL DEFAULT 'pkix' CHECK (tls_verify IN ('pkix', 'none')),
          proxy       TEXT,
          user        TEXT,
          auth        TEXT,
          ip_family   TEXT NOT NULL DEFAULT 'both' CHECK (ip_family IN ('both', 'ipv4', 'ipv6')),
          secret_ref  TEXT,
          created_at  INTEGER NOT NULL
        );

        -- Ordered: the first matching route picks the transport; none matches → direct.
        CREATE TABLE routes (
          id               INTEGER PRIMARY KEY,
          position         INTEGER NOT NULL,
          transport        TEXT NOT NULL,
          recipient_domain TEXT,
          sender           TEXT,
          from_attempt     INTEGER,
          created_at       INTEGER NOT NULL
        );

        -- Secrets encrypted by the platform keychain (Electron safeStorage); opaque here.
        CREATE TABLE secrets (
          id         TEXT PRIMARY KEY,
          blob       BLOB NOT NULL,
          created_at INTEGER NOT NULL
        );

        ALTER TABLE attempts ADD COLUMN transport TEXT NOT NULL DEFAULT 'direct';
        ALTER TABLE attempts ADD COLUMN route_id INTEGER;
      `);
    },
  },
  {
    version: 8,
    name: 'SHA-256 of each queued message file',
    up(db) {
      // The queued file is the message: its digest, taken at enqueue, is checked while the
      // file is streamed to a server. NULL for messages queued before (their size is checked).
      db.exec('ALTER TABLE messages ADD COLUMN sha256 TEXT;');
    },
  },
  {
    version: 9,
    name: 'outbox list: indexes for its order and filters, FTS5 trigram index for its text search',
    up(db) {
      // The outbox list (Store.listMessages) pages messages newest first and filters by a
      // recipient's state or domain, or by text in subject, From or a recipient address. At a
      // million messages a scan costs seconds; these make each filter an index walk.
      // - messages_list: the page order (created_at, id) without a sort.
      // - recipients_state_message / recipients_domain_message: the filters' message ids from
      //   the index alone (the older indexes on state and domain need a table lookup per row).
      // - messages_fts / recipients_fts: external-content FTS5 tables (SQLite keeps only the
      //   index; the text stays in messages/recipients) with the trigram tokenizer, whose
      //   phrase queries are case-insensitive substring matches: the same rows as LIKE '%x%'
      //   for searches of three or more characters. Kept in sync by the triggers below, so
      //   every write path — insert, update, delete, retention's prune, ON DELETE CASCADE —
      //   updates them. messages has no INTEGER PRIMARY KEY, so its FTS rows are keyed by
      //   SQLite's rowid: a VACUUM may renumber rowids and must be followed by
      //   INSERT INTO messages_fts(messages_fts) VALUES('rebuild') (the app never VACUUMs).
      db.exec(`
        CREATE INDEX messages_list ON messages(created_at, id);
        CREATE INDEX recipients_state_message ON recipients(state, message_id);
        CREATE INDEX recipients_domain_message ON recipients(domain, message_id);

        CREATE VIRTUAL TABLE messages_fts USING fts5(subject, from_header, content='messages', tokenize='trigram');
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
          INSERT INTO messages_fts(rowid, subject, from_header) VALUES (new.rowid, new.subject, new.from_header);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
          INSERT INTO messages_fts(messages_fts, rowid, subject, from_header) VALUES ('delete', old.rowid, old.subject, old.from_header);
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, from_header ON messages BEGIN
          INSERT INTO messages_fts(messages_fts, rowid, subject, from_header) VALUES ('delete', old.rowid, old.subject, old.from_header);
          INSERT INTO messages_fts(rowid, subject, from_header) VALUES (new.rowid, new.subject, new.from_header);
        END;

        CREATE VIRTUAL TABLE recipients_fts USING fts5(address, content='recipients', content_rowid='id', tokenize='trigram');
        CREATE TRIGGER recipients_fts_insert AFTER INSERT ON recipients BEGIN
          INSERT INTO recipients_fts(rowid, address) VALUES (new.id, new.address);
        END;
        CREATE TRIGGER recipients_fts_delete AFTER DELETE ON recipients BEGIN
          INSERT INTO recipients_fts(recipients_fts, rowid, address) VALUES ('delete', old.id, old.address);
        END;
        CREATE TRIGGER recipients_fts_update AFTER UPDATE OF address ON recipients BEGIN
          INSERT INTO recipients_fts(recipients_fts, rowid, address) VALUES ('delete', old.id, old.address);
          INSERT INTO recipients_fts(rowid, address) VALUES (new.id, new.address);
        END;

        INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
        INSERT INTO recipients_fts(recipients_fts) VALUES ('rebuild');
      `);
    },
  },
  {
    version: 10,
    name: 'TLSRPT facts of each attempt at attempt time (RFC 8460 §4.4)',
    up(db) {
      // The policy in force (policy-string, mx-host; JSON arrays) and our own address on the
      // connection (sending-mta-ip), so a report built later says what applied then. NULL for
      // attempts recorded before.
      db.exec(`
        ALTER TABLE attempts ADD COLUMN tlsrpt_policy_string TEXT;
        ALTER TABLE attempts ADD COLUMN tlsrpt_mx_host TEXT;
        ALTER TABLE attempts ADD COLUMN local_ip TEXT;
      `);
    },
  },
  {
    version: 11,
    name: 'whether an attempt reused a kept session',
    up(db) {
      // Connection reuse: each attempt says whether its session was new or kept from an
      // earlier message, so the log stays truthful. Earlier attempts all opened their own.
      db.exec('ALTER TABLE attempts ADD COLUMN reused_session INTEGER NOT NULL DEFAULT 0;');
    },
  },
  {
    version: 12,
    name: 'signatures per identity; recipients seen, for address suggestions',
    up(db) {
      // One row per mailbox ever sent to, kept apart from the messages so that history
      // retention does not make the composer forget people. Seeded from the queue's history.
      db.exec(`
        ALTER TABLE identities ADD COLUMN signature TEXT NOT NULL DEFAULT '';

        CREATE TABLE recipient_history (
          address   TEXT PRIMARY KEY,           -- envelope form (local@A-label), lower case
          display   TEXT NOT NULL,              -- as last written (U-label domain)
          name      TEXT,                       -- the display name last used, if any
          uses      INTEGER NOT NULL,
          last_used INTEGER NOT NULL
        );
        INSERT INTO recipient_history (address, display, name, uses, last_used)
          SELECT lower(r.envelope), r.address, NULL, count(*), max(m.created_at)
          FROM recipients r JOIN messages m ON m.id = r.message_id
          GROUP BY lower(r.envelope);
      `);
    },
  },
  {
    version: 13,
    name: 'undo send: the compose draft kept beside a message in its undo window',
    up(db) {
      // A message sent with an undo window keeps a copy of its compose draft (the exact state:
      // recipients, rich text, identity, attachments' granted paths, TLS mode) linked to it until
      // the window ends (core/undo-send.ts). Undo unlinks the copy (it becomes a draft again) and
      // removes the message; a copy whose message is removed in any other way goes with it.
      db.exec(`
        ALTER TABLE drafts ADD COLUMN message_id TEXT REFERENCES messages(id) ON DELETE CASCADE;
        ALTER TABLE drafts ADD COLUMN undo_until INTEGER;
        CREATE INDEX drafts_undo ON drafts(message_id) WHERE message_id IS NOT NULL;
        CREATE INDEX drafts_undo_until ON drafts(undo_until) WHERE undo_until IS NOT NULL;
      `);
    },
  },
  {
    version: 14,
    name: 'whether an attempt resumed its TLS session',
    up(db) {
      // TLS session resumption (issue 14 item 3): a resumed session exchanged no certificate,
      // so the log says its verification is that of the full handshake it resumed.
      db.exec('ALTER TABLE attempts ADD COLUMN tls_resumed INTEGER NOT NULL DEFAULT 0;');
    },
  },
  {
    version: 15,
    name: 'the text-search index is filled in batches, not inside each enqueue',
    up(db) {
      // Issue 14 (enqueue p99): indexing one message's subject, From and recipient addresses
      // with the trigram tokenizer inside its own transaction cost ≈ 0.46 ms of CPU and 14 of
      // its ≈ 31 WAL pages at 100k messages (FTS5 writes a segment per transaction); in a
      // batch it costs ≈ 0.05 ms. So an insert only records its row in fts_backlog, in the
      // same transaction (nothing is lost with a crash: the backlog is as durable as the row),
      // and store/search-index.ts moves the backlog into messages_fts / recipients_fts in one
      // transaction: before every text search (so a search never misses a row), when the
      // writes pause, when the backlog grows long, and at start-up.
      // A row still in the backlog is not in the FTS index: deleting it must not issue an
      // FTS 'delete' (for an external-content table, deleting values that were never indexed
      // corrupts the index), and changing its text needs nothing (the batch reads the row as
      // it is then). A row already indexed keeps the triggers of migration 9.
      db.exec(`
        CREATE TABLE fts_backlog (
          kind TEXT NOT NULL CHECK (kind IN ('message', 'recipient')),
          id   INTEGER NOT NULL,            -- messages.rowid / recipients.id
          PRIMARY KEY (kind, id)
        ) WITHOUT ROWID;

        ${backlogTriggers('messages', 'message', 'rowid', ['subject', 'from_header'])}
        ${backlogTriggers('recipients', 'recipient', 'id', ['address'])}
      `);
    },
  },
];

export const latestVersion = migrations[migrations.length - 1]!.version;

/**
 * Migration 15's triggers of `table` (indexed in `table`_fts, keyed by `key`, over `columns`):
 * an insert goes to fts_backlog as `kind`; a delete or a change of an indexed row updates the
 * FTS index as before; a row still in the backlog needs neither.
 */
function backlogTriggers(table: string, kind: string, key: string, columns: string[]): string {
  const fts = `${table}_fts`;
  const cols = columns.join(', ');
  const old = columns.map((c) => `old.${c}`).join(', ');
  const inBacklog = `EXISTS (SELECT 1 FROM fts_backlog WHERE kind = '${kind}' AND id = old.${key})`;
  return `
    DROP TRIGGER ${fts}_insert;
    DROP TRIGGER ${fts}_delete;
    DROP TRIGGER ${fts}_update;
    CREATE TRIGGER ${fts}_insert AFTER INSERT ON ${table} BEGIN
      INSERT OR IGNORE INTO fts_backlog (kind, id) VALUES ('${kind}', new.${key});
    END;
    CREATE TRIGGER ${fts}_delete AFTER DELETE ON ${table} BEGIN
      INSERT INTO ${fts}(${fts}, rowid, ${cols}) SELECT 'delete', old.${key}, ${old} WHERE NOT ${inBacklog};
      DELETE FROM fts_backlog WHERE kind = '${kind}' AND id = old.${key};
    END;
    CREATE TRIGGER ${fts}_update AFTER UPDATE OF ${cols} ON ${table} WHEN NOT ${inBacklog} BEGIN
      INSERT INTO ${fts}(${fts}, rowid, ${cols}) VALUES ('delete', old.${key}, ${old});
      INSERT INTO ${fts}(rowid, ${cols}) VALUES (new.${key}, ${columns.map((c) => `new.${c}`).join(', ')});
    END;`;
}

/** Applies every migration newer than the database's user_version. Safe to call on every open. */
export function migrate(db: Database, upTo = latestVersion): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > latestVersion) {
    throw new Error(`database schema v${from} is newer than this app (v${latestVersion}); update Direct Outbox`);
  }
  for (const m of migrations) {
    if (m.version <= from || m.version > upTo) continue;
    db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return { from, to: db.pragma('user_version', { simple: true }) as number };
}
