/**
 * Where the readiness checks reach out to the Internet, and the defaults a real desktop uses.
 *
 * Every target is data, injected by the caller (CLI flags, the app's defaults, tests' loopback
 * peers). The defaults name real hosts; tests must never reach them (the project's network
 * rule), so a process whose environment says OUTBOX_READINESS_DEFAULTS=refuse (the test
 * harness sets it, vitest.config.ts) gets an error instead of a default — a test that forgets
 * a target fails loudly instead of talking to Google.
 */
import net from 'node:net';
import { DeliveryError } from '../errors';

/** An SMTP host to try on port 25: a host name or address, or "the first MX of a domain". */
export type Port25Target = { host: string; port: number } | { mxOf: string; port: number };

/** A "what is my IP" DNS query: A/AAAA of `name`, asked of `server` (an address or a name). */
export interface MyIpQuery {
  name: string;
  /** "ip", "ip:port", "[v6]:port" or a host name; undefined: the configured resolver. */
  server: string | undefined;
}

export interface ReadinessTargets {
  port25: Port25Target[];
  myIp: MyIpQuery[];
  /** DNS block list zones (RFC 5782), e.g. "zen.spamhaus.org". */
  dnsbl: string[];
  /** A DNSSEC-signed name: a validating resolver answers it with AD set. */
  dnssecSigned: string;
  /** A deliberately broken signed name: a validating resolver answers SERVFAIL. */
  dnssecBogus: string;
}

/**
 * The defaults: big providers' MX hosts (found through their MX records when the check runs,
 * so a renamed host does not break it), OpenDNS's "myip" name (answered with the asker's
 * address when asked of OpenDNS's own resolvers), Spamhaus ZEN (SBL+XBL+PBL in one zone), a
 * signed zone and the deliberately mis-signed dnssec-failed.org that resolver tests use.
 */
const DEFAULTS: ReadinessTargets = {
  port25: [
    { mxOf: 'gmail.com', port: 25 },
    { mxOf: 'outlook.com', port: 25 },
    { mxOf: 'yahoo.com', port: 25 },
  ],
  myIp: [
    { name: 'myip.opendns.com', server: 'resolver1.opendns.com' },
    { name: 'myip.opendns.com', server: 'resolver2.opendns.com' },
  ],
  dnsbl: ['zen.spamhaus.org'],
  dnssecSigned: 'ietf.org',
  dnssecBogus: 'dnssec-failed.org',
};

export const DEFAULTS_ENV = 'OUTBOX_READINESS_DEFAULTS';

/** Fills what the caller did not set with the defaults — unless the environment forbids them. */
export function resolveTargets(given: Partial<ReadinessTargets>, env: NodeJS.ProcessEnv = process.env): ReadinessTargets {
  const out = { ...given };
  const missing = (Object.keys(DEFAULTS) as (keyof ReadinessTargets)[]).filter((k) => out[k] === undefined);
  if (missing.length && env[DEFAULTS_ENV] === 'refuse') {
    throw new DeliveryError({
      code: 'INVALID_INPUT',
      message: `readiness: no ${missing.join(', ')} given and ${DEFAULTS_ENV}=refuse forbids the Internet defaults`,
      stage: 'dns',
      permanent: true,
    });
  }
  return { ...DEFAULTS, ...out } as ReadinessTargets;
}

function invalid(message: string): DeliveryError {
  return new DeliveryError({ code: 'INVALID_INPUT', message, stage: 'dns', permanent: true });
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** "HOST[:PORT]" / "[v6]:PORT" / a bare IPv6 address (port 25 unless given). */
export function parsePort25Target(s: string): Port25Target {
  let host = s;
  let port = 25;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  const hostPort = /^([^:]+):(\d+)$/.exec(s);
  if (bracket) {
    host = bracket[1] ?? '';
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (hostPort) {
    host = hostPort[1] ?? '';
    port = Number(hostPort[2]);
  }
  if (!(net.isIP(host) || HOSTNAME.test(host))) throw invalid(`invalid port 25 target ${JSON.stringify(s)}: not a host name or address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`invalid port 25 target ${JSON.stringify(s)}: bad port`);
  return { host: host.replace(/\.$/, '').toLowerCase(), port };
}

/** "NAME[@SERVER]", as dig writes it: myip.opendns.com@resolver1.opendns.com. */
export function parseMyIpQuery(s: string): MyIpQuery {
  const at = s.indexOf('@');
  const name = at < 0 ? s : s.slice(0, at);
  const server = at < 0 ? undefined : s.slice(at + 1);
  if (!HOSTNAME.test(name)) throw invalid(`invalid what-is-my-IP query ${JSON.stringify(s)}: ${JSON.stringify(name)} is not a DNS name`);
  if (server !== undefined) {
    const bare = server.replace(/^\[([^\]]+)\](?::\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1');
    if (!(net.isIP(bare) || net.isIP(server) || HOSTNAME.test(bare))) throw invalid(`invalid what-is-my-IP server ${JSON.stringify(server)}`);
  }
  return { name: name.replace(/\.$/, '').toLowerCase(), server };
}

export function parseZone(s: string): string {
  if (!HOSTNAME.test(s) || !s.includes('.')) throw invalid(`invalid DNS block list zone ${JSON.stringify(s)}`);
  return s.replace(/\.$/, '').toLowerCase();
}
