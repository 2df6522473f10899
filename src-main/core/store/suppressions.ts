/**
 * The suppression list's SQL (rules §15). Addresses are kept in envelope form, lower case, one
 * entry per address and scope (one identity, or every identity when identity_id is NULL).
 */
import type { Suppression } from '../../../shared/domain';
import { addressKey, type SuppressionHit } from '../queue/admission';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db';

interface SuppressionRow {
  id: number;
  address: string;
  identity_id: number | null;
  source: Suppression['source'];
  reason: string;
  reply: string | null;
  code: number | null;
  enhanced_code: string | null;
  message_id: string | null;
  created_at: number;
}

const toSuppression = (r: SuppressionRow): Suppression => ({
  id: r.id,
  address: r.address,
  identityId: r.identity_id,
  source: r.source,
  reason: r.reason,
  reply: r.reply,
  code: r.code,
  enhancedCode: r.enhanced_code,
  messageId: r.message_id,
  createdAt: r.created_at,
});

export interface NewSuppression {
  address: string;
  identityId: number | null;
  source: Suppression['source'];
  reason: string;
  reply?: string | null;
  code?: number | null;
  enhancedCode?: string | null;
  messageId?: string | null;
}

export class SuppressionRepo {
  constructor(private readonly db: Db) {}

  list(): Suppression[] {
    return (this.db.prepare('SELECT * FROM suppressions ORDER BY created_at DESC, id DESC').all() as SuppressionRow[]).map(toSuppression);
  }

  /** Adds or refreshes the entry for this address and scope; returns it. */
  add(s: NewSuppression, at: number): Suppression {
    const address = addressKey(s.address);
    this.db
      .prepare(
        `INSERT INTO suppressions (address, identity_id, source, reason, reply, code, enhanced_code, message_id, created_at)
         VALUES (@address, @identityId, @source, @reason, @reply, @code, @enhancedCode, @messageId, @at)
         ON CONFLICT(address, coalesce(identity_id, 0)) DO UPDATE SET source = excluded.source, reason = excluded.reason,
           reply = excluded.reply, code = excluded.code, enhanced_code = excluded.enhanced_code,
           message_id = excluded.message_id, created_at = excluded.created_at`,
      )
      .run({ reply: null, code: null, enhancedCode: null, messageId: null, ...s, address, at });
    return toSuppression(
      this.db.prepare('SELECT * FROM suppressions WHERE address = ? AND coalesce(identity_id, 0) = coalesce(?, 0)').get(address, s.identityId) as SuppressionRow,
    );
  }

  /** Removes the address's entries (every scope, or one identity's / the global one); returns how many. */
  remove(address: string, identityId?: number | null): number {
    const key = addressKey(address);
    return identityId === undefined
      ? this.db.prepare('DELETE FROM suppressions WHERE address = ?').run(key).changes
      : this.db.prepare('DELETE FROM suppressions WHERE address = ? AND coalesce(identity_id, 0) = coalesce(?, 0)').run(key, identityId).changes;
  }

  /** The entry that stops mail from this identity (or from anyone) to this address. */
  lookup(envelope: string, identityId: number | null): SuppressionHit | undefined {
    // Asked for every recipient at enqueue: prepared once.
    this.#lookup ??= this.db.prepare('SELECT id, reason FROM suppressions WHERE address = ? AND (identity_id IS NULL OR identity_id = ?) ORDER BY identity_id IS NULL LIMIT 1');
    return this.#lookup.get(addressKey(envelope), identityId) as { id: number; reason: string } | undefined;
  }

  #lookup: Statement | undefined;
}
