/**
 * The queue features a sending MTA gives its user (rules §15), as operations on the running
 * outbox: the suppression list and hold rules / pause. Each change is one store transaction;
 * then the queue is woken and the renderer told which recipients changed, so the app, the CLI
 * and the tray all go through the same few functions.
 */
import type { HoldRule, Suppression } from '../../shared/domain';
import { parseDomain, parseMailbox } from './compose/address';
import type { Clock } from './clock';
import type { EventBatcher } from './events';
import { isPauseRule, normalizeCriterion } from './queue/admission';
import type { Queue } from './queue/queue';
import type { Store } from './store/store';

export class QueueFeatureError extends Error {
  constructor(
    readonly code: 'VALIDATION' | 'NOT_FOUND',
    message: string,
  ) {
    super(message);
  }
}

const parsers = {
  mailbox(s: string) {
    const r = parseMailbox(s);
    return r.ok ? { ok: true as const, envelope: r.value.envelope } : { ok: false as const, message: r.error.message };
  },
  domain(s: string) {
    const r = parseDomain(s);
    return r.ok ? { ok: true as const, ascii: r.ascii } : { ok: false as const, message: r.message };
  },
};

export class QueueFeatures {
  constructor(private readonly deps: { store: Store; clock: Clock; queue: Queue; events: EventBatcher; onPause?: (() => void) | undefined }) {}

  // ---- suppression list ----------------------------------------------------------------

  listSuppressions(): Suppression[] {
    return this.deps.store.suppressions.list();
  }

  addSuppression(address: string, reason: string | undefined, identityId: number | null = null): Suppression {
    const parsed = parseMailbox(address);
    if (!parsed.ok) throw new QueueFeatureError('VALIDATION', `${address}: ${parsed.error.message}`);
    if (identityId !== null && !this.deps.store.getIdentity(identityId)) throw new QueueFeatureError('NOT_FOUND', `no identity ${identityId}`);
    return this.deps.store.suppressions.add(
      { address: parsed.value.envelope, identityId, source: 'manual', reason: reason?.trim() || 'added by the user' },
      this.deps.clock.now(),
    );
  }

  /** Removes every entry of the address (any identity); returns how many there were. */
  removeSuppression(address: string): number {
    const parsed = parseMailbox(address);
    if (!parsed.ok) throw new QueueFeatureError('VALIDATION', `${address}: ${parsed.error.message}`);
    return this.deps.store.suppressions.remove(parsed.value.envelope);
  }

  /** The reason mail to this address would fail at once, or null. */
  suppressionOf(address: string, identityId: number | null = null): string | null {
    const parsed = parseMailbox(address);
    if (!parsed.ok) return null;
    return this.deps.store.suppressions.lookup(parsed.value.envelope, identityId)?.reason ?? null;
  }

  // ---- hold rules and pause ------------------------------------------------------------

  listHoldRules(): HoldRule[] {
    return this.deps.store.holdRules.list();
  }

  get paused(): boolean {
    return this.deps.store.holdRules.rules().some(isPauseRule);
  }

  addHoldRule(criteria: { sender?: string | null | undefined; recipient?: string | null | undefined }): HoldRule {
    const sender = normalizeCriterion(criteria.sender, parsers);
    if (!sender.ok) throw new QueueFeatureError('VALIDATION', `sender ${sender.message}`);
    const recipient = normalizeCriterion(criteria.recipient, parsers);
    if (!recipient.ok) throw new QueueFeatureError('VALIDATION', `recipient ${recipient.message}`);
    const { rule, held } = this.deps.store.holdRules.add({ sender: sender.value, recipient: recipient.value }, this.deps.clock.now());
    for (const r of held) this.deps.events.emit({ type: 'recipient-state', messageId: r.message_id, recipientId: r.id, state: 'held' });
    return this.listHoldRules().find((x) => x.id === rule.id)!;
  }

  removeHoldRule(id: number): { released: number } {
    const { removed, released } = this.deps.store.holdRules.remove(id, this.deps.clock.now());
    if (!removed) throw new QueueFeatureError('NOT_FOUND', `no hold rule ${id}`);
    for (const r of released) {
      this.deps.store.addEvent(r.message_id, r.id, this.deps.clock.now(), 'released', `hold rule ${id} removed`);
      this.deps.events.emit({ type: 'recipient-state', messageId: r.message_id, recipientId: r.id, state: 'queued' });
    }
    this.deps.queue.pump();
    return { released: released.length };
  }

  /** "Pause sending": a rule without criteria, so it holds everything and survives restarts. */
  pause(): HoldRule {
    const rule = this.listHoldRules().find(isPauseRule) ?? this.addHoldRule({});
    // Nothing is sent while paused: kept sessions are closed rather than left idle.
    this.deps.onPause?.();
    return rule;
  }

  /** Removes every criteria-less rule; releases what they held. */
  unpause(): { released: number } {
    let released = 0;
    for (const r of this.deps.store.holdRules.rules().filter(isPauseRule)) released += this.removeHoldRule(r.id).released;
    return { released };
  }
}
