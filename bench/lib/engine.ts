/**
 * The real engine (Outbox → queue → delivery → SMTP client) wired to loopback sinks: a fake
 * DNS server (test/helpers/fake-dns, in this process) maps each bench domain's MX host to one
 * of the sink addresses; the engine's smtpPort is the sinks' port.
 */
import type { LocalDraft as Draft } from '../../shared/domain';
import type { Dialer } from '../../src-main/core/net/dialer';
import { Outbox } from '../../src-main/core/outbox';
import { startFakeDns, type FakeDns } from '../../test/helpers/fake-dns';

export function domainName(i: number): string {
  return `bench${i}.test`;
}

/**
 * The bench's DNS answers "no such record" (no MTA-STS, no AAAA, no TLSA) with an SOA, as real
 * servers do (RFC 2308 §3), so the engine may cache those answers as it would in the field;
 * without it every delivery asked again (the cache rightly keeps no negative answer lacking
 * an SOA), a cost Postfix's queue, run with DNS off, never pays.
 */
export const BENCH_NEGATIVE_TTL_S = 300;

/** Serves MX for `domains` domains, spreading their MX hosts over `addresses`. */
export async function benchDns(domains: number, addresses: string[]): Promise<FakeDns> {
  const dns = await startFakeDns({ negativeSoaTtl: BENCH_NEGATIVE_TTL_S });
  for (let i = 0; i < domains; i++) {
    const d = domainName(i);
    dns.add(d, 'MX', [{ preference: 10, exchange: `mx.${d}` }]);
    dns.add(`mx.${d}`, 'A', [addresses[i % addresses.length]!]);
  }
  return dns;
}

export function openEngine(dataDir: string, dns: FakeDns, smtpPort: number, dialer?: Dialer): Outbox {
  return new Outbox({ dataDir, network: { dnsServers: [dns.address], smtpPort, ehloName: 'bench.outbox.test', ...(dialer ? { dialer } : {}) }, version: 'bench' });
}

/** The shipped dialer plus TCP_NODELAY: small SMTP writes leave at once instead of waiting
 *  for the peer's delayed ACK (Nagle), which otherwise costs ~40 ms per DATA end and QUIT. */
export function smallDraft(i: number, domains: number): Draft {
  return {
    from: 'Bench <bench@outbox.test>',
    to: [`user${i}@${domainName(i % Math.max(1, domains))}`],
    cc: [],
    bcc: [],
    subject: `bench message ${i}`,
    text: `Hello,\n\nthis is benchmark message ${i}. ${'Lorem ipsum dolor sit amet. '.repeat(24)}\n\n-- \nbench\n`,
    attachments: [],
    tlsMode: 'default',
  };
}
