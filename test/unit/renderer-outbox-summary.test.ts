/** The outbox row's summary, problem-first order and problem reply (src-renderer/lib/outbox-summary.ts). */
import { expect, test } from 'vitest';
import type { Recipient } from '../../shared/domain';
import { orderRecipients, replyToShow, statusSummary, undoSecondsLeft } from '../../src-renderer/lib/outbox-summary';

const r = (id: number, state: Recipient['state'], lastReply: string | null = null, lastAttemptAt: number | null = null) => ({
  id,
  state,
  address: `r${id}@x.test`,
  lastReply,
  lastAttemptAt,
  lastCode: lastReply ? (state === 'delivered' ? 250 : 550) : null,
  lastEnhanced: null,
});

test('status summary counts each state, delivered first, then problems', () => {
  expect(statusSummary([r(1, 'delivered'), r(2, 'deferred'), r(3, 'delivered'), r(4, 'failed'), r(5, 'delivered'), r(6, 'delivered')])).toBe('4 delivered · 1 failed · 1 retrying');
  expect(statusSummary([r(1, 'queued')])).toBe('1 queued');
});

test('problem recipients come first', () => {
  expect(orderRecipients([r(1, 'delivered'), r(2, 'queued'), r(3, 'failed'), r(4, 'deferred')]).map((x) => x.id)).toEqual([3, 4, 2, 1]);
});

test("the problem recipient's reply wins over a later 250 Ok of another recipient", () => {
  const rs = [r(1, 'failed', 'mailbox unavailable', 10), r(2, 'delivered', 'Ok', 20)];
  expect(replyToShow(rs)).toEqual({ address: 'r1@x.test', text: '550 mailbox unavailable' });
  expect(replyToShow([r(2, 'delivered', 'Ok', 20)])).toEqual({ address: 'r2@x.test', text: '250 Ok' });
  expect(replyToShow([r(2, 'queued')])).toBeNull();
});

test('a reply that already carries its codes is not shown with them twice (the one reply formatter, describeReply)', () => {
  // What a server's text usually is: the stored reply line starts with its own codes.
  expect(replyToShow([{ ...r(2, 'delivered', '250 OK: message queued', 20) }])!.text).toBe('250 OK: message queued');
  expect(replyToShow([{ ...r(1, 'failed', '550 5.7.1 <a@x.test> not accepted', 10), lastEnhanced: '5.7.1' }])!.text).toBe('550 5.7.1 <a@x.test> not accepted');
  expect(replyToShow([{ ...r(1, 'failed', 'no such user', 10), lastEnhanced: '5.1.1' }])!.text).toBe('550 5.1.1 no such user');
});

test('undoSecondsLeft: the seconds of the undo window left, rounded up; null once it ended or an attempt started', () => {
  const waiting = { undoUntil: 10_000, recipients: [{ state: 'queued', attempts: 0 }] };
  expect(undoSecondsLeft(waiting, 0)).toBe(10);
  expect(undoSecondsLeft(waiting, 2_500)).toBe(8);
  expect(undoSecondsLeft(waiting, 9_999)).toBe(1);
  expect(undoSecondsLeft(waiting, 10_000)).toBeNull();
  expect(undoSecondsLeft({ ...waiting, undoUntil: null }, 0)).toBeNull();
  expect(undoSecondsLeft({ undoUntil: 10_000, recipients: [{ state: 'sending', attempts: 0 }] }, 0)).toBeNull();
  expect(undoSecondsLeft({ undoUntil: 10_000, recipients: [{ state: 'queued', attempts: 0 }, { state: 'delivered', attempts: 1 }] }, 0)).toBeNull();
  // A held message (pause, hold rule) can still be undone while the window is open.
  expect(undoSecondsLeft({ undoUntil: 10_000, recipients: [{ state: 'held', attempts: 0 }] }, 0)).toBe(10);
});

test('in its undo window a message is not queued yet in the user\'s sense: the summary says "not sent yet"', () => {
  expect(statusSummary([r(1, 'queued')], { undoWindow: true })).toBe('1 not sent yet');
  expect(statusSummary([r(1, 'queued'), r(2, 'queued'), r(3, 'held')], { undoWindow: true })).toBe('1 on hold · 2 not sent yet');
  // Once the window is over (or without one) queued is queued.
  expect(statusSummary([r(1, 'queued')], { undoWindow: false })).toBe('1 queued');
  expect(statusSummary([r(1, 'queued')])).toBe('1 queued');
});
