/**
 * What the core says about the app as a whole, beside any one message: the notices it raised
 * while starting (a stored setting it ignored, issue 11 §2) and whether the queue itself has
 * paused sending (disk full, issue 10 item 6). The start-up notices come once from app.info;
 * the queue's state from app.info, then from its `queue-state` events.
 */
import { call, subscribe } from './api';

export class AppNoticesStore {
  #startup = $state.raw<string[]>([]);
  #queuePaused = $state.raw<string | null>(null);
  #resumed = $state.raw(false);

  /** Start-up notices not yet dismissed. */
  get startup(): string[] {
    return this.#startup;
  }
  /** The queue's own reason for not sending (e.g. "disk full: sending paused"), or null. */
  get queuePaused(): string | null {
    return this.#queuePaused;
  }
  /** Sending resumed after a pause, and the user has not dismissed that yet. */
  get resumed(): boolean {
    return this.#resumed;
  }

  dismissStartup(): void {
    this.#startup = [];
  }
  dismissResumed(): void {
    this.#resumed = false;
  }

  connect(): () => void {
    const off = subscribe('outbox.events', (batch) => {
      for (const e of batch) {
        if (e.type !== 'queue-state') continue;
        this.#resumed = !e.paused && this.#queuePaused !== null;
        this.#queuePaused = e.paused ? e.text : null;
      }
    });
    call('app.info', {})
      .then((info) => {
        this.#startup = info.startupNotices;
        // An event may have arrived first; it is newer than this answer only if it paused.
        if (this.#queuePaused === null && !this.#resumed) this.#queuePaused = info.queueNotice;
      })
      .catch(() => {});
    return off;
  }
}
