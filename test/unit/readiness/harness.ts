/**
 * Readiness checks against in-process peers: the fake DNS resolver for every record, scripted
 * SMTP peers on 127.0.0.1 for port 25. Addresses the checks merely *read* (a public IP named
 * in an EHLO reply, 198.51.100.x / 2001:db8::x documentation addresses) are never dialed.
 */
import { systemClock } from '../../../src-main/core/clock';
import { createStubResolver } from '../../../src-main/core/dns';
import { tcpDialer } from '../../../src-main/core/net/dialer';
import type { ReadinessDeps } from '../../../src-main/core/readiness';
import type { ReadinessTargets } from '../../../src-main/core/readiness/targets';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';

export async function readinessHarness() {
  const dns = await startFakeDns();
  const resolver = createStubResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 });
  const deps = (over: Partial<Omit<ReadinessDeps, 'targets'>> & { targets?: Partial<ReadinessTargets> } = {}): ReadinessDeps => {
    const { targets, ...rest } = over;
    return {
      resolver,
      resolverServers: [dns.address],
      resolverFor: (server) => {
        // Only loopback servers may ever be asked in a test.
        if (!/^127\.|^\[::1\]/.test(server)) throw new Error(`test tried to reach ${server}`);
        return createStubResolver({ servers: [server], timeoutMs: 300, tries: 1 });
      },
      dialer: (o) => {
        if (!o.ip.startsWith('127.') && o.ip !== '::1') throw new Error(`test tried to dial ${o.ip}`);
        return tcpDialer(o);
      },
      clock: systemClock,
      ehloName: 'desk.example.test',
      timeoutMs: 400,
      identities: [],
      directIpFamily: 'both',
      ...rest,
      targets: { port25: [], myIp: [], dnsbl: [], dnssecSigned: 'signed.test', dnssecBogus: 'bogus.test', ...targets },
    };
  };
  return { dns, resolver, deps, close: () => dns.close() };
}

export type Harness = Awaited<ReturnType<typeof readinessHarness>> & { dns: FakeDns };
