/**
 * The outbox queue (delivery-rules §8, §10): picks due recipients, groups them per message and
 * recipient domain (one transaction per group), runs deliveries under a global and a
 * per-domain concurrency limit, and records every outcome atomically with the retry schedule.
 *
 * Guarantees: nothing acknowledged as queued is lost (a recipient leaves the queue only as
 * delivered, failed or canceled); delivery is at-least-once (a crash mid-delivery is recovered
 * as 'deferred: interrupted' and retried, so the server may see it twice, never zero times).
 * Retry decisions come from the outcome's fields (status, permanent), never from reply text.
 */
import { describeReply, type RecipientState, type TlsMode } from '../../../shared/domain';
import type { Clock, TimerHandle } from '../clock';
import type { AttemptRecord, DeliverFn, DeliveryJob, DeliveryOutcome, RecipientOutcome } from '../delivery/types';
import type { EventBatcher } from '../events';
import { QueueRepo, type DueRecipient, type RecipientUpdate } from '../store/queue-repo';
import type { Store } from '../store/store';
import { suppressesAddress } from './admission';
import type { DeliveryError } from '../errors';
import { retryDelayMs, shouldGiveUp } from './backoff';
import { isDiskFull } from '../store/db';
import { settleEnvelope } from '../store/message-files';
import { checkMessageFile, messageBody, wireSize, type StoredMessage } from './message-source';

export interface QueueOptions {
  store: Store;
  clock: Clock;
  deliver: DeliverFn;
  events: EventBatcher;
  concurrency?: number;
  perDomain?: number;
  lifetimeMs?: number;
  delayNoticeMs?: number;
  random?: () => number;
  /** While paused by a full disk, how often to try writing again. */
  resumeProbeMs?: number;
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
 * One delivery's result as it is written: the recipients' new states, the attempt history
 * (with the final status applied), notices, suppressions and the domain hint. Kept in memory
 * while the disk is full, so the delivery is never made again for want of its record.
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
}

interface Running {
  key: string;
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
  readonly #o: Required<Omit<QueueOptions, 'store' | 'clock' | 'deliver' | 'events'>> & QueueOptions;
  readonly #running = new Map<string, Running>();
  readonly #domainActive = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #started = false;
  #stopping = false;
  #onlyMessage: string | null = null;
  #lastDelayScan = -Infinity;
  readonly #waiters: (() => boolean)[] = [];
  /** Start-up recovery of 'sending' rows still to do (it may meet a full disk, too). */
  #recovered = false;
  /** Results delivered but not yet written (disk full), oldest first. */
  readonly #unwritten: Recording[] = [];
  #paused = false;
  #probe: TimerHandle | undefined;

  constructor(opts: QueueOptions) {
    this.#o = {
      concurrency: 8,
      perDomain: 2,
      lifetimeMs: 5 * 24 * 3600 * 1000,
      delayNoticeMs: 4 * 3600 * 1000,
      random: Math.random,
      resumeProbeMs: 5000,
      ...opts,
    };
    this.repo = new QueueRepo(opts.store);
  }

  configure(limits: { concurrency?: number; perDomain?: number; lifetimeMs?: number; delayNoticeMs?: number }): void {
    Object.assign(this.#o, Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)));
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

  /** Recovers interrupted deliveries and starts working. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#stopping = false;
    this.#recovered = false;
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
      this.#flush();
    } catch (e) {
      console.error('queue: could not record outcome', e);
    }
    this.#started = false;
  }

  /** Resolves once nothing is in flight and nothing is due now (CLI `run --once`, `send --wait`). */
  async drain(): Promise<void> {
    for (;;) {
      this.pump();
      if (this.#running.size === 0) {
        // A full disk: nothing more can be done now (the caller reports `paused`).
        if (this.#paused) return;
        const next = this.repo.nextDueAt(this.#onlyMessage);
        if (next === null || next > this.#o.clock.now()) return;
        continue;
      }
      await Promise.race([...this.#running.values()].map((r) => r.done));
    }
  }

  /**
   * Starts every delivery that is due and allowed by the limits, then arms the wake-up timer.
   * Results that could not be written are written first: no new claim while one is pending.
   * A full disk at any write pauses the queue instead of throwing (issue 10 item 6).
   */
  pump(): void {
    if (!this.#started || this.#stopping) return;
    const now = this.#o.clock.now();
    try {
      if (!this.#flush()) return this.#diskFull();
      if (!this.#recovered) {
        this.repo.recoverInterrupted(now);
        this.#recovered = true;
      }
      // The delay-notice scan reads every pending recipient: once a minute is plenty.
      if (now - this.#lastDelayScan >= DELAY_SCAN_MS) {
        this.#delayNotices(now);
        this.#lastDelayScan = now;
      }
      this.#claimDue(now);
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      return this.#diskFull();
    }
    if (this.#paused) this.#resumed();
    this.#armTimer(now);
  }

  #claimDue(now: number): void {
    let free = this.#freeSlots(now);
    if (free > 0) {
      for (const group of groupByMessageDomain(this.repo.due(now, Math.max(200, free * 50), this.#onlyMessage))) {
        if (free <= 0) break;
        const first = group[0]!;
        const key = `${first.message_id}|${first.domain}`;
        if (this.#running.has(key)) continue;
        if ((this.#domainActive.get(first.domain) ?? 0) >= this.#o.perDomain) continue;
        const claimed = new Set(this.repo.claim(group.map((r) => r.id), now));
        if (claimed.size === 0) continue;
        this.#launch(key, group.filter((r) => claimed.has(r.id)));
        free--;
      }
    }
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

  #armTimer(now: number): void {
    const next = this.repo.nextDueAt(this.#onlyMessage);
    if (next === null) return;
    // Due work blocked by limits is picked up when a running delivery finishes or stalls. While
    // anything waits, wake at least once a minute so delay notices go out on time.
    let at = Math.min(Math.max(next, now), this.#lastDelayScan + DELAY_SCAN_MS);
    if (next <= now) {
      for (const r of this.#running.values()) {
        if (now - r.activeAt < STALLED_AFTER_MS) at = Math.min(at, r.activeAt + STALLED_AFTER_MS);
      }
    }
    if (at >= this.#timerAt && this.#timer) return;
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#o.clock.setTimer(at - now, () => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.pump();
    });
  }

  #launch(key: string, group: DueRecipient[]): void {
    const first = group[0]!;
    const abort = new AbortController();
    const running: Running = { key, domain: first.domain, recipientIds: group.map((r) => r.id), abort, pending: new Map(), done: Promise.resolve(), activeAt: this.#o.clock.now() };
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
    this.#domainActive.set(first.domain, (this.#domainActive.get(first.domain) ?? 0) + 1);
    // The queued file is the message: missing or changed, nothing is dialed (issue 10 item 7).
    const fileProblem = checkMessageFile(message);
    running.done = (fileProblem ? Promise.resolve(failureOutcome(group, fileProblem)) : this.#o.deliver(job))
      .catch((e: unknown): DeliveryOutcome => internalFailure(group, e))
      .then((outcome) => {
        // Written in order: a later result never overtakes one still waiting for space.
        this.#unwritten.push(this.#decide(group, outcome, running.pending));
        if (!this.#flush()) this.#diskFull();
      })
      .catch((e: unknown) => {
        // Recording failed for another reason: the rows stay 'sending'; start-up recovery retries them.
        console.error('queue: could not record outcome', e);
      })
      .finally(() => {
        this.#running.delete(key);
        const n = (this.#domainActive.get(first.domain) ?? 1) - 1;
        if (n > 0) this.#domainActive.set(first.domain, n);
        else this.#domainActive.delete(first.domain);
        this.pump();
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
          const gaveUp: RecipientOutcome = { ...o, errorCode: 'GIVE_UP', reply: `gave up after ${failedAttempts} attempts; last: ${o.reply ?? o.errorCode ?? 'no reply'}` };
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

  /** Writes the results kept in memory, oldest first; false while the disk is still full. */
  #flush(): boolean {
    while (this.#unwritten.length > 0) {
      const rec = this.#unwritten[0]!;
      try {
        this.#write(rec);
      } catch (e) {
        if (isDiskFull(e)) return false;
        this.#unwritten.shift();
        throw e;
      }
      this.#unwritten.shift();
      this.#written(rec);
    }
    return true;
  }

  #write(rec: Recording): void {
    const store = this.#o.store;
    const { messageId, now } = rec;
    store.db.transaction(() => {
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
      for (const id of store.holdRules.holdDeferred(rec.updates.filter((u) => u.state === 'deferred').map((u) => u.id), now)) {
        const u = rec.updates.find((x) => x.id === id);
        if (u) u.state = 'held';
      }
    }).immediate();
  }

  #written(rec: Recording): void {
    const { messageId } = rec;
    this.#settle(messageId);
    for (const u of rec.updates) this.#emitState(messageId, u.id, u.state);
    this.#wake();
    for (const n of rec.notices) this.#o.events.emit({ type: 'notice', messageId, recipientId: n.recipientId, kind: 'failure', text: n.text });
    if (rec.deliveredInPlaintext) {
      this.#o.events.emit({ type: 'notice', messageId, kind: 'unencrypted', text: `delivered to ${rec.domain} without encryption` });
    }
  }

  /**
   * Keeps the message's envelope file in step with its recipients: finished messages are not
   * re-queued by a recovery, messages a user retries are again (store/message-files.ts).
   */
  #settle(messageId: string): void {
    const finished = this.repo.recipientsOf(messageId).every((r) => r.state === 'delivered' || r.state === 'failed' || r.state === 'canceled');
    try {
      settleEnvelope(this.#o.store.messagesDir, messageId, finished);
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

function groupByMessageDomain(rows: DueRecipient[]): DueRecipient[][] {
  const groups = new Map<string, DueRecipient[]>();
  for (const r of rows) {
    const key = `${r.message_id}|${r.domain}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()];
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
