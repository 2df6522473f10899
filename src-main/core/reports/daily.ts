/**
 * The daily sending of TLS reports (mox: "we send reports once a day"): a little after each
 * UTC midnight, the previous day's reports go out; on start, a day missed while the app was
 * closed is caught up (only the one day before today: older results are history, not news).
 * Whether it runs at all is the caller's choice: off by default in the app (a desktop user may
 * not want to send reports), on by default in `outbox run` (`--no-tls-reports`).
 */
import type { Clock, TimerHandle } from '../clock';
import { DAY_MS } from './report';
import type { DestinationResult } from './deliver';

/** The UTC day before the one `ms` falls in. */
export function previousUtcDay(ms: number): string {
  return new Date(Math.floor(ms / DAY_MS) * DAY_MS - DAY_MS).toISOString().slice(0, 10);
}

export class DailyTlsReports {
  #timer: TimerHandle | undefined;
  #running: Promise<unknown> | null = null;
  #on = false;

  constructor(
    private readonly deps: {
      clock: Clock;
      send: (date: string) => Promise<DestinationResult[]>;
      /** Some minutes after midnight, so the last attempts of the day are recorded. */
      delayAfterMidnightMs?: number;
      onError?: (e: unknown) => void;
    },
  ) {}

  get running(): boolean {
    return this.#on;
  }

  start(): void {
    if (this.#on) return;
    this.#on = true;
    this.#run(); // catch up on yesterday (already-sent destinations are skipped)
  }

  #run(): void {
    const day = previousUtcDay(this.deps.clock.now());
    this.#running = this.deps
      .send(day)
      .catch((e: unknown) => (this.deps.onError ?? ((err) => console.error('tls reports:', err)))(e))
      .finally(() => {
        this.#running = null;
        this.#arm();
      });
  }

  #arm(): void {
    if (!this.#on) return;
    const now = this.deps.clock.now();
    const next = Math.floor(now / DAY_MS) * DAY_MS + DAY_MS + (this.deps.delayAfterMidnightMs ?? 10 * 60_000);
    this.#timer = this.deps.clock.setTimer(next - now, () => this.#run());
  }

  async stop(): Promise<void> {
    this.#on = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#running;
  }
}
