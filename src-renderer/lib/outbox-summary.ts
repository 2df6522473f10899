/**
 * What an outbox row says about a message's recipients, decided once for rows and detail:
 * a status summary ("4 delivered · 1 failed · 1 retrying"), the recipients with problems first,
 * and the reply of the problem recipient (not merely the latest one, which may be a "250 Ok"
 * for another recipient).
 */
import { describeReply, type Recipient, type RecipientState } from '../../shared/domain';

/** Problems first (they need the user), then what is still moving, then what is done. */
const ORDER: Record<RecipientState, number> = { failed: 0, deferred: 1, held: 2, canceled: 3, sending: 4, queued: 5, delivered: 6 };
const WORD: Record<RecipientState, string> = {
  delivered: 'delivered',
  failed: 'failed',
  deferred: 'retrying',
  held: 'on hold',
  canceled: 'canceled',
  sending: 'sending',
  queued: 'queued',
};

export const isProblem = (s: RecipientState): boolean => s === 'failed' || s === 'deferred' || s === 'held';

export function orderRecipients<R extends Pick<Recipient, 'state' | 'id'>>(rs: readonly R[]): R[] {
  return [...rs].sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.id - b.id);
}

/**
 * "4 delivered · 1 failed · 1 retrying", in the order of ORDER but with delivered first when present.
 * `undoWindow`: the message is in its undo window (undoSecondsLeft not null). Its recipients are
 * stored as queued, but for the user nothing is on its way yet — Undo still takes it back — so
 * they read "not sent yet" beside the row's "Sending in N s", not "queued".
 */
export function statusSummary(rs: readonly Pick<Recipient, 'state'>[], opts: { undoWindow?: boolean } = {}): string {
  const counts = new Map<RecipientState, number>();
  for (const r of rs) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const states = [...counts.keys()].sort((a, b) => (a === 'delivered' ? -1 : b === 'delivered' ? 1 : ORDER[a] - ORDER[b]));
  const word = (s: RecipientState) => (s === 'queued' && opts.undoWindow ? 'not sent yet' : WORD[s]);
  return states.map((s) => `${counts.get(s)} ${word(s)}`).join(' · ');
}

/** The reply worth showing: the latest of a problem recipient, else the latest of any. */
export function replyToShow(rs: readonly Pick<Recipient, 'state' | 'lastReply' | 'lastAttemptAt' | 'lastCode' | 'lastEnhanced' | 'address'>[]): { address: string; text: string } | null {
  const withReply = rs.filter((r) => r.lastReply).sort((a, b) => (b.lastAttemptAt ?? 0) - (a.lastAttemptAt ?? 0));
  const r = withReply.find((x) => isProblem(x.state)) ?? withReply[0];
  if (!r) return null;
  return { address: r.address, text: describeReply({ code: r.lastCode, enhancedCode: r.lastEnhanced, reply: r.lastReply }) };
}

/**
 * Seconds left in a sent message's undo window, or null when Undo is no longer offered (the
 * window ended, or an attempt started). Main decides again when Undo is pressed.
 */
export function undoSecondsLeft(m: { undoUntil: number | null; recipients: readonly { state: string; attempts: number }[] }, now: number): number | null {
  if (m.undoUntil === null || now >= m.undoUntil) return null;
  if (m.recipients.some((r) => r.attempts > 0 || r.state === 'sending' || r.state === 'delivered' || r.state === 'deferred')) return null;
  return Math.max(1, Math.ceil((m.undoUntil - now) / 1000));
}
