/**
 * The application core: one object that owns the store, the clock, the event stream, the
 * queue and the delivery engine. The Electron main process, the CLI and the headless test host
 * all create exactly this object — the same code runs everywhere. Everything with side effects
 * on the network (resolver, dialer, MTA-STS fetcher) can be injected, so tests drive the real
 * engine against loopback peers.
 */
import os from 'node:os';
import type { LocalDraft } from '../../shared/domain';
import { systemClock, type Clock } from './clock';
import type { EngineOptions } from './delivery/deliver';
import type { DeliverFn } from './delivery/types';
import { SessionPool, type SessionPoolOptions } from './delivery/session-pool';
import { TlsSessionCache, type TlsSessionCacheOptions } from './delivery/tls-sessions';
import { createStubResolver } from './dns';
import type { Resolver } from './dns/types';
import { EventBatcher } from './events';
import { tcpDialer, type Dialer } from './net/dialer';
import { probeDomain, ProbeCache } from './probe';
import { ReadinessService, type RouteCarrier } from './readiness/service';
import type { ReadinessTargets } from './readiness/targets';
import { Queue } from './queue/queue';
import { signingKeys } from './identities';
import { SqlitePolicyCache } from './store/mtasts-cache';
import type { StoredIdentity } from './store/rows';
import { recoverQueuedFiles, type RecoveryReport } from './store/recover';
import { Store } from './store/store';
import { TransportsRepo } from './store/transports-repo';
import { createRoutedDeliverer } from './sending/router';
import { SecretStore, type SecretCipher } from './sending/secrets';
import { TransportService } from './sending/service';
import { parseMailbox } from './compose/address';
import { DIRECT } from '../../shared/transport';
export { DataDirError } from './store/message-files';
export type { RecoveryReport } from './store/recover';
import { submitDraft, type SubmitOptions, type SubmitResult } from './submit';
import { undoSend, UndoWindows } from './undo-send';
import { sweepKeptAttachments } from './kept-attachments';
import { messageDsn, type MessageDsn } from './dsn/message-dsn';
import { sendNoticeDsn } from './dsn/send';
import { QueueFeatures } from './queue-features';
import { HistoryRetention } from './retention/retention';
import { DailyTlsReports } from './reports/daily';
import { httpsPoster, sendDayReports, type ReportSendDeps } from './reports/deliver';
import { buildDayReports, type BuiltReport, type ReportIdentity } from './reports/report';
import { createMtaStsFetcher, type MtaStsFetcher } from './tls-policy/mta-sts-fetch';
import { MtaStsRefresher } from './tls-policy/mta-sts-refresh';
import type { ProbeResult, Settings } from '../../shared/domain';
import { ignoredSettingNotice } from '../../shared/settings';

export interface NetworkOptions {
  /** DNS servers ("ip[:port]") instead of the settings' or the system's. */
  dnsServers?: string[];
  resolver?: Resolver;
  dialer?: Dialer;
  /** SMTP port of every MX (25; tests use others). */
  smtpPort?: number;
  /** Port of MTA-STS policy hosts (443; tests use others). */
  httpsPort?: number;
  /** Extra trusted root certificates (PEM file contents) for PKIX checks. */
  extraCa?: string[];
  ehloName?: string;
  mtaStsFetcher?: MtaStsFetcher;
  /** Where an MTA-STS host connects to (tests map mta-sts.<domain> to loopback). */
  mtaStsConnectTo?: (host: string) => string | Promise<string>;
  timeouts?: EngineOptions['timeouts'];
  connectTimeoutMs?: number;
  /** Where the readiness check reaches out (tests: loopback); unset fields use the defaults. */
  readinessTargets?: Partial<ReadinessTargets>;
  /** Bound on each readiness network step (default 10 s). */
  readinessTimeoutMs?: number;
  /** Whether a route would carry a message past direct delivery (transports and routes). */
  routeCarrier?: RouteCarrier;
  /** Wall-clock budget of one attempt to a domain (default 15 min; tests use less). */
  domainBudgetMs?: number;
  /** Chooses the dialer per attempt (transports, rules §13); default: `dialer` for every job. */
  dialerFor?: EngineOptions['dialerFor'];
  /** Replaces the HTTPS POST of TLS reports (tests). */
  reportPoster?: import('./reports/deliver').ReportPoster;
  /** Connection reuse (delivery/session-pool.ts): its limits, or false for a session per message. */
  sessionPool?: Partial<Omit<SessionPoolOptions, 'clock'>> | false;
  /** TLS session resumption to MX hosts (tls-sessions.ts); false: a full handshake every time. */
  tlsSessions?: Partial<Omit<TlsSessionCacheOptions, 'clock'>> | false;
}

export interface OutboxOptions {
  dataDir: string;
  /** Path of a better-sqlite3 build for the running ABI (Electron), when not node_modules'. */
  nativeBinding?: string | undefined;
  clock?: Clock;
  version?: string;
  logDir?: string | null;
  network?: NetworkOptions;
  /** Replaces the delivery engine entirely (queue tests). */
  deliver?: DeliverFn;
  /** Refresh cached MTA-STS policies in the background (RFC 8461 §10.2). Default true. */
  refreshMtaSts?: boolean;
  /** The platform keychain for relay/proxy passwords (Electron safeStorage); none in the CLI. */
  secretCipher?: SecretCipher | null;
  /** Where env: password references are read (tests pass their own). */
  env?: NodeJS.ProcessEnv;
  random?: () => number;
}

export class Outbox {
  readonly store: Store;
  readonly clock: Clock;
  readonly events: EventBatcher;
  readonly queue: Queue;
  /** Suppression list, hold rules and pause (rules §15). */
  readonly features: QueueFeatures;
  /** History retention: start() runs it in the background; run() once (`history prune`). */
  readonly retention: HistoryRetention;
  /** Daily outgoing TLS reports (RFC 8460): start() to send them (the setting, or `outbox run`). */
  readonly tlsReports: DailyTlsReports;
  /** Deletes the draft copies of sends whose undo window ended (core/undo-send.ts). */
  readonly undoWindows: UndoWindows;
  readonly dataDir: string;
  readonly version: string;
  readonly logDir: string | null;
  readonly engine: EngineOptions;
  readonly readiness: ReadinessService;
  readonly mtaStsRefresher: MtaStsRefresher;
  /** Transports, routes and their secrets (rules §13). */
  readonly transports: TransportService;
  /**
   * What the core noticed while starting and worked around, e.g. a stored setting that no longer
   * validates (its default is used). Shown by the app (app.info) and printed by the CLI.
   */
  readonly startupNotices: string[];
  readonly #probeCache: ProbeCache;
  readonly #network: NetworkOptions;
  /** DSNs being queued to senders; close() waits for them. */
  readonly #dsnSends = new Set<Promise<unknown>>();

  constructor(opts: OutboxOptions) {
    this.dataDir = opts.dataDir;
    this.clock = opts.clock ?? systemClock;
    this.store = Store.open(opts.dataDir, { nativeBinding: opts.nativeBinding });
    this.events = new EventBatcher(this.clock);
    this.version = opts.version ?? '0.0.0';
    this.logDir = opts.logDir ?? null;
    this.#network = opts.network ?? {};
    // A stored setting that does not validate costs only that key (its default is used).
    this.startupNotices = this.store.loadSettings().ignored.map(ignoredSettingNotice);
    this.engine = this.#engineOptions(opts);
    this.#probeCache = new ProbeCache(this.clock);
    const net = this.#network;
    this.readiness = new ReadinessService({
      engine: () => this.engine,
      store: this.store,
      dataDir: opts.dataDir,
      dnsServers: () => (net.dnsServers?.length ? net.dnsServers : this.store.getSettings().dnsServers),
      targets: net.readinessTargets,
      timeoutMs: net.readinessTimeoutMs,
      // Readiness judges by what the queue's router would do (rules §13), from the same store.
      routeCarrier: net.routeCarrier ?? ((m) => this.#routeCarrier(m)),
      withResolver: (fn) => this.withDiagnosticResolver(fn),
      directIpFamily: () => this.transports.get(DIRECT)?.ipFamily ?? 'both',
      emit: (e) => this.events.emit(e),
    });
    this.mtaStsRefresher = new MtaStsRefresher({
      cache: this.engine.mtaSts.cache,
      // Follows a resolver changed in settings.
      resolver: { txt: (name) => this.engine.resolver.txt(name) },
      fetcher: this.engine.mtaSts.fetcher,
      clock: this.clock,
    });
    if (opts.refreshMtaSts !== false) this.mtaStsRefresher.start();
    const settings = this.store.getSettings();
    const transportsRepo = new TransportsRepo(this.store);
    const secrets = new SecretStore(transportsRepo, opts.secretCipher ?? null, opts.env ?? process.env, () => this.clock.now());
    this.transports = new TransportService(transportsRepo, secrets, () => this.engine, () => this.clock.now());
    this.queue = new Queue({
      store: this.store,
      clock: this.clock,
      // Each attempt goes by the first matching route's transport, else direct (rules §13).
      deliver: opts.deliver ?? createRoutedDeliverer({ engine: () => this.engine, repo: transportsRepo, secrets }),
      events: this.events,
      concurrency: settings.concurrency,
      perDomain: settings.perDomainConcurrency,
      lifetimeMs: settings.lifetimeHours * 3600_000,
      delayNoticeMs: settings.delayNoticeHours * 3600_000,
      ...(opts.random ? { random: opts.random } : {}),
      closeIdleSessions: () => this.closeIdleSessions(),
    });
    this.features = new QueueFeatures({ store: this.store, clock: this.clock, queue: this.queue, events: this.events, onPause: () => void this.closeIdleSessions() });
    this.retention = new HistoryRetention({ store: this.store, clock: this.clock });
    this.tlsReports = new DailyTlsReports({ clock: this.clock, send: (day) => this.sendTlsReports(day) });
    this.undoWindows = new UndoWindows({ store: this.store, clock: this.clock });
    this.undoWindows.start();
    sweepKeptAttachments(this.store);
    this.events.subscribe((batch) => {
      for (const e of batch) {
        if (e.type !== 'notice' || e.recipientId === undefined || (e.kind !== 'failure' && e.kind !== 'delay')) continue;
        if (!this.store.getSettings().dsnToSender) continue;
        const p = sendNoticeDsn({ store: this.store, clock: this.clock }, e.messageId, e.recipientId, this.#dsnOptions())
          .then((id) => {
            if (id) {
              this.events.emit({ type: 'message-added', messageId: id });
              this.queue.pump();
            }
          })
          .catch((err: unknown) => console.error('outbox: could not queue the DSN', err))
          .finally(() => this.#dsnSends.delete(p));
        this.#dsnSends.add(p);
      }
    });
  }

  #routeCarrier(m: { from: string; recipientDomains: string[] }): string | null {
    // The envelope form, as the queue matches routes: local@A-label ("" when unparsable).
    const parsed = parseMailbox(m.from);
    const domains = m.recipientDomains.map((d) => d.toLowerCase().replace(/\.$/, ''));
    return this.transports.carrier(parsed.ok ? parsed.value.envelope : '', domains);
  }

  #dsnOptions() {
    return { reportingMta: this.engine.ehloName, lifetimeMs: this.store.getSettings().lifetimeHours * 3600_000 };
  }

  /** Who the TLS reports are from: the default identity, else postmaster at the EHLO name. */
  #reportIdentity(): { who: ReportIdentity; identity: StoredIdentity | undefined } {
    const identity = this.store.listIdentities().find((i) => i.isDefault) ?? this.store.listIdentities()[0];
    const address = identity?.address ?? `postmaster@${this.engine.ehloName}`;
    return { who: { organizationName: 'Direct Outbox', contactInfo: address, submitter: address.slice(address.lastIndexOf('@') + 1).toLowerCase() }, identity };
  }

  #reportDeps(): ReportSendDeps {
    const net = this.#network;
    const resolver = () => this.engine.resolver;
    const { who, identity } = this.#reportIdentity();
    return {
      store: this.store,
      clock: this.clock,
      resolver: resolver(),
      who,
      // RFC 8460 §3: signed with the reporting identity's keys, like every message it sends.
      ...(identity ? { dkim: signingKeys(identity), identityId: identity.id } : {}),
      post:
        net.reportPoster ??
        httpsPoster({
          ...(net.extraCa?.length ? { ca: net.extraCa } : {}),
          connectTo: async (host) => {
            const a = await resolver().a(host).catch(() => null);
            const ip = a?.records[0] ?? (await resolver().aaaa(host)).records[0];
            if (!ip) throw new Error(`${host} has no address`);
            return ip;
          },
        }),
    };
  }

  /** The TLS reports one UTC day's attempts make (not sent). */
  buildTlsReports(day: string): Promise<BuiltReport[]> {
    return buildDayReports(this.store, day, this.#reportIdentity().who);
  }

  /** Sends one UTC day's TLS reports (each destination once); mailto: reports are queued. */
  async sendTlsReports(day: string) {
    const results = await sendDayReports(this.#reportDeps(), day);
    if (results.some((r) => r.ok && r.destination.startsWith('mailto:'))) this.queue.pump();
    return results;
  }

  /** The RFC 3464 DSN of a message (its failed and delay-notified recipients), or null. */
  dsn(messageId: string, recipientIds?: number[]): MessageDsn | null {
    return messageDsn(this.store, messageId, { ...this.#dsnOptions(), recipientIds });
  }

  #engineOptions(opts: OutboxOptions): EngineOptions {
    const net = opts.network ?? {};
    const settings = this.store.getSettings();
    const servers = net.dnsServers?.length ? net.dnsServers : settings.dnsServers.length ? settings.dnsServers : undefined;
    const extraCa = net.extraCa ?? [];
    // The delivery engine's resolver caches answers per TTL (issue 14 item 4).
    const resolver = net.resolver ?? createStubResolver({ servers, clock: this.clock, cache: {} });
    const engine = () => this.engine;
    // The policy host is found through the same resolver as the MX hosts (not the OS's), so a
    // configured resolver is used for everything; PKIX on the HTTPS connection still decides.
    const connectTo =
      net.mtaStsConnectTo ??
      (async (host: string) => {
        const r = engine().resolver; // follows a resolver changed in settings
        const a = await r.a(host).catch(() => null);
        const ip = a?.records[0] ?? (await r.aaaa(host)).records[0];
        if (!ip) throw new Error(`${host} has no address`);
        return ip;
      });
    return {
      resolver,
      dialer: closeOnAbort(net.dialer ?? tcpDialer),
      clock: this.clock,
      mtaSts: {
        fetcher:
          net.mtaStsFetcher ??
          createMtaStsFetcher({
            ...(net.httpsPort ? { port: net.httpsPort } : {}),
            ...(extraCa.length ? { ca: extraCa } : {}),
            connectTo,
          }),
        cache: new SqlitePolicyCache(this.store),
      },
      ehloName: net.ehloName || settings.ehloName || defaultEhloName(),
      smtpPort: net.smtpPort ?? 25,
      extraCa,
      ...(net.timeouts ? { timeouts: net.timeouts } : {}),
      ...(net.connectTimeoutMs ? { connectTimeoutMs: net.connectTimeoutMs } : {}),
      ...(net.domainBudgetMs ? { domainBudgetMs: net.domainBudgetMs } : {}),
      ...(net.dialerFor ? { dialerFor: net.dialerFor } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      ...(net.sessionPool === false ? {} : { sessionPool: new SessionPool({ clock: this.clock, ...net.sessionPool }) }),
      ...(net.tlsSessions === false ? {} : { tlsSessions: new TlsSessionCache({ clock: this.clock, ...net.tlsSessions }) }),
    };
  }

  /**
   * Runs `fn` with a resolver for diagnoses the user re-runs (the readiness check, an identity's
   * DNS check): the servers delivery uses, but never delivery's answer cache — a record just
   * published, rotated or delisted must show at the next run, not after its TTL (or a negative
   * TTL of hours). An injected resolver (tests, CLI) is used as it is.
   */
  async withDiagnosticResolver<T>(fn: (resolver: Resolver) => Promise<T>): Promise<T> {
    const net = this.#network;
    if (net.resolver) return fn(net.resolver);
    const settings = this.store.getSettings();
    const servers = net.dnsServers?.length ? net.dnsServers : settings.dnsServers.length ? settings.dnsServers : undefined;
    const resolver = createStubResolver({ servers, clock: this.clock });
    try {
      return await fn(resolver);
    } finally {
      resolver.close?.();
    }
  }

  /**
   * Closes the kept SMTP sessions that are idle (QUIT). For whoever stops sending for a while:
   * pause (QueueFeatures), the queue's stop, close(). Sessions in use are kept by their delivery.
   */
  closeIdleSessions(): Promise<void> {
    return this.engine.sessionPool?.closeIdle() ?? Promise.resolve();
  }

  /**
   * Applies changed settings to the running engine and queue. Explicit network options (CLI
   * flags, tests) keep precedence over settings.
   */
  applySettings(settings: Settings): void {
    this.queue.configure({
      concurrency: settings.concurrency,
      perDomain: settings.perDomainConcurrency,
      lifetimeMs: settings.lifetimeHours * 3600_000,
      delayNoticeMs: settings.delayNoticeHours * 3600_000,
    });
    const net = this.#network;
    if (!net.resolver && !net.dnsServers?.length) {
      // The previous resolver is not closed: deliveries in flight still use it; its sockets
      // close when idle.
      this.engine.resolver = createStubResolver({ servers: settings.dnsServers.length ? settings.dnsServers : undefined, clock: this.clock, cache: {} });
    }
    if (!net.ehloName) this.engine.ehloName = settings.ehloName || defaultEhloName();
    if (settings.tlsReports) this.tlsReports.start();
    else void this.tlsReports.stop();
  }

  /**
   * Validates, builds and durably queues a draft; the queue picks it up at once, or at the end
   * of its undo window (`undoWindowMs`, the app's sends: core/undo-send.ts).
   */
  async submit(draft: LocalDraft, opts: SubmitOptions = {}): Promise<SubmitResult> {
    const result = await submitDraft(draft, { store: this.store, clock: this.clock }, opts);
    if (result.ok) {
      if (result.undoUntil !== null) this.undoWindows.added(result.undoUntil);
      this.events.emit({ type: 'message-added', messageId: result.messageId });
      this.queue.pump();
    }
    return result;
  }

  /** The user saw these notices (dismissed them): announced, so the tray's failed count follows. */
  markNoticesSeen(ids: number[]): void {
    const changed = this.store.markNoticesSeen(ids);
    if (changed.length > 0) this.events.emit({ type: 'notices-seen', ids: changed });
  }

  /** Undo of a send within its window (core/undo-send.ts); the message is gone, its draft back. */
  undoSend(messageId: string): { draftId: string } {
    const r = undoSend(this.store, messageId, this.clock.now());
    this.events.emit({ type: 'message-removed', messageId });
    return r;
  }

  /** The pre-send probe of a recipient domain (cached for a few minutes). */
  probe(domain: string): Promise<ProbeResult> {
    return this.#probeCache.get(domain, () => probeDomain(domain, this.engine, this.store));
  }

  /**
   * When opening fails with DataDirError (the database is missing, empty or damaged while
   * messages/ holds queued messages): sets a damaged database aside and re-queues every queued
   * file that matches its envelope. The app offers it; `outbox recover` runs it.
   */
  static recover(dataDir: string, opts: { nativeBinding?: string | undefined; now?: number } = {}): Promise<RecoveryReport> {
    return recoverQueuedFiles(dataDir, { nativeBinding: opts.nativeBinding, ...(opts.now !== undefined ? { now: opts.now } : {}) });
  }

  async close(): Promise<void> {
    await this.mtaStsRefresher.stop();
    await this.tlsReports.stop();
    await this.retention.stop();
    this.undoWindows.stop();
    this.events.flush();
    await Promise.all([...this.#dsnSends]);
    await this.queue.stop();
    await this.engine.sessionPool?.close();
    if (!this.#network.resolver) this.engine.resolver.close?.();
    this.events.flush();
    this.store.close();
  }
}

/**
 * A delivery's abort signal ends its connection at any stage, not only while connecting: the
 * socket is destroyed, the SMTP session fails as "connection closed" and the recipients are
 * deferred. An aborted delivery dials nothing more.
 */
function closeOnAbort(dial: Dialer): Dialer {
  return async (opts) => {
    const { signal } = opts;
    if (signal?.aborted) throw new Error('connect aborted');
    const socket = await dial(opts);
    if (signal) {
      const onAbort = () => socket.destroy(new Error('delivery aborted'));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return socket;
  };
}

/** RFC 5321 §4.1.1.1: the client's FQDN. A desktop rarely has one; the host name is the best guess. */
function defaultEhloName(): string {
  const h = os.hostname().trim().toLowerCase();
  return /^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(h) ? h : 'localhost.localdomain';
}
