/**
 * The pre-send probe (delivery-rules §11): what a recipient domain offers, without sending —
 * MX hosts, MTA-STS mode, authentic TLSA records, and per host whether STARTTLS and REQUIRETLS
 * are offered and whether the certificate verifies (connect, EHLO, STARTTLS, EHLO, QUIT).
 * Short timeouts so the composer gets an answer within seconds; results cached a few minutes
 * and written to the recipient-domain TLS hints.
 */
import { domainToASCII } from 'node:url';
import type { ProbeHost, ProbeResult } from '../../shared/domain';
import type { Clock } from './clock';
import { gatherDestinations, pickAddresses, resolveHost } from './delivery/destinations';
import { gatherTlsa } from './delivery/tlsa';
import type { EngineOptions } from './delivery/types';
import { DeliveryError } from './errors';
import { SmtpSession } from './smtp/client';
import { verifyDane } from './tls-policy/dane';
import { resolveMtaSts } from './tls-policy/mta-sts';
import { policyAllowsMx } from './tls-policy/mta-sts-policy';
import { secureContextFor } from './tls-policy/pkix';
import { tlsFailureFromAuthorizationError } from './tls-policy/tlsrpt';
import type { Store } from './store/store';

const PROBE_TIMEOUT_MS = 6_000;
const MAX_HOSTS = 3;
export const PROBE_CACHE_MS = 5 * 60_000;

export async function probeDomain(input: string, o: EngineOptions, store: Store): Promise<ProbeResult> {
  const domain = domainToASCII(input.trim().toLowerCase().replace(/\.$/, ''));
  const at = o.clock.now();
  const result: ProbeResult = { domain: domain || input, mx: [], mtaStsMode: null, mtaStsId: null, dane: false, hosts: [], error: null, errorCode: null, errorPermanent: false, at };
  if (!domain) return { ...result, error: 'not a valid domain name' };

  const [sts, dest] = await Promise.allSettled([
    resolveMtaSts(domain, { resolver: o.resolver, ...o.mtaSts, clock: o.clock }),
    gatherDestinations(domain, o.resolver, o.random),
  ]);
  const policy = sts.status === 'fulfilled' ? sts.value.policy : undefined;
  if (sts.status === 'fulfilled') {
    result.mtaStsMode = sts.value.mode;
    result.mtaStsId = sts.value.id ?? null;
  }
  if (dest.status === 'rejected') {
    const e = dest.reason;
    if (!(e instanceof DeliveryError)) return { ...result, error: String(e) };
    return { ...result, error: `${e.enhancedCode ? `${e.enhancedCode} ` : ''}${e.message}`, errorCode: e.code, errorPermanent: e.permanent };
  }
  result.mx = dest.value.hosts.map((h) => h.host);

  result.hosts = await Promise.all(
    dest.value.hosts.slice(0, MAX_HOSTS).map(async (target) => {
      const host: ProbeHost = {
        host: target.host,
        ip: null,
        starttls: false,
        requiretls: false,
        tlsVersion: null,
        verification: null,
        verificationReason: null,
        error: null,
        tlsa: 'none',
        // RFC 8461 §4.1: the same match the delivery makes (deliver.ts), so the verdict agrees with it.
        mtaStsMatch: policy && result.mtaStsMode !== 'none' ? policyAllowsMx(policy, target.host) : null,
      };
      let session: SmtpSession | undefined;
      try {
        const addrs = await resolveHost(target.host, o.resolver);
        // The same gathering as delivery (RFC 7672 §2.2.2 CNAME rules, DANE-TA names).
        const gathered = await gatherTlsa({ host: target.host, addrs, dest: dest.value, domain }, o.resolver);
        // RFC 7672 §2.2 / rules §3: as delivery does, a failed TLSA lookup on a secure name is
        // not "no DANE" — that host would be deferred, so the probe cannot judge it either.
        if (gathered.kind === 'error') throw new Error(`DANE (TLSA) lookup failed: ${gathered.error.message}`);
        if (gathered.kind === 'records') host.tlsa = gathered.tlsaClass;
        const tlsa = gathered.kind === 'records' && gathered.tlsaClass === 'usable' ? gathered.records : [];
        if (tlsa.length) result.dane = true;
        const ip = pickAddresses(addrs, [])[0];
        if (!ip) throw new Error('no address');
        host.ip = ip;
        const socket = await o.dialer({ ip, port: o.smtpPort ?? 25, timeoutMs: PROBE_TIMEOUT_MS });
        const timeouts = { greeting: PROBE_TIMEOUT_MS, command: PROBE_TIMEOUT_MS, tlsHandshake: PROBE_TIMEOUT_MS, quit: 2_000 };
        session = await SmtpSession.open({ socket, host: target.host, ip, ehloName: o.ehloName, clock: o.clock, timeouts });
        if (session.capabilities.starttls) {
          const tls = await session.starttls({ servername: target.host, secureContext: secureContextFor(o.extraCa) });
          host.starttls = true;
          host.tlsVersion = tls.version;
          host.requiretls = session.capabilities.requireTls;
          if (tlsa.length) {
            const v = verifyDane({ records: tlsa, chain: tls.chain, allowedNames: gathered.allowedNames, now: o.clock.now() });
            host.verification = v.verified ? v.method : 'none';
            host.verificationReason = v.verified ? null : v.reason;
          } else if (tls.authorized) {
            host.verification = 'pkix';
          } else {
            host.verification = 'none';
            host.verificationReason = tlsFailureFromAuthorizationError(tls.authorizationError).reason;
          }
        }
        await session.quit().catch(() => session?.close());
      } catch (e) {
        session?.close();
        host.error = e instanceof Error ? e.message : String(e);
      }
      return host;
    }),
  );

  // Rules §11: the primary host that answered speaks for the domain.
  const seen = result.hosts.find((h) => h.error === null);
  if (seen) {
    store.upsertDomainTls({ domain, starttls: seen.starttls, requiretls: seen.starttls && seen.requiretls, mtaStsMode: result.mtaStsMode, dane: result.dane, seenAt: o.clock.now() });
  }
  return result;
}

/** A few minutes of memory per domain, and one probe at a time per domain. */
export class ProbeCache {
  readonly #entries = new Map<string, { at: number; result: Promise<ProbeResult> }>();
  constructor(private readonly clock: Clock) {}

  get(domain: string, run: () => Promise<ProbeResult>): Promise<ProbeResult> {
    const key = domain.trim().toLowerCase();
    const hit = this.#entries.get(key);
    if (hit && this.clock.now() - hit.at < PROBE_CACHE_MS) return hit.result;
    const result = run();
    this.#entries.set(key, { at: this.clock.now(), result });
    result.catch(() => this.#entries.delete(key));
    return result;
  }
}
