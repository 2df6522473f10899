/**
 * The outbox queue (delivery-rules §8, §10): picks due recipients, groups them per message and
 * recipient domain (one transaction per group), runs deliveries under a global and a
 * per-domain concurrency limit, and records every outcome atomically with the retry schedule.
 *
 * Guarantees: nothing acknowledged as queued is lost (a recipient leaves the queue only as
 * delivered, failed or canceled); delivery is at-least-once (a crash mid-delivery is recovered
 * as 'deferred: interrupted' and retried, so the server may see it twice, never zero times).
 * Retry decisions come from the outcome's fields (status, permanent), never from reply text.
 *
 * Scheduling costs O(due work), not O(queue) (issue 14 item 1): the pending recipients live in
 * memory (due-set.ts), rebuilt from the store at start and changed only by the store's
 * PendingFeed after each commit; one timer is armed for the earliest due time; work a limit
 * holds back is released when a delivery of its domain ends, never by polling. Outcomes are
 * group-committed: a finished delivery's result is kept in memory and written, with the
 * results that finished within GROUP_COMMIT_MS after it and the claims of the next work, in
 * one short transaction (synchronous=NORMAL; the "queued" acknowledgment stays FULL). A
 * delivery whose result is not yet written is still 'sending' on disk, so a crash before the
 * write repeats at most the deliveries in flight. When a delivery to a domain ends and more
 * work for it is due, that work is claimed first, so a session to the domain can be reused.
 */
import { describeReply, type RecipientState, type TlsMode } from '../../../shared/domain';
import type { Clock, TimerHandle } from '../clock';
import type { AttemptRecord, DeliverFn, DeliveryJob, DeliveryOutcome, RecipientOutcome } from '../delivery/types';
import type { EventBatcher } from '../events';
import type { DueRecipient, QueueRepo, RecipientUpdate } from '../store/queue-repo';
import type { PendingChange } from '../store/pending-feed';
import type { Store } from '../store/store';
import { suppressesAddress } from './admission';
import type { DeliveryError } from '../errors';
import { retryDelayMs, shouldGiveUp } from './backoff';
import { isDiskFull } from '../store/db';
import { settleEnvelope } from '../store/message-files';
import { checkMessageFile, messageBody, wireSize, type StoredMessage } from './message-source';
import { DueSet, type TakenGroup } from './due-set';
import { DomainConcurrency, destinationFeedback } from './concurrency';

export interface QueueOptions {
  store: Store;
  clock: Clock;
  deliver: DeliverFn;
  events: EventBatcher;
  concurrency?: number;
  /** The per-domain ceiling; each domain starts lower and grows with success (concurrency.ts). */
  perDomain?: number;
  lifetimeMs?: number;
  delayNoticeMs?: number;
  random?: () => number;
  /** While paused by a full disk, how often to try writing again. */
  resumeProbeMs?: number;
  /** Runs `fn` once the group-commit window has passed (default: GROUP_COMMIT_MS, real time). */
  defer?: (fn: () => void) => void;
  /**
   * Closes the delivery engine's idle kept SMTP sessions (Outbox.closeIdleSessions): called by
   * stop() once nothing is in flight, so no session lingers (and no server waits on us for its
   * idle timeout) after the queue stopped sending.
   */
  closeIdleSessions?: () => Promise<void>;
}

type Pending = { state: 'held' | 'canceled' };

const DELAY_SCAN_MS = 60_000;
/**
 * A delivery that has shown no activity (no SMTP line either way, no data progress) for this
 * long is stalled — a tarpit, a silent host — and stops counting against the concurrency
 * limit, so slow domains cannot hold the rest of the outbox (rules §7). Each stays bounded by
 * its own per-stage timeouts and the engine's per-domain budget.
 */
export const STALLED_AFTER_MS = 2_000;
/** Stalled deliveries still hold sockets: at most this many times `concurrency` run at all. */
export const MAX_RUNNING_FACTOR = 4;
export const DISK_FULL_NOTICE = 'disk full: sending paused';
/**
 * The group-commit window: results of deliveries that end within this long of each other share
 * one transaction. One event-loop turn gave ≈ 5–6 results per transaction (2000 messages over
 * 50 domains: 319 transactions); 1 ms gave 123 and cut the delivery phase's CPU by a fifth
 * (bench/profile-delivery.ts), while a delivery's next claim waits at most this long.
 */
export const GROUP_COMMIT_MS = 1;
/**
 * A domain whose delivery just ended gets the freed slot for its next due work, back to back
 * (so its session can be reused) — at most this many times in a row before the longest-waiting
 * work of any domain goes first again: a busy domain cannot starve the others.
 */
export const MAX_BACK_TO_BACK = 20;

/**
 * One delivery's result as it is written: the recipients' new states, the attempt history
 * (with the final status applied), notices, suppressions and the domain hint. Kept in memory
 * until written (the next group commit, or while the disk is full), so the delivery is never
 * made again for want of its record.
 */
interface Recording {
  messageId: string;
  domain: string;
  now: number;
  attempts: AttemptRecord[];
  updates: RecipientUpdate[];
  notices: { recipientId: number; text: string }[];
  /** Recipients whose failure puts their address on the suppression list (rules §15). */
  suppress: { recipient: DueRecipient; outcome: RecipientOutcome }[];
  dialedIps: string[];
  hint: DeliveryOutcome['hint'];
  /** Some recipient was delivered over a session without TLS (rules §4). */
  deliveredInPlaintext: boolean;
  /** Deferred recipients a hold rule took when the result was written. */
  heldByRule?: Set<number>;
}

interface Running {
  domain: string;
  recipientIds: number[];
  abort: AbortController;
  done: Promise<void>;
  /** User actions that arrived while this group was on the wire. */
  pending: Map<number, Pending>;
  /** Clock ms of the delivery's latest sign of life (see STALLED_AFTER_MS). */
  activeAt: number;
}

export type QueueAction = 'hold' | 'resume' | 'retry' | 'cancel';

export class Queue {
  readonly repo: QueueRepo;
  readonly #o: Required<Omit<QueueOptions, 'store' | 'clock' | 'deliver' | 'events' | 'closeIdleSessions'>> & QueueOptions;
  readonly #running = new Map<number, Running>();
  #runSeq = 0;
  readonly #domainActive = new Map<string, number>();
  readonly #due = new DueSet();
  readonly #windows: DomainConcurrency;
  #unlisten: (() => void) | null = null;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #started = false;
  #stopping = false;
  #onlyMessage: string | null = null;
  #lastDelayScan = -Infinity;
  readonly #waiters: (() => boolean)[] = [];
  /** Start-up recovery of 'sending' rows still to do (it may meet a full disk, too). */
  #recovered = false;
  /** Results delivered but not yet written (next group commit, or disk full), oldest first. */
  readonly #unwritten: Recording[] = [];
  #paused = false;
  #probe: TimerHandle | undefined;
  /** Domains whose delivery just ended, served first by the next pump (session reuse). */
  readonly #preferred = new Set<string>();
  /** Back-to-back claims per domain since it was last served in due order. */
  readonly #streak = new Map<string, number>();
  #pumpDeferred = false;

  constructor(opts: QueueOptions) {
    this.#o = {
      concurrency: 20,
      perDomain: 20,
      lifetimeMs: 5 * 24 * 3600 * 1000,
      delayNoticeMs: 4 * 3600 * 1000,
      random: Math.random,
      resumeProbeMs: 5000,
      defer: (fn) => void setTimeout(fn, GROUP_COMMIT_MS),
      ...opts,
    };
    this.repo = opts.store.queue;
    this.#windows = new DomainConcurrency(() => this.#o.perDomain);
  }

  configure(limits: { concurrency?: number; perDomain?: number; lifetimeMs?: number; delayNoticeMs?: number }): void {
    Object.assign(this.#o, Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)));
    for (const d of this.#domainActive.keys()) this.#reblock(d);
    this.pump();
  }

  get active(): number {
    return this.#running.size;
  }

  /** Sending is paused because the disk is full (see DISK_FULL_NOTICE). */
  get paused(): boolean {
    return this.#paused;
  }

  /** Delivery results waiting to be written (disk full). */
  get unwritten(): number {
    return this.#unwritten.length;
  }

  /** The pending recipients as the queue holds them in memory, by id (tests compare with the store). */
  dueSnapshot(): PendingChange[] {
    return this.#due.snapshot();
  }

  /** The current per-domain limit (slow start: grows with success up to `perDomain`). */
  domainLimit(domain: string): number {
    return this.#windows.limit(domain);
  }

  /** Restricts this queue to one message (`outbox send --wait` delivers only what it sent). */
  onlyMessage(messageId: string | null): void {
    this.#onlyMessage = messageId;
  }

  /**
   * Resolves once every recipient of the message has had its first attempt: delivered,
   * failed, deferred after an attempt, or taken out of the queue by the user.
   */
  firstAttemptsDone(messageId: string): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        const done = this.repo
          .recipientsOf(messageId)
          .every((r) => r.state !== 'sending' && !((r.state === 'queued' || r.state === 'deferred') && r.attempts === 0));
        if (done) resolve();
        return done;
      };
      if (!check()) this.#waiters.push(check);
    });
  }

  #wake(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) if (this.#waiters[i]!()) this.#waiters.splice(i, 1);
  }

  /** Loads the pending set, recovers interrupted deliveries and starts working. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stopping = false;
    this.#recovered = false;
    this.#unlisten = this.repo.feed.listen((changes) => {
      for (const c of changes) this.#due.apply(c);
    });
    this.repo.feed.consumeStale();
    this.#due.rebuild(this.repo.pendingRows());
    this.pump();
  }

  /**
   * Stops taking new work and waits for deliveries in flight. With `abort`, deliveries in
   * flight are interrupted (their connections closed) and recorded as deferred: a caller with a
   * deadline (`send --wait N`) must not wait for a server's five-minute timeout.
   */
  async stop(opts: { abort?: boolean } = {}): Promise<void> {
    this.#stopping = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#probe?.cancel();
    this.#probe = undefined;
    if (opts.abort) for (const r of this.#running.values()) r.abort.abort();
    await Promise.all([...this.#running.values()].map((r) => r.done));
    // A last try; what still cannot be written stays 'sending' and is retried after a restart.
    try {
      this.#commit(this.#o.clock.now(), false);
    } catch (e) {
      console.error('queue: could not record outcome', e);
    }
    this.#unlisten?.();
    this.#unlisten = null;
    this.#started = false;
    // Sessions given back by the deliveries just ended would otherwise wait for their idle timer.
    await this.#o.closeIdleSessions?.().catch((e: unknown) => console.error('queue: could not close idle sessions', e));
  }

  /** Resolves once nothing is in flight and nothing is due now (CLI `run --once`, `send --wait`). */
  async drain(): Promise<void> {
    for (;;) {
      // A delivery that just ended has its pump deferred (the group-commit window): pumping
      // here at once would commit each result alone (one transaction per delivery).
      if (this.#pumpDeferred) {
        await new Promise<void>((resolve) => this.#o.defer(resolve));
        continue;
      }
      this.pump();
      if (this.#running.size === 0) {
        // A full disk: nothing more can be done now (the caller reports `paused`).
        if (this.#paused || !this.#started || this.#stopping) return;
        const next = this.#nextAt();
        if (next === null || next > this.#o.clock.now()) return;
        continue;
      }
      await Promise.race([...this.#running.values()].map((r) => r.done));
    }
  }

  /**
   * Writes the results kept in memory and starts every delivery that is due and allowed by the
   * limits (claims and results in one transaction), then arms the wake-up timer. A full disk
   * at any write pauses the queue instead of throwing (issue 10 item 6): neither the results
   * nor the claims are written, so no new claim happens while a result is pending.
   */
  pump(): void {
    // (A store closed without stop(): a deferred pump finds nothing to do.)
    if (!this.#started || this.#stopping || !this.#o.store.db.open) return;
    const now = this.#o.clock.now();
    try {
      if (!this.#recovered) {
        // Results of this process first: recovery must not take their rows for interrupted.
        if (this.#unwritten.length > 0) this.#commit(now, false);
        this.repo.recoverInterrupted(now);
        this.#recovered = true;
      }
      // Another process (the CLI beside the app) or a bulk import in a transaction of its own
      // changed the queue: reload what is pending.
      const elsewhere = this.repo.changedElsewhere();
      if (this.repo.feed.consumeStale() || elsewhere) this.#due.rebuild(this.repo.pendingRows());
      this.#commit(now, true);
      // The delay-notice scan reads the old pending recipients (after the results just
      // written): once a minute is plenty.
      if (now - this.#lastDelayScan >= DELAY_SCAN_MS) {
        this.#delayNotices(now);
        this.#lastDelayScan = now;
      }
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      return this.#diskFull();
    }
    if (this.#paused) this.#resumed();
    this.#armTimer(now);
  }

  /** A pump once the group-commit window has passed: results finishing together share one commit. */
  #deferPump(): void {
    if (this.#pumpDeferred) return;
    this.#pumpDeferred = true;
    this.#o.defer(() => {
      this.#pumpDeferred = false;
      try {
        this.pump();
      } catch (e) {
        // Not a full disk (that pauses): the results stay in memory for the next pump.
        console.error('queue: could not record outcome', e);
      }
    });
  }

  /**
   * One group commit: the results kept in memory, then (with `claim`) the claims of the due
   * work the limits allow, in one IMMEDIATE transaction; the deliveries start after the commit.
   * A result that cannot be written for another reason than a full disk is dropped with a log
   * line (its rows stay 'sending'; start-up recovery retries them), not the whole batch.
   */
  #commit(now: number, claim: boolean): void {
    const batch = this.#unwritten.slice();
    const only = claim && this.#onlyMessage !== null ? this.#onlyDomains() : null;
    // Nothing to write and nothing that could start: no transaction at all (an idle wake-up).
    if (batch.length === 0 && !(claim && this.#freeSlots(now) > 0 && (only ? only.length > 0 : this.#claimable(now)))) {
      this.#preferred.clear();
      return;
    }
    const written: Recording[] = [];
    const taken: TakenGroup[] = [];
    const launches: { domain: string; rows: DueRecipient[] }[] = [];
    try {
      this.repo.atomically(() => {
        for (const rec of batch) {
          try {
            // One savepoint per result: a result that cannot be written is undone alone.
            this.repo.atomically(() => this.#write(rec), { savepoint: true });
            written.push(rec);
          } catch (e) {
            if (isDiskFull(e)) throw e;
            console.error('queue: could not record outcome', e);
          }
        }
        if (!claim) return;
        let free = this.#freeSlots(now);
        while (free > 0) {
          const t = this.#takeNext(now, only);
          if (!t) break;
          taken.push(t);
          const ids = this.repo.claim(t.rcpts.map((r) => ({ id: r.id, messageId: t.messageId, domain: t.domain })), now);
          if (ids.length === 0) continue;
          launches.push({ domain: t.domain, rows: this.repo.dueRecipients(ids.sort((a, b) => a - b)) });
          this.#count(t.domain, +1);
          free--;
        }
      });
    } catch (e) {
      // Nothing was written: the taken work goes back, and so do the slots it would have used.
      for (const t of taken) this.#due.restore(t);
      for (const l of launches) this.#count(l.domain, -1);
      throw e;
    } finally {
      this.#preferred.clear();
    }
    this.#unwritten.splice(0, batch.length);
    for (const rec of written) this.#written(rec);
    for (const l of launches) {
      if (l.rows.length > 0) this.#launch(l.rows);
      else this.#count(l.domain, -1);
    }
  }

  /** Whether some due work could be taken now (a preferred domain or the longest due). */
  #claimable(now: number): boolean {
    for (const d of this.#preferred) if (!this.#due.isBlocked(d) && this.#due.hasDue(d, now)) return true;
    return this.#due.readyDomain(now) !== null;
  }

  /** The next group to claim: a domain whose delivery just ended first, then the longest due. */
  #takeNext(now: number, only: string[] | null): TakenGroup | null {
    if (only) {
      for (const d of only) {
        if (this.#due.isBlocked(d)) continue;
        const t = this.#due.take(d, now, this.#onlyMessage!);
        if (t) return t;
      }
      return null;
    }
    for (const d of this.#preferred) {
      this.#preferred.delete(d);
      const streak = this.#streak.get(d) ?? 0;
      if (streak < MAX_BACK_TO_BACK && !this.#due.isBlocked(d) && this.#due.hasDue(d, now)) {
        this.#streak.set(d, streak + 1);
        return this.#due.take(d, now);
      }
    }
    const d = this.#due.readyDomain(now);
    if (d === null) return null;
    this.#streak.delete(d);
    return this.#due.take(d, now);
  }

  /** The domains of the one message this queue is restricted to that have pending recipients. */
  #onlyDomains(): string[] {
    return [...new Set(this.repo.recipientsOf(this.#onlyMessage!).filter((r) => r.state === 'queued' || r.state === 'deferred').map((r) => r.domain))];
  }

  /** Counts a delivery of the domain starting (+1) or ending (-1) and blocks it at its limit. */
  #count(domain: string, delta: 1 | -1): void {
    const n = (this.#domainActive.get(domain) ?? 0) + delta;
    if (n > 0) this.#domainActive.set(domain, n);
    else this.#domainActive.delete(domain);
    this.#reblock(domain);
  }

  #reblock(domain: string): void {
    if ((this.#domainActive.get(domain) ?? 0) >= this.#windows.limit(domain)) this.#due.block(domain);
    else this.#due.unblock(domain);
  }

  /** The earliest next attempt this queue would act on (null: nothing pending). */
  #nextAt(): number | null {
    if (this.#onlyMessage === null) return this.#due.nextAt();
    let next: number | null = null;
    for (const r of this.repo.recipientsOf(this.#onlyMessage)) {
      if ((r.state === 'queued' || r.state === 'deferred') && r.next_attempt_at !== null) next = Math.min(next ?? Infinity, r.next_attempt_at);
    }
    return next;
  }

  #diskFull(): void {
    if (!this.#paused) {
      this.#paused = true;
      console.error(`queue: ${DISK_FULL_NOTICE}`);
      this.#o.events.emit({ type: 'queue-state', paused: true, text: DISK_FULL_NOTICE });
    }
    if (this.#probe || this.#stopping) return;
    this.#probe = this.#o.clock.setTimer(this.#o.resumeProbeMs, () => {
      this.#probe = undefined;
      this.pump();
    });
  }

  #resumed(): void {
    this.#paused = false;
    this.#probe?.cancel();
    this.#probe = undefined;
    this.#o.events.emit({ type: 'queue-state', paused: false, text: 'sending resumed' });
  }

  /** Slots for new deliveries: stalled ones do not count, up to MAX_RUNNING_FACTOR in all. */
  #freeSlots(now: number): number {
    let busy = 0;
    for (const r of this.#running.values()) if (now - r.activeAt < STALLED_AFTER_MS) busy++;
    return Math.min(this.#o.concurrency - busy, this.#o.concurrency * MAX_RUNNING_FACTOR - this.#running.size);
  }

  /**
   * One timer, for the earliest moment something can start: the next due time of a domain that
   * may start work; when due work waits only for a global slot, the moment a running delivery
   * would count as stalled. Work held by its domain's limit needs no timer: the end of a
   * delivery of that domain releases it. While anything waits, at least once a minute for the
   * delay notices.
   */
  #armTimer(now: number): void {
    const next = this.#nextAt();
    let at = Infinity;
    if (next !== null && next > now) at = next;
    else if (next !== null) {
      for (const r of this.#running.values()) {
        if (now - r.activeAt < STALLED_AFTER_MS) at = Math.min(at, r.activeAt + STALLED_AFTER_MS);
      }
    }
    if (this.#due.size > 0) at = Math.min(at, this.#lastDelayScan + DELAY_SCAN_MS);
    if (at === Infinity) return;
    at = Math.max(at, now + 1);
    if (at >= this.#timerAt && this.#timer) return;
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#o.clock.setTimer(at - now, () => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.pump();
    });
  }

  #launch(group: DueRecipient[]): void {
    const first = group[0]!;
    const abort = new AbortController();
    const key = ++this.#runSeq;
    const running: Running = { domain: first.domain, recipientIds: group.map((r) => r.id), abort, pending: new Map(), done: Promise.resolve(), activeAt: this.#o.clock.now() };
    const message: StoredMessage = {
      path: this.#o.store.absolutePath(first.raw_path),
      name: first.raw_path,
      size: first.size,
      sha256: first.sha256,
      tlsMode: first.tls_mode,
    };
    const job: DeliveryJob = {
      messageId: first.message_id,
      mailFrom: first.mail_from,
      body: () => messageBody(message),
      size: wireSize(message),
      eightBit: first.eight_bit === 1,
      smtpUtf8: first.smtputf8 === 1,
      tlsMode: first.tls_mode,
      domain: first.domain,
      recipients: group.map((r) => ({ id: r.id, envelope: r.envelope })),
      attemptNumber: Math.min(...group.map((r) => r.attempts)) + 1,
      dialedIps: [...new Set(group.flatMap((r) => JSON.parse(r.dialed_ips) as string[]))],
      onProgress: (bytesSent) => {
        running.activeAt = this.#o.clock.now();
        this.#o.events.emit({ type: 'progress', messageId: first.message_id, bytesSent, size: first.size });
      },
      onActivity: () => {
        running.activeAt = this.#o.clock.now();
      },
      signal: abort.signal,
    };
    for (const r of group) this.#emitState(r.message_id, r.id, 'sending');
    // The queued file is the message: missing or changed, nothing is dialed (issue 10 item 7).
    const fileProblem = checkMessageFile(message);
    running.done = (fileProblem ? Promise.resolve(failureOutcome(group, fileProblem)) : this.#o.deliver(job))
      .catch((e: unknown): DeliveryOutcome => internalFailure(group, e))
      .then((outcome) => {
        this.#windows.feedback(first.domain, fileProblem ? 'neutral' : destinationFeedback(outcome.recipients));
        // Written by the next group commit, in order: a later result never overtakes one
        // still waiting for space.
        this.#unwritten.push(this.#decide(group, outcome, running.pending));
      })
      .catch((e: unknown) => {
        // Deciding failed: the rows stay 'sending'; start-up recovery retries them.
        console.error('queue: could not record outcome', e);
      })
      .finally(() => {
        this.#running.delete(key);
        this.#count(first.domain, -1);
        if (!this.#domainActive.has(first.domain) && !this.#due.hasDue(first.domain, Infinity)) {
          this.#windows.forget(first.domain);
          this.#streak.delete(first.domain);
        }
        this.#preferred.add(first.domain);
        this.#deferPump();
      });
    this.#running.set(key, running);
  }

  /**
   * THE decision of each recipient's state after a delivery (rules §10: delivered, failed —
   * permanently, by give-up — canceled or held by the user meanwhile, or deferred to its retry
   * time). The attempt history gets the same verdict (finalHistory), so the log and the
   * exports never say "deferred" for a recipient the queue has failed (issue 10 item 11).
   */
  #decide(group: DueRecipient[], outcome: DeliveryOutcome, pending: Map<number, Pending>): Recording {
    const now = this.#o.clock.now();
    const byId = new Map(outcome.recipients.map((o) => [o.recipientId, o]));
    const updates: RecipientUpdate[] = [];
    const notices: { recipientId: number; text: string }[] = [];
    for (const r of group) {
      const o: RecipientOutcome = byId.get(r.id) ?? {
        recipientId: r.id,
        status: 'deferred',
        code: null,
        enhancedCode: null,
        reply: 'no result from delivery',
        host: null,
        errorCode: 'INTERNAL',
      };
      const base = { id: r.id, code: o.code, enhancedCode: o.enhancedCode, reply: o.reply, host: o.host, errorCode: o.errorCode, countsAsAttempt: true };
      const asked = pending.get(r.id);
      if (o.status === 'delivered') {
        updates.push({ ...base, state: 'delivered', nextAttemptAt: null });
      } else if (o.status === 'failed') {
        updates.push({ ...base, state: 'failed', nextAttemptAt: null });
        notices.push({ recipientId: r.id, text: failureText(r.address, o) });
      } else if (asked) {
        updates.push({ ...base, state: asked.state, nextAttemptAt: null });
      } else {
        const failedAttempts = r.attempts + 1;
        if (shouldGiveUp(failedAttempts, r.created_at, now, this.#o.lifetimeMs)) {
          const gaveUp: RecipientOutcome = { ...o, errorCode: 'GIVE_UP', reply: `gave up after ${failedAttempts} attempts; last: ${describeReply({ code: o.code, enhancedCode: o.enhancedCode, reply: o.reply ?? o.errorCode ?? 'no reply' })}` };
          updates.push({ ...base, reply: gaveUp.reply, errorCode: 'GIVE_UP', state: 'failed', nextAttemptAt: null });
          notices.push({ recipientId: r.id, text: failureText(r.address, gaveUp) });
        } else {
          updates.push({ ...base, state: 'deferred', nextAttemptAt: now + retryDelayMs(failedAttempts, this.#o.random) });
        }
      }
    }
    const suppress = group
      .filter((r) => {
        const o = byId.get(r.id);
        return o !== undefined && !pending.has(r.id) && suppressesAddress(o.status, o.enhancedCode);
      })
      .map((recipient) => ({ recipient, outcome: byId.get(recipient.id)! }));
    const attempts = finalHistory(outcome.attempts, updates);
    return {
      messageId: group[0]!.message_id,
      domain: group[0]!.domain,
      now,
      attempts,
      updates,
      notices,
      suppress,
      dialedIps: outcome.dialedIps,
      hint: outcome.hint,
      // Only a recipient actually delivered over a session without TLS (not a plaintext
      // fallback that was then refused) makes the "sent without encryption" notice.
      deliveredInPlaintext: attempts.some((a) => !a.starttls && a.results.some((x) => x.status === 'delivered')),
    };
  }

  #write(rec: Recording): void {
    const store = this.#o.store;
    const { messageId, now } = rec;
    this.repo.atomically(() => {
      this.repo.recordOutcome(messageId, rec.attempts, rec.updates, rec.dialedIps, now);
      for (const n of rec.notices) this.repo.addNotice(messageId, n.recipientId, 'failure', now, n.text);
      if (rec.hint) store.upsertDomainTls(rec.hint);
      // Rules §15: "no such user" class failures put the address on the list (admission.ts).
      const identityId = rec.suppress.length ? (store.messageRow(messageId)?.identity_id ?? null) : null;
      for (const { recipient: r, outcome: o } of rec.suppress) {
        store.suppressions.add(
          { address: r.envelope, identityId, source: 'auto', reason: `${o.enhancedCode} from ${o.host ?? r.domain}`, reply: o.reply, code: o.code, enhancedCode: o.enhancedCode, messageId: r.message_id },
          now,
        );
        store.addEvent(r.message_id, r.id, now, 'suppression-added', `${r.envelope} added to the suppression list (${o.enhancedCode})`);
      }
      // A deferred recipient re-enters the queue: a hold rule added meanwhile holds it.
      rec.heldByRule = new Set(store.holdRules.holdDeferred(rec.updates.filter((u) => u.state === 'deferred').map((u) => u.id), now));
    });
  }

  #written(rec: Recording): void {
    const { messageId } = rec;
    this.#settle(messageId);
    for (const u of rec.updates) this.#emitState(messageId, u.id, rec.heldByRule?.has(u.id) ? 'held' : u.state);
    this.#wake();
    for (const n of rec.notices) this.#o.events.emit({ type: 'notice', messageId, recipientId: n.recipientId, kind: 'failure', text: n.text });
    if (rec.deliveredInPlaintext) {
      this.#o.events.emit({ type: 'notice', messageId, kind: 'unencrypted', text: `delivered to ${rec.domain} without encryption` });
    }
  }

  /**
   * Keeps the message's envelope file in step with its recipients, after the commit that
   * decided it (a crash in between is settled at start-up): finished messages are not
   * re-queued by a recovery, messages a user retries are again (store/message-files.ts).
   */
  #settle(messageId: string): void {
    try {
      settleEnvelope(this.#o.store.messagesDir, messageId, this.repo.messageFinished(messageId));
    } catch (e) {
      // Only a recovery reads it; at worst a finished message is offered again.
      console.error('queue: could not update the envelope file', e);
    }
  }

  #delayNotices(now: number): void {
    const candidates = this.repo.delayNoticeCandidates(now - this.#o.delayNoticeMs);
    for (const r of candidates) {
      const text = `Not yet delivered to ${r.address} after ${Math.round((now - r.created_at) / 3600_000)} h; still trying. Last: ${r.last_reply ?? 'no attempt yet'}`;
      this.#o.store.db.transaction(() => {
        this.repo.addNotice(r.message_id, r.id, 'delay', now, text);
        this.repo.markDelayNotified(r.id);
      })();
      this.#o.events.emit({ type: 'notice', messageId: r.message_id, recipientId: r.id, kind: 'delay', text });
    }
  }

  #emitState(messageId: string, recipientId: number, state: RecipientState): void {
    this.#o.events.emit({ type: 'recipient-state', messageId, recipientId, state });
  }

  // ---- user actions (rules §10: hold, resume, retry now, cancel; per message or recipient) ----

  act(action: QueueAction, messageId: string, recipientId?: number): number[] {
    const now = this.#o.clock.now();
    const all = this.repo.recipientsOf(messageId);
    const targets = recipientId === undefined ? all : all.filter((r) => r.id === recipientId);
    const ids = targets.map((r) => r.id);
    let changed: number[] = [];
    switch (action) {
      case 'hold':
        changed = this.repo.transition(ids, ['queued', 'deferred'], 'held', null, now);
        changed.push(...this.#pendOnRunning(ids, 'held'));
        break;
      case 'cancel':
        changed = this.repo.transition(ids, ['queued', 'deferred', 'held'], 'canceled', null, now);
        changed.push(...this.#pendOnRunning(ids, 'canceled'));
        break;
      case 'resume':
        changed = this.repo.transition(ids, ['held'], 'queued', now, now);
        break;
      case 'retry':
        changed = this.repo.transition(ids, ['queued', 'deferred', 'held', 'failed'], 'queued', now, now);
        break;
    }
    const states = new Map(this.repo.recipientsOf(messageId).map((r) => [r.id, r.state]));
    for (const id of changed) {
      this.#o.store.addEvent(messageId, id, now, action, 'by user');
      const state = states.get(id);
      if (state) this.#emitState(messageId, id, state);
    }
    if (changed.length) this.#settle(messageId);
    this.#wake();
    this.pump();
    return changed;
  }

  /** Changes the TLS mode of a queued message (e.g. REQUIRETLS stuck on a domain without support). */
  setTlsMode(messageId: string, mode: TlsMode): boolean {
    const now = this.#o.clock.now();
    const before = this.#o.store.messageRow(messageId);
    if (!before || !this.repo.setTlsMode(messageId, mode)) return false;
    this.#o.store.addEvent(messageId, null, now, 'tls-mode', `${before.tls_mode} → ${mode}`);
    return true;
  }

  #pendOnRunning(ids: number[], state: Pending['state']): number[] {
    const hit: number[] = [];
    for (const run of this.#running.values()) {
      for (const id of ids) {
        if (run.recipientIds.includes(id)) {
          run.pending.set(id, { state });
          hit.push(id);
        }
      }
      if (run.recipientIds.every((id) => run.pending.has(id))) run.abort.abort();
    }
    return hit;
  }
}

/**
 * The attempt history as it is stored: a recipient the queue ended as failed (permanently, by
 * give-up, by the REQUIRETLS rule) or canceled shows as 'failed' in every result row of this
 * delivery — the status comes from the one decision in Queue#decide, never from the host's
 * reply alone (issue 10 item 11). An attempt without a row for such a recipient gets one.
 */
export function finalHistory(attempts: AttemptRecord[], updates: RecipientUpdate[]): AttemptRecord[] {
  const ended = new Set(updates.filter((u) => u.state === 'failed' || u.state === 'canceled').map((u) => u.id));
  if (ended.size === 0 || attempts.length === 0) return attempts;
  const out = attempts.map((a) => ({
    ...a,
    results: a.results.map((r) => (ended.has(r.recipientId) && r.status !== 'delivered' ? { ...r, status: 'failed' as const } : r)),
  }));
  const last = out[out.length - 1]!;
  for (const u of updates) {
    if (!ended.has(u.id) || out.some((a) => a.results.some((r) => r.recipientId === u.id))) continue;
    last.results.push({ recipientId: u.id, status: 'failed', code: u.code, enhancedCode: u.enhancedCode, reply: u.reply });
  }
  return out;
}

/** Every recipient of the group failed by `err` before any host was tried. */
function failureOutcome(group: DueRecipient[], err: DeliveryError): DeliveryOutcome {
  return {
    recipients: group.map((r) => ({ recipientId: r.id, status: err.permanent ? 'failed' : 'deferred', code: null, enhancedCode: null, reply: err.message, host: null, errorCode: err.code })),
    attempts: [],
    dialedIps: [...new Set(group.flatMap((r) => JSON.parse(r.dialed_ips) as string[]))],
    hint: null,
  };
}

function internalFailure(group: DueRecipient[], e: unknown): DeliveryOutcome {
  const reply = e instanceof Error ? e.message : String(e);
  return {
    recipients: group.map((r) => ({ recipientId: r.id, status: 'deferred', code: null, enhancedCode: null, reply, host: null, errorCode: 'INTERNAL' })),
    attempts: [],
    dialedIps: [...new Set(group.flatMap((r) => JSON.parse(r.dialed_ips) as string[]))],
    hint: null,
  };
}

function failureText(address: string, o: RecipientOutcome): string {
  const reply = describeReply({ code: o.code, enhancedCode: o.enhancedCode, reply: o.reply ?? o.errorCode ?? 'unknown error' });
  return `Delivery to ${address} failed${o.host ? ` at ${o.host}` : ''}: ${reply}`;
}
