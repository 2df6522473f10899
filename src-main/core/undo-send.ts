/**
 * Undo send (issue 13 item 2): a message sent from the app waits in the outbox for a window
 * (setting undoSendSeconds, default 10 s; 0 = off) before its first attempt, and Undo returns
 * it to compose.
 *
 * How it holds: the message is queued durably like any other, its first attempt due at the end
 * of the window (the queue's ordinary not-before time, so nothing else in the queue knows about
 * undo), and the compose draft is kept beside it in the same transaction (drafts.message_id,
 * store.insertMessage), with its attachments' granted paths — so Undo restores the exact
 * compose state, also after a restart within the window. When the window ends the copy is
 * deleted (UndoWindows); Undo is then impossible.
 *
 * The one rule (`undoSend`): Undo removes the message only while its window is open and no
 * attempt of it has started — checked and done in one transaction, so it cannot interleave with
 * the queue claiming the message (a claim is a transaction too). Otherwise nothing changes and
 * the error says why.
 */
import crypto from 'node:crypto';
import type { LocalDraft } from '../../shared/domain';
import type { Clock, TimerHandle } from './clock';
import { removeMessageFiles } from './store/message-files';
import type { Store } from './store/store';

export class UndoSendError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'CONFLICT',
    message: string,
  ) {
    super(message);
  }
}

export const UNDO_WINDOW_PASSED = 'the undo window has passed: the message is being sent';
export const ALREADY_BEING_SENT = 'the message is already being sent: an attempt has started, so it can no longer be undone';

/** The draft copy to keep for a send with a window of `windowMs` (none when 0: sent at once). */
export function undoCopy(draft: LocalDraft, now: number, windowMs: number): { draftId: string; draft: LocalDraft; until: number } | undefined {
  if (!(windowMs > 0)) return undefined;
  const { id: _ignored, ...rest } = draft;
  return { draftId: crypto.randomUUID(), draft: rest, until: now + windowMs };
}

/**
 * Undo of a send: removes the message (rows and files) and makes its kept compose draft an
 * ordinary draft again; returns that draft's id for compose to open. Refused, with nothing
 * changed, when the message does not exist, its window has passed, or an attempt has started.
 */
export function undoSend(store: Store, messageId: string, now: number): { draftId: string } {
  const draftId = store.pending.atomically(() => {
    if (!store.messageRow(messageId)) throw new UndoSendError('NOT_FOUND', `no message ${messageId}`);
    const copy = store.undoDraftOf(messageId);
    if (!copy || copy.until <= now) throw new UndoSendError('CONFLICT', UNDO_WINDOW_PASSED);
    // An attempt has started: a recipient on the wire, or any attempt or outcome recorded (a
    // "retry now" during the window starts one early).
    const started = store.queue.recipientsOf(messageId).some((r) => r.attempts > 0 || r.state === 'sending' || r.state === 'delivered' || r.state === 'deferred');
    if (started || store.attemptsOf(messageId).length > 0) throw new UndoSendError('CONFLICT', ALREADY_BEING_SENT);
    store.releaseUndoDraft(copy.id, now);
    store.deleteMessageRows(messageId);
    return copy.id;
  });
  // After the commit: the message no longer exists, so its files are only garbage now.
  removeMessageFiles(store.messagesDir, messageId);
  return { draftId };
}

/**
 * Deletes each kept draft copy when its window ends: one timer for the earliest end, armed at
 * start (copies of windows that ended while the app was closed go at once) and after each send.
 */
export class UndoWindows {
  readonly #store: Store;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #stopped = false;

  constructor(opts: { store: Store; clock: Clock }) {
    this.#store = opts.store;
    this.#clock = opts.clock;
  }

  start(): void {
    this.#stopped = false;
    this.#sweep();
  }

  /** A send with a window ending at `until` was queued. */
  added(until: number): void {
    if (!this.#stopped && until < this.#timerAt) this.#arm(until);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #sweep(): void {
    if (this.#stopped || !this.#store.db.open) return;
    this.#timer = undefined;
    this.#timerAt = Infinity;
    try {
      this.#store.deleteExpiredUndoDrafts(this.#clock.now());
    } catch (e) {
      // A full disk: the copy stays a little longer (Undo still refuses it: its window passed).
      console.error('undo send: could not delete an expired draft copy', e);
    }
    const next = this.#store.nextUndoExpiry();
    const now = this.#clock.now();
    // (A copy that could not be deleted is tried again in a second.)
    if (next !== null) this.#arm(next > now ? next : now + 1000);
  }

  #arm(at: number): void {
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimer(Math.max(0, at - this.#clock.now()), () => this.#sweep());
  }
}
