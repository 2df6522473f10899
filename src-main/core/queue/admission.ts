/**
 * What happens to a recipient the moment it enters the queue (delivery-rules §15), decided in
 * one place for every way a message gets queued (compose, --eml, the outbox's own DSNs and
 * reports) and for a deferred recipient coming back for another try:
 *
 * 1. On the suppression list (for this identity, or for all): failed at once, no connection,
 *    with the entry's reason — mox: "future messages queued for that recipient will
 *    immediately fail without a delivery attempt". Protects the sender's reputation: servers
 *    count repeated mail to addresses they said do not exist.
 * 2. Matched by a hold rule (sender and/or recipient address or domain; a rule with neither is
 *    "pause sending"): held, remembering the rule, until the rule goes.
 * 3. Otherwise queued.
 *
 * Also here: which permanent replies put an address on the list by themselves.
 */

/**
 * RFC 3463 codes that say "this address does not take mail", and so add it to the suppression
 * list when a server answers a recipient with one of them permanently (class 5):
 * - X.1.1 bad destination mailbox address (no such user);
 * - X.1.2 bad destination system address (the domain does not exist / takes no mail);
 * - X.1.3 bad destination mailbox address syntax;
 * - X.1.6 destination mailbox has moved, no forwarding address;
 * - X.1.10 recipient address has a null MX (RFC 7505, RFC 3463 as updated by RFC 7505 §4.2);
 * - X.2.1 mailbox disabled, not accepting messages.
 * Not: X.1.7/X.1.8 (our sender address is at fault, not theirs), X.2.2 mailbox full and X.2.3
 * message too big (about this message or this week, not the address), X.7.x policy refusals
 * (about us: TLS, reputation), or any 4.x.x reply. Never decided from reply text.
 */
export const SUPPRESSING_STATUS = new Set(['5.1.1', '5.1.2', '5.1.3', '5.1.6', '5.1.10', '5.2.1']);

/** True when a permanent failure with this enhanced code should suppress the address. */
export function suppressesAddress(status: 'failed' | string, enhancedCode: string | null): boolean {
  return status === 'failed' && enhancedCode !== null && SUPPRESSING_STATUS.has(enhancedCode);
}

/** A rule's criterion: "user@example.org" (that address) or "example.org" (that domain). */
export interface HoldCriteria {
  sender: string | null;
  recipient: string | null;
}

export interface HoldRule extends HoldCriteria {
  id: number;
  createdAt: number;
}

/** The key addresses are compared by: the envelope form, lower case. */
export function addressKey(envelope: string): string {
  return envelope.trim().toLowerCase();
}

function matches(criterion: string | null, envelope: string): boolean {
  if (criterion === null) return true;
  const key = addressKey(envelope);
  // An address criterion names one mailbox; a domain names that domain exactly (A-label).
  return criterion.includes('@') ? key === criterion : key.slice(key.lastIndexOf('@') + 1) === criterion;
}

/** The first (oldest) rule that holds mail from `mailFrom` to `recipient`, if any. */
export function matchingHoldRule<R extends HoldRule>(rules: readonly R[], mailFrom: string, recipient: string): R | undefined {
  return rules.find((r) => matches(r.sender, mailFrom) && matches(r.recipient, recipient));
}

/** A rule without criteria holds everything: that is "Pause sending". */
export function isPauseRule(r: HoldCriteria): boolean {
  return r.sender === null && r.recipient === null;
}

export interface SuppressionHit {
  id: number;
  reason: string;
}

export type Admission =
  | { state: 'queued' }
  | { state: 'failed'; suppression: SuppressionHit }
  | { state: 'held'; rule: HoldRule };

export function admit(suppression: SuppressionHit | undefined, rules: readonly HoldRule[], mailFrom: string, recipient: string): Admission {
  if (suppression) return { state: 'failed', suppression };
  const rule = matchingHoldRule(rules, mailFrom, recipient);
  return rule ? { state: 'held', rule } : { state: 'queued' };
}

/**
 * A criterion as the user types it ("User@Bücher.example", "bücher.example") in the form rules
 * compare: envelope form (A-label), lower case. Null input means "any".
 */
export function normalizeCriterion(input: string | null | undefined, parse: {
  mailbox(s: string): { ok: true; envelope: string } | { ok: false; message: string };
  domain(s: string): { ok: true; ascii: string } | { ok: false; message: string };
}): { ok: true; value: string | null } | { ok: false; message: string } {
  if (input === null || input === undefined || input.trim() === '') return { ok: true, value: null };
  const s = input.trim();
  if (s.includes('@')) {
    const r = parse.mailbox(s);
    return r.ok ? { ok: true, value: addressKey(r.envelope) } : { ok: false, message: `"${s}": ${r.message}` };
  }
  const d = parse.domain(s);
  return d.ok ? { ok: true, value: d.ascii.toLowerCase() } : { ok: false, message: `"${s}" ${d.message}` };
}
