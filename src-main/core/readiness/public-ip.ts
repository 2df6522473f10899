/**
 * Check "public-ip": which addresses do receivers see this machine's mail come from?
 *
 * Two sources: what MX hosts said in their EHLO reply (port25.ts), and a DNS "what is my IP"
 * query — a name whose A/AAAA answer is the asking client's address when asked of that
 * provider's own servers (myip.opendns.com @resolver1.opendns.com). Both are configurable;
 * the DNS query is asked for A and AAAA so IPv6 is learnt too.
 *
 * Everything later (PTR, block lists, SPF) is about these addresses. An answer in a range no
 * receiver could ever see (RFC 1918 private, RFC 6598 shared/CGN, RFC 3927 / RFC 4291
 * link-local, RFC 4193 unique-local) means the source is on this side of a NAT and the real
 * address is unknown. Loopback answers are taken as they are: they only come from a resolver
 * on this machine.
 */
import net from 'node:net';
import type { ReadinessCheck } from '../../../shared/readiness';
import type { Resolver } from '../dns/types';
import type { Port25Attempt } from './port25';
import type { MyIpQuery } from './targets';
import { check, errorText, type ReadinessDeps } from './types';

export interface IpSighting {
  ip: string;
  family: 4 | 6;
  /** "EHLO reply of mx.example" or "myip.example A @192.0.2.53". */
  source: string;
}

export interface PublicIpResult {
  check: ReadinessCheck;
  /** The public addresses learnt (internal ones left out). */
  ipv4: string[];
  ipv6: string[];
}

export async function checkPublicIp(deps: ReadinessDeps, attempts: readonly Port25Attempt[]): Promise<PublicIpResult> {
  const sightings: IpSighting[] = [];
  for (const a of attempts) {
    if (a.reportedIp) sightings.push({ ip: a.reportedIp, family: net.isIP(a.reportedIp) === 6 ? 6 : 4, source: `EHLO reply of ${a.host}` });
  }
  const errors: string[] = [];
  await Promise.all(
    deps.targets.myIp.map(async (q) => {
      let r: Resolver;
      try {
        r = await resolverForQuery(q, deps);
      } catch (e) {
        errors.push(`${q.name}@${q.server}: ${errorText(e)}`);
        return;
      }
      for (const [type, family] of [['A', 4], ['AAAA', 6]] as const) {
        try {
          const ans = type === 'A' ? await r.a(q.name) : await r.aaaa(q.name);
          for (const ip of ans.records) sightings.push({ ip: ip.toLowerCase(), family, source: `${q.name} ${type}${q.server ? ` @${q.server}` : ''}` });
        } catch (e) {
          errors.push(`${q.name} ${type}: ${errorText(e)}`);
        }
      }
    }),
  );
  const ipv4 = [...new Set(sightings.filter((s) => s.family === 4).map((s) => s.ip))];
  const ipv6 = [...new Set(sightings.filter((s) => s.family === 6).map((s) => s.ip))];
  const evidence = { ipv4, ipv6, sightings, errors };
  const inside = [...ipv4, ...ipv6].filter(isInternal);
  let result: ReadinessCheck;
  if (ipv4.length + ipv6.length === 0) {
    result = check(
      'public-ip',
      'unknown',
      'Could not learn this machine\'s public address: no MX host named it and the "what is my IP" query got no answer.',
      'Check the "what is my IP" query setting (NAME@SERVER) and your DNS resolver, then run the check again.',
      evidence,
    );
  } else if (inside.length > 0) {
    result = check(
      'public-ip',
      'fail',
      `The address reported (${inside.join(', ')}) is a private one: the real public address is hidden behind a NAT.`,
      'Point the "what is my IP" query at a server outside your network.',
      evidence,
    );
  } else if (ipv4.length > 1 || ipv6.length > 1) {
    result = check(
      'public-ip',
      'warn',
      `Your mail leaves from several addresses (${[...ipv4, ...ipv6].join(', ')}), for example through a load-balanced NAT or a VPN.`,
      'Make sure each of these addresses has a PTR record and is listed in your SPF record.',
      evidence,
    );
  } else {
    result = check('public-ip', 'pass', `Your public address is ${[...ipv4, ...ipv6].join(' and ')}.`, null, evidence);
  }
  // What later checks look at: only addresses a receiver can see (a NAT's inside says nothing).
  return { check: result, ipv4: ipv4.filter((ip) => !isInternal(ip)), ipv6: ipv6.filter((ip) => !isInternal(ip)) };
}

async function resolverForQuery(q: MyIpQuery, deps: ReadinessDeps): Promise<Resolver> {
  if (q.server === undefined) return deps.resolver;
  const bare = q.server.replace(/^\[([^\]]+)\](?::\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1');
  if (net.isIP(bare) || net.isIP(q.server)) return deps.resolverFor(q.server);
  // A server given by name (resolver1.opendns.com) is found through the configured resolver.
  const a = await deps.resolver.a(q.server).catch(() => null);
  const ip = a?.records[0] ?? (await deps.resolver.aaaa(q.server)).records[0];
  if (!ip) throw new Error(`${q.server} has no address`);
  return deps.resolverFor(net.isIP(ip) === 6 ? `[${ip}]:53` : `${ip}:53`);
}

/** Addresses no receiver on the Internet can see a connection come from. */
export function isInternal(ip: string): boolean {
  if (net.isIP(ip) === 4) {
    const [a = 0, b = 0] = ip.split('.').map(Number);
    return (
      a === 10 || // RFC 1918
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) || // RFC 6598 shared address space (CGN)
      (a === 169 && b === 254) // RFC 3927 link-local
    );
  }
  const first = parseInt(ip.split(':')[0] || '0', 16);
  return (first & 0xfe00) === 0xfc00 /* RFC 4193 ULA */ || (first & 0xffc0) === 0xfe80; /* RFC 4291 link-local */
}
