/**
 * The application core: one object that owns the store, the clock and the event stream, and
 * (as the engine grows) the queue and the delivery engine. The Electron main process, the CLI
 * and the headless test host all create exactly this object — the same code runs everywhere.
 */
import { systemClock, type Clock } from './clock';
import { EventBatcher } from './events';
import { Store } from './store/store';

export interface OutboxOptions {
  dataDir: string;
  /** Path of a better-sqlite3 build for the running ABI (Electron), when not node_modules'. */
  nativeBinding?: string | undefined;
  clock?: Clock;
  version?: string;
  logDir?: string | null;
}

export class Outbox {
  readonly store: Store;
  readonly clock: Clock;
  readonly events: EventBatcher;
  readonly dataDir: string;
  readonly version: string;
  readonly logDir: string | null;

  constructor(opts: OutboxOptions) {
    this.dataDir = opts.dataDir;
    this.clock = opts.clock ?? systemClock;
    this.store = Store.open(opts.dataDir, { nativeBinding: opts.nativeBinding });
    this.events = new EventBatcher(this.clock);
    this.version = opts.version ?? '0.0.0';
    this.logDir = opts.logDir ?? null;
  }

  close(): void {
    this.events.flush();
    this.store.close();
  }
}
