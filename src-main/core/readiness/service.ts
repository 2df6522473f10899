/**
 * The readiness check as the app and the CLI run it: the deps built from the running engine
 * (its resolver, dialer, EHLO name), the identities from the store, the targets injected at
 * start-up, and the last report kept (in memory and in <dataDir>/readiness.json) so the panel
 * can show it at once and compose can warn before a send that cannot work.
 *
 * The last report is a cache of a diagnosis, never data anyone depends on: a missing,
 * truncated or foreign file is ignored (nothing stops the app from starting).
 */
import fs from 'node:fs';
import { getServers } from 'node:dns';
import path from 'node:path';
import type { OutboxEvent } from '../../../shared/contract';
import { ReadinessReport, type ReadinessSendBlock } from '../../../shared/readiness';
import type { Clock } from '../clock';
import { parseMailbox } from '../compose/address';
import { createStubResolver } from '../dns';
import type { Resolver } from '../dns/types';
import { DeliveryError } from '../errors';
import type { Dialer } from '../net/dialer';
import type { Store } from '../store/store';
import { watchNetwork } from './network-watch';
import { port25Blocked, runReadiness } from './run';
import { resolveTargets, type ReadinessTargets } from './targets';
import type { IpFamilySetting, ReadinessIdentity } from './types';

export interface ReadinessEngine {
  resolver: Resolver;
  dialer: Dialer;
  clock: Clock;
  ehloName: string;
}

/**
 * Would a configured route carry a message from `from` to these recipient domains through
 * another transport than direct delivery (issue 12 item 3)? Returns that transport's name, or
 * null when every recipient goes direct. Until routes exist, nothing is carried.
 */
export type RouteCarrier = (message: { from: string; recipientDomains: string[] }) => string | null;

export interface ReadinessServiceOptions {
  engine: () => ReadinessEngine;
  store: Store;
  dataDir: string;
  /** The resolver's servers as configured ("ip[:port]"); [] = the system's. */
  dnsServers: () => string[];
  targets?: Partial<ReadinessTargets> | undefined;
  timeoutMs?: number | undefined;
  /** The direct transport's IP family; 'both' until transports exist. */
  directIpFamily?: (() => IpFamilySetting) | undefined;
  routeCarrier?: RouteCarrier | undefined;
  /**
   * Runs a check with a resolver that does not answer from delivery's cache (a re-run after
   * delisting or publishing a record must see the change). Default: the engine's resolver.
   */
  withResolver?: (<T>(fn: (resolver: Resolver) => Promise<T>) => Promise<T>) | undefined;
  /** Tells the renderer a new report exists (after a re-run on a network change). */
  emit?: ((event: OutboxEvent) => void) | undefined;
}

const FILE = 'readiness.json';

export class ReadinessService {
  #last: ReadinessReport | null;
  #running: Promise<ReadinessReport> | null = null;
  readonly #o: ReadinessServiceOptions;

  constructor(o: ReadinessServiceOptions) {
    this.#o = o;
    this.#last = readLast(path.join(o.dataDir, FILE));
  }

  get last(): ReadinessReport | null {
    return this.#last;
  }

  /**
   * Runs every check. `from` limits the per-identity checks to that address (with its DKIM key
   * when it is an identity's); without it, every identity is checked. Concurrent calls share
   * one run.
   */
  run(opts: { from?: string | undefined } = {}): Promise<ReadinessReport> {
    if (opts.from === undefined && this.#running) return this.#running;
    const p = this.#run(opts.from).finally(() => {
      if (this.#running === p) this.#running = null;
    });
    if (opts.from === undefined) this.#running = p;
    return p;
  }

  async #run(from: string | undefined): Promise<ReadinessReport> {
    const targets = resolveTargets(this.#o.targets ?? {});
    const engine = this.#o.engine();
    const servers = this.#o.dnsServers();
    const withResolver = this.#o.withResolver ?? (<T>(fn: (r: Resolver) => Promise<T>) => fn(engine.resolver));
    const report = await withResolver((resolver) => runReadiness({
      resolver,
      resolverServers: servers.length ? servers : getServers(),
      resolverFor: (server) => createStubResolver({ servers: [server], clock: engine.clock, timeoutMs: 3000, tries: 2 }),
      dialer: engine.dialer,
      clock: engine.clock,
      ehloName: engine.ehloName,
      timeoutMs: this.#o.timeoutMs ?? 10_000,
      identities: this.#identities(from),
      targets,
      directIpFamily: this.#o.directIpFamily?.() ?? 'both',
    }));
    this.#last = report;
    writeLast(path.join(this.#o.dataDir, FILE), report);
    return report;
  }

  #identities(from: string | undefined): ReadinessIdentity[] {
    // DNS and SPF work on the A-label form of the domain (RFC 5890), which is also what the
    // envelope carries.
    const ascii = (a: string) => {
      const p = parseMailbox(a);
      return p.ok ? p.value.envelope : a;
    };
    const all = this.#o.store.listIdentities().map(
      (i): ReadinessIdentity => ({
        address: ascii(i.address),
        dkimKeys: i.keys.map((k) => ({ selector: k.selector, algorithm: k.algorithm, publicKey: k.publicKey })),
      }),
    );
    if (from === undefined) return all;
    const parsed = parseMailbox(from, { field: 'from' });
    if (!parsed.ok) throw new DeliveryError({ code: 'INVALID_INPUT', message: `--from: ${parsed.error.message}`, stage: 'compose', permanent: true });
    const address = parsed.value.envelope;
    return [all.find((i) => i.address.toLowerCase() === address.toLowerCase()) ?? { address, dkimKeys: [] }];
  }

  /**
   * Re-runs the check whenever the network changes (the app does this; the CLI does not), and
   * tells the renderer. A failing run leaves the last report in place. Returns the stop function.
   */
  watchNetwork(opts: { intervalMs?: number; interfaces?: Parameters<typeof watchNetwork>[0]['interfaces'] } = {}): () => void {
    return watchNetwork({
      clock: this.#o.engine().clock,
      ...opts,
      onChange: () => {
        this.run().then(
          (r) => this.#o.emit?.({ type: 'readiness', ranAt: r.ranAt }),
          () => {},
        );
      },
    });
  }

  /** What compose shows before sending (issue 12 item 5). */
  sendBlock(message: { from: string; recipientDomains: string[] }): ReadinessSendBlock {
    const blocked = port25Blocked(this.#last);
    const carriedBy = blocked ? (this.#o.routeCarrier?.(message) ?? null) : null;
    return { port25Blocked: blocked, carriedBy, blocked: blocked && carriedBy === null, checkedAt: this.#last?.ranAt ?? null };
  }
}

function readLast(file: string): ReadinessReport | null {
  try {
    const parsed = ReadinessReport.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Write-then-rename: a crash leaves the old report or the new one, never half of one. */
function writeLast(file: string, report: ReadinessReport): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(report));
    fs.renameSync(tmp, file);
  } catch {
    // A full disk loses the cached report only; the result was still returned.
    fs.rmSync(tmp, { force: true });
  }
}
