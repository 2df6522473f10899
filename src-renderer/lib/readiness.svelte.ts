/**
 * Renderer state of the readiness check: the last report main has, a run in progress, and
 * errors as state. Main re-runs the check when the network changes and says so with a
 * `readiness` event; the store then fetches the new report.
 */
import type { ReadinessReport } from '../../shared/readiness';
import { call, subscribe } from './api';
import { errorText } from './format';

export class ReadinessStore {
  #report = $state.raw<ReadinessReport | null>(null);
  #loaded = $state(false);
  #running = $state(false);
  #error = $state<string | null>(null);

  get report() {
    return this.#report;
  }
  /** The last report has been asked for (null then means: never run on this computer). */
  get loaded() {
    return this.#loaded;
  }
  get running() {
    return this.#running;
  }
  get error() {
    return this.#error;
  }

  readonly counts = $derived.by(() => {
    const c = { pass: 0, warn: 0, fail: 0, unknown: 0 };
    for (const x of this.#report?.checks ?? []) c[x.status]++;
    return c;
  });

  async load(): Promise<void> {
    try {
      this.#report = await call('readiness.last', {});
      this.#error = null;
    } catch (e) {
      this.#error = errorText(e);
    } finally {
      this.#loaded = true;
    }
  }

  async run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#error = null;
    try {
      this.#report = await call('readiness.run', {});
    } catch (e) {
      this.#error = errorText(e);
    } finally {
      this.#running = false;
    }
  }

  /** Follows main's re-runs (network changes); returns the unsubscribe function. */
  connect(): () => void {
    return subscribe('outbox.events', (batch) => {
      if (batch.some((e) => e.type === 'readiness')) void this.load();
    });
  }
}
