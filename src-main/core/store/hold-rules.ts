/**
 * Hold rules' SQL (rules §15). Adding a rule holds the waiting recipients it matches at once
 * (pause means pause); removing it releases exactly the recipients it held — unless another
 * rule still matches them, which then holds them instead. A recipient the user held by hand
 * (held_by_rule NULL) is never released by a rule change.
 */
import type { HoldRule as HoldRuleInfo } from '../../../shared/domain';
import { matchingHoldRule, type HoldCriteria, type HoldRule } from '../queue/admission';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db';
import type { PendingFeed } from './pending-feed';

interface RuleRow {
  id: number;
  sender: string | null;
  recipient: string | null;
  created_at: number;
}

const toRule = (r: RuleRow): HoldRule => ({ id: r.id, sender: r.sender, recipient: r.recipient, createdAt: r.created_at });

interface Candidate {
  id: number;
  message_id: string;
  domain: string;
  envelope: string;
  mail_from: string;
}

export class HoldRuleRepo {
  constructor(
    private readonly db: Db,
    private readonly pending: PendingFeed,
  ) {}

  /** Asked at every enqueue and deferred result: prepared once. */
  #rules: Statement | undefined;

  rules(): HoldRule[] {
    this.#rules ??= this.db.prepare('SELECT * FROM hold_rules ORDER BY id');
    return (this.#rules.all() as RuleRow[]).map(toRule);
  }

  list(): HoldRuleInfo[] {
    const counts = new Map(
      (this.db.prepare("SELECT held_by_rule AS id, count(*) AS n FROM recipients WHERE held_by_rule IS NOT NULL AND state = 'held' GROUP BY held_by_rule").all() as { id: number; n: number }[]).map((r) => [r.id, r.n]),
    );
    return this.rules().map((r) => ({ ...r, held: counts.get(r.id) ?? 0 }));
  }

  /** Adds a rule and holds the waiting recipients it matches; returns the rule and them. */
  add(c: HoldCriteria, at: number): { rule: HoldRule; held: Candidate[] } {
    return this.pending.atomically(() => {
      const id = Number(this.db.prepare('INSERT INTO hold_rules (sender, recipient, created_at) VALUES (?, ?, ?)').run(c.sender, c.recipient, at).lastInsertRowid);
      const rule: HoldRule = { id, ...c, createdAt: at };
      const waiting = this.db
        .prepare(
          `SELECT r.id, r.message_id, r.domain, r.envelope, m.mail_from FROM recipients r JOIN messages m ON m.id = r.message_id
           WHERE r.state IN ('queued', 'deferred')`,
        )
        .all() as Candidate[];
      const held = waiting.filter((r) => matchingHoldRule([rule], r.mail_from, r.envelope));
      this.#hold(held, id, at);
      return { rule, held };
    });
  }

  /** Removes a rule; the recipients it held are released (or held by another matching rule). */
  remove(id: number, now: number): { removed: boolean; released: Candidate[] } {
    return this.pending.atomically(() => {
      if (this.db.prepare('DELETE FROM hold_rules WHERE id = ?').run(id).changes === 0) return { removed: false, released: [] };
      const rules = this.rules();
      const held = this.db
        .prepare(
          `SELECT r.id, r.message_id, r.domain, r.envelope, m.mail_from FROM recipients r JOIN messages m ON m.id = r.message_id
           WHERE r.held_by_rule = ? AND r.state = 'held'`,
        )
        .all(id) as Candidate[];
      const released: Candidate[] = [];
      const rehold = this.db.prepare('UPDATE recipients SET held_by_rule = ?, updated_at = ? WHERE id = ?');
      const release = this.db.prepare("UPDATE recipients SET state = 'queued', held_by_rule = NULL, next_attempt_at = ?, updated_at = ? WHERE id = ?");
      for (const r of held) {
        const other = matchingHoldRule(rules, r.mail_from, r.envelope);
        if (other) rehold.run(other.id, now, r.id);
        else {
          release.run(now, now, r.id);
          released.push(r);
          this.pending.report({ id: r.id, messageId: r.message_id, domain: r.domain, at: now });
        }
      }
      // A rule that is gone holds nothing (recipients resumed by hand keep no stale reference).
      this.db.prepare("UPDATE recipients SET held_by_rule = NULL WHERE held_by_rule = ? AND state != 'held'").run(id);
      return { removed: true, released };
    });
  }

  /** Holds those of `recipientIds` now deferred that a rule matches (a retry re-enters the queue). */
  holdDeferred(recipientIds: number[], now: number): number[] {
    if (recipientIds.length === 0) return [];
    const rules = this.rules();
    if (rules.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT r.id, r.message_id, r.domain, r.envelope, m.mail_from FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.state = 'deferred' AND r.id IN (${recipientIds.map(() => '?').join(',')})`,
      )
      .all(...recipientIds) as Candidate[];
    const out: number[] = [];
    for (const r of rows) {
      const rule = matchingHoldRule(rules, r.mail_from, r.envelope);
      if (rule) {
        this.#hold([r], rule.id, now);
        out.push(r.id);
      }
    }
    return out;
  }

  #hold(rows: Candidate[], ruleId: number, at: number): void {
    const upd = this.db.prepare("UPDATE recipients SET state = 'held', held_by_rule = ?, next_attempt_at = NULL, updated_at = ? WHERE id = ? AND state IN ('queued', 'deferred')");
    const ev = this.db.prepare("INSERT INTO message_events (message_id, recipient_id, at, kind, detail) VALUES (?, ?, ?, 'held', ?)");
    for (const r of rows) {
      if (upd.run(ruleId, at, r.id).changes === 1) {
        ev.run(r.message_id, r.id, at, `by hold rule ${ruleId}`);
        this.pending.report({ id: r.id, messageId: r.message_id, domain: r.domain, at: null });
      }
    }
  }
}
