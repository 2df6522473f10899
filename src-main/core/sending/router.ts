/**
 * Which transport carries an attempt (delivery-rules §13; mox: queue.go's route lookup):
 * for each attempt, the first matching route names the transport, else "direct"; the
 * delivery runs with that transport, and every attempt record says which transport and
 * route carried it (the detail view, the log and every export show it).
 *
 *   direct         the engine as is, with the transport's IP family (addresses and dials).
 *   direct-socks5  the same engine — MX, MTA-STS, DANE decided here — with a dialer whose TCP
 *                  connections go through the SOCKS5 proxy.
 *   smarthost,
 *   submission     relay.ts.
 */
import { deliverDomain, type EngineOptions } from '../delivery/deliver';
import type { DeliverFn, DeliveryJob, DeliveryOutcome } from '../delivery/types';
import { DeliveryError } from '../errors';
import { familyResolver } from '../dns/family';
import { familyDialer } from '../net/ip-family';
import { parseProxy, socksDialer } from '../net/socks';
import type { StoredTransport, TransportsRepo } from '../store/transports-repo';
import type { TransportConfig } from '../transport/config';
import { deliverViaRelay } from '../delivery/relay';
import { pickRoute } from './routes';
import type { SecretStore } from './secrets';

export interface RouterOptions {
  /** The engine's options; read at each attempt (settings may replace its resolver). */
  engine: () => EngineOptions;
  repo: TransportsRepo;
  secrets: SecretStore;
}

export function createRoutedDeliverer(o: RouterOptions): DeliverFn {
  return async (job) => {
    const route = pickRoute(o.repo.routes(), { recipientDomain: job.domain, mailFrom: job.mailFrom, attempt: job.attemptNumber });
    const name = route?.transport ?? 'direct';
    const transport = o.repo.get(name);
    const outcome = transport ? await deliverWith(transport, job, o) : missingTransport(job, name, route?.id ?? null);
    for (const a of outcome.attempts) {
      a.transport = name;
      a.routeId = route?.id ?? null;
    }
    return outcome;
  };
}

/** The engine options for direct delivery with this transport's IP family and dialer. */
export function directEngine(t: TransportConfig, base: EngineOptions, secrets: SecretStore, secretRef: string | null): EngineOptions {
  let dialer = base.dialer;
  if (t.type === 'direct-socks5') {
    const proxy = parseProxy(t.proxy ?? '');
    if (!proxy) throw new Error(`transport ${t.name}: proxy ${t.proxy ?? ''} is not HOST:PORT`);
    dialer = socksDialer({ ...proxy, transport: t.name, user: t.user, password: secretRef ? async () => secrets.resolve(secretRef) : undefined });
  }
  // Kept sessions are keyed by what opens the connection: a session opened through one proxy or
  // address family is never reused by another transport.
  const transportKey = JSON.stringify([t.type, t.ipFamily, t.type === 'direct-socks5' ? (t.proxy ?? '') : '', t.type === 'direct-socks5' ? (t.user ?? '') : '', secretRef ?? '']);
  return { ...base, resolver: familyResolver(t.ipFamily, base.resolver), dialer: familyDialer(t.ipFamily, dialer), transportKey };
}

async function deliverWith(t: StoredTransport, job: DeliveryJob, o: RouterOptions): Promise<DeliveryOutcome> {
  const base = o.engine();
  const c = t.config;
  if (c.type === 'direct' || c.type === 'direct-socks5') return deliverDomain(job, directEngine(c, base, o.secrets, t.secretRef));
  return deliverViaRelay(job, c, {
    resolver: base.resolver,
    dialer: base.dialer,
    clock: base.clock,
    ehloName: base.ehloName,
    extraCa: base.extraCa,
    connectTimeoutMs: base.connectTimeoutMs,
    timeouts: base.timeouts,
    password: t.secretRef ? () => o.secrets.resolve(t.secretRef!) : undefined,
    sessionPool: base.sessionPool,
    credentialsKey: t.secretRef,
  });
}

function missingTransport(job: DeliveryJob, name: string, routeId: number | null): DeliveryOutcome {
  const err = new DeliveryError({ code: 'INVALID_INPUT', stage: 'queue', permanent: false, smtpCode: 451, enhancedCode: '4.3.5', message: `route ${routeId ?? ''} names transport ${name}, which does not exist` });
  return {
    recipients: job.recipients.map((r) => ({ recipientId: r.id, status: 'deferred', code: 451, enhancedCode: '4.3.5', reply: err.message, host: null, errorCode: err.code })),
    attempts: [],
    dialedIps: job.dialedIps,
    hint: null,
  };
}
