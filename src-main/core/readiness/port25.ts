/**
 * Check "port25": can this machine open SMTP sessions to other people's MX hosts?
 *
 * RFC 5321 §3.1 (the 220 greeting), §4.1.1.1 (EHLO) and §5.1 (MX lookup). Many ISPs and cloud
 * networks drop or reset outbound connections to port 25 (RFC 6409 §1 and M3AAWG's
 * "Managing Port 25" practice: consumer networks send through a submission server instead), so
 * direct delivery cannot work there at all. We try a few well-known MX hosts: one that answers
 * EHLO proves the path open; a timeout everywhere is the signature of a filter.
 *
 * A by-product: big providers name the client's address in their EHLO reply
 * ("250-mx.google.com at your service, [198.51.100.7]"); those addresses feed the public-ip
 * check. Threat: the reply is untrusted text — an address is taken only when it parses as one.
 */
import net from 'node:net';
import type { ReadinessCheck } from '../../../shared/readiness';
import { DeliveryError } from '../errors';
import { SmtpSession } from '../smtp/client';
import type { Port25Target } from './targets';
import { check, errorText, type ReadinessDeps } from './types';

export type AttemptOutcome = 'ehlo' | 'refused-by-server' | 'timeout' | 'connection-refused' | 'error';

export interface Port25Attempt {
  target: string;
  host: string;
  ip: string;
  port: number;
  outcome: AttemptOutcome;
  /** The first line of the EHLO reply, or the refusal / error. */
  reply: string;
  /** The client address the server says it sees, when it says one. */
  reportedIp: string | null;
}

export interface Port25Result {
  check: ReadinessCheck;
  attempts: Port25Attempt[];
}

export async function checkPort25(deps: ReadinessDeps): Promise<Port25Result> {
  const unresolved: { target: string; error: string }[] = [];
  const perTarget = await Promise.all(
    deps.targets.port25.map(async (t) => {
      const label = targetLabel(t);
      let addrs: { host: string; ips: string[] };
      try {
        addrs = await addressesOf(t, deps);
      } catch (e) {
        unresolved.push({ target: label, error: errorText(e) });
        return [];
      }
      if (addrs.ips.length === 0) unresolved.push({ target: label, error: `${addrs.host} has no address` });
      return Promise.all(addrs.ips.map((ip) => tryEhlo(label, addrs.host, ip, t.port, deps)));
    }),
  );
  const attempts = perTarget.flat();
  const evidence = { ehloName: deps.ehloName, attempts, unresolved };
  const ok = attempts.filter((a) => a.outcome === 'ehlo');
  const reached = attempts.filter((a) => a.outcome === 'refused-by-server');
  let result: ReadinessCheck;
  if (ok.length > 0) {
    const first = ok[0]!;
    // A target given as an address is named by what it calls itself in its EHLO reply.
    const name = net.isIP(first.host) ? first.reply.replace(/^250[- ]/, '').split(' ')[0] || first.host : first.host;
    result = check('port25', 'pass', `Outbound port 25 is open: ${name} [${first.ip}] answered EHLO.`, null, evidence);
  } else if (reached.length > 0) {
    const first = reached[0]!;
    result = check(
      'port25',
      'warn',
      `Port 25 is open, but ${first.host} refused the session: ${first.reply}.`,
      'Check the block list and PTR results below: receivers refuse addresses they do not trust; a relay transport avoids it.',
      evidence,
    );
  } else if (attempts.length > 0) {
    const timeouts = attempts.filter((a) => a.outcome === 'timeout').length;
    const why = timeouts === attempts.length ? 'every connection timed out' : timeouts > 0 ? 'connections timed out or were refused' : 'every connection was refused';
    result = check(
      'port25',
      'fail',
      `Outbound port 25 looks blocked: ${why} (${attempts.length} attempt${attempts.length === 1 ? '' : 's'} to ${new Set(attempts.map((a) => a.host)).size} host${attempts.length === 1 ? '' : 's'}).`,
      'Ask your provider to open outbound port 25, or set up a SOCKS5 or relay transport in Settings → Sending.',
      evidence,
    );
  } else {
    result = check(
      'port25',
      'unknown',
      deps.targets.port25.length === 0 ? 'No port 25 test hosts are configured.' : 'None of the port 25 test hosts could be looked up in DNS.',
      deps.targets.port25.length === 0 ? 'Configure at least one port 25 test host.' : 'Check your DNS resolver, then run the check again.',
      evidence,
    );
  }
  return { check: result, attempts };
}

function targetLabel(t: Port25Target): string {
  return 'mxOf' in t ? `MX of ${t.mxOf}` : net.isIP(t.host) === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** The host to connect to and at most one address per family (both families are tested). */
async function addressesOf(t: Port25Target, deps: ReadinessDeps): Promise<{ host: string; ips: string[] }> {
  let host: string;
  if ('mxOf' in t) {
    const mx = await deps.resolver.mx(t.mxOf);
    // RFC 5321 §5.1: the most preferred host first; RFC 7505: "." is no host.
    const best = [...mx.records].filter((r) => r.exchange !== '.').sort((a, b) => a.preference - b.preference)[0];
    if (!best) throw new Error(`${t.mxOf} has no MX host`);
    host = best.exchange;
  } else {
    host = t.host;
  }
  if (net.isIP(host)) return { host, ips: [host] };
  const [a, aaaa] = await Promise.allSettled([deps.resolver.a(host), deps.resolver.aaaa(host)]);
  const ips = [a, aaaa].flatMap((r) => (r.status === 'fulfilled' ? r.value.records.slice(0, 1) : []));
  if (ips.length === 0 && a.status === 'rejected') throw a.reason;
  return { host, ips };
}

async function tryEhlo(target: string, host: string, ip: string, port: number, deps: ReadinessDeps): Promise<Port25Attempt> {
  const base = { target, host, ip, port };
  let socket: net.Socket;
  try {
    socket = await deps.dialer({ ip, port, timeoutMs: deps.timeoutMs });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const outcome: AttemptOutcome = code === 'ETIMEDOUT' ? 'timeout' : code === 'ECONNREFUSED' || code === 'ECONNRESET' ? 'connection-refused' : 'error';
    return { ...base, outcome, reply: errorText(e), reportedIp: null };
  }
  try {
    const t = deps.timeoutMs;
    const session = await SmtpSession.open({ socket, host, ip, ehloName: deps.ehloName, clock: deps.clock, timeouts: { greeting: t, command: t, quit: t } });
    const line = ehloFirstLine(session.transcript.map((l) => ({ dir: l.dir, text: l.text })));
    await session.quit();
    return { ...base, outcome: 'ehlo', reply: line, reportedIp: reportedAddress(line) };
  } catch (e) {
    if (e instanceof DeliveryError && e.code === 'SMTP_REPLY') {
      return { ...base, outcome: 'refused-by-server', reply: [e.smtpCode, ...(e.lines ?? [])].filter(Boolean).join(' ').slice(0, 300), reportedIp: null };
    }
    const outcome: AttemptOutcome = e instanceof DeliveryError && e.code === 'TIMEOUT' ? 'timeout' : 'error';
    return { ...base, outcome, reply: errorText(e), reportedIp: null };
  }
}

/** The first server line after our EHLO/HELO command. */
function ehloFirstLine(lines: { dir: string; text: string }[]): string {
  const sent = lines.findIndex((l) => l.dir === 'c' && /^(EHLO|HELO) /i.test(l.text));
  const reply = lines.slice(sent + 1).find((l) => l.dir === 's');
  return (reply?.text ?? '').slice(0, 300);
}

/**
 * "[198.51.100.7]" or "[IPv6:2001:db8::7]" (RFC 5321 §4.1.3 address literals), as providers
 * write the client's address in their EHLO greeting line. Only a string that parses as an
 * address counts.
 */
export function reportedAddress(line: string): string | null {
  for (const m of line.matchAll(/\[(?:IPv6:)?([0-9A-Fa-f:.]{2,45})\]/g)) {
    const ip = m[1]!;
    if (net.isIP(ip)) return ip.toLowerCase();
  }
  return null;
}
