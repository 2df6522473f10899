/**
 * The engine never reads the wall clock or arms timers directly: it asks a Clock. Production
 * uses the system clock; tests pass a ManualClock and advance days of retries in milliseconds.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds of this clock's time. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    // A pending retry timer must not keep a CLI process alive on its own.
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told to. Timers fire in order of due time during advance(). */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, { due: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { due: this.#now + Math.max(0, ms), fn });
    return { cancel: () => this.#timers.delete(id) };
  }

  /** Moves time forward by `ms`, firing due timers in order (each sees its own due time). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, { due: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].due <= target && (!next || entry[1].due < next[1].due)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].due;
      next[1].fn();
    }
    this.#now = target;
  }

  set(ms: number): void {
    this.advance(ms - this.#now);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }
}
