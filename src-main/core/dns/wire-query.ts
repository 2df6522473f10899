/**
 * One DNS question, asked of a list of recursive resolvers: UDP first, TCP when the answer
 * was truncated (RFC 1035 §4.2.1, RFC 7766 §5), with a timeout per attempt and rounds over
 * the servers (RFC 1123 §6.1.3.3 / resolv.conf "attempts").
 *
 * Threat: off-path spoofing of UDP answers (RFC 5452). The UDP side is udp-channel.ts: one
 * socket per server shared by the resolver's queries (connected, source checked, a random ID
 * unique among the queries in flight, a datagram whose ID or question does not match dropped
 * while the genuine answer is awaited, the socket renewed — a new random port — every few
 * hundred queries). A datagram with the right ID that does not parse fails the attempt as
 * DNS_BOGUS; the next server or round may still answer.
 */
import { randomInt } from 'node:crypto';
import { getServers } from 'node:dns';
import net from 'node:net';
import type { Clock } from '../clock';
import { DeliveryError } from '../errors';
import type { Dialer } from '../net/dialer';
import { DnsRcodeError, dnsBogus, dnsTemporary, isDnssecFailure } from './dns-errors';
import { formatEde } from './ede';
import { decodeResponse, encodeQuery, peekId, responseMismatch, type ParsedResponse } from './message';
import type { RRType } from './types';
import type { UdpChannels } from './udp-channel';

export interface ServerAddress {
  ip: string;
  port: number;
  family: 4 | 6;
}

export interface WireQueryOptions {
  servers: readonly ServerAddress[];
  timeoutMs: number;
  tries: number;
  clock: Clock;
  dialer: Dialer;
  /** The resolver's shared UDP sockets. */
  udp: UdpChannels;
}

/** RFC 1035 §4.2.2: a TCP message is prefixed by its two-byte length, so at most 65535. */
const MAX_TCP_MESSAGE = 0xffff;

/**
 * Parses "ip", "ip:port", "[ipv6]:port" or a bare IPv6 address (the forms node:dns
 * getServers() returns). Only IP addresses: a resolver's own name cannot be resolved.
 */
export function parseServer(s: string): ServerAddress {
  let ip = s;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  const v4 = /^([^:]+):(\d+)$/.exec(s);
  if (bracket) {
    ip = bracket[1] ?? '';
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (v4) {
    ip = v4[1] ?? '';
    port = Number(v4[2]);
  }
  // A zone index ("fe80::1%eth0") is allowed by net.isIP and kept for the socket.
  const family = net.isIP(ip);
  if ((family !== 4 && family !== 6) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DeliveryError({
      code: 'INVALID_INPUT',
      message: `invalid DNS server address ${JSON.stringify(s)}`,
      stage: 'dns',
      permanent: true,
    });
  }
  return { ip, port, family };
}

/** The system's configured resolvers (node:dns reads /etc/resolv.conf or the OS settings). */
export function systemServers(): ServerAddress[] {
  return getServers().map(parseServer);
}

export function formatServer(s: ServerAddress): string {
  return s.family === 6 ? `[${s.ip}]:${s.port}` : `${s.ip}:${s.port}`;
}

/**
 * Asks every server in turn, `tries` rounds, until one gives a usable answer: NOERROR or
 * NXDOMAIN (both are final). SERVFAIL, REFUSED and other rcodes move on to the next server,
 * as do timeouts and network errors. Throws the last failure when no server answered.
 */
export async function wireQuery(opts: WireQueryOptions, name: string, type: RRType): Promise<ParsedResponse> {
  if (opts.servers.length === 0) throw dnsTemporary(`no DNS servers configured to look up ${name} ${type}`);
  let last: DeliveryError | undefined;
  for (let round = 0; round < opts.tries; round++) {
    for (const server of opts.servers) {
      try {
        let res = await opts.udp.exchange(server, name, type, opts.timeoutMs);
        // RFC 7766 §5: a truncated UDP answer is retried over TCP, to the same server.
        if (res.tc) res = await tcpExchange(opts, server, name, type);
        if (res.rcode === 'NOERROR' || res.rcode === 'NXDOMAIN') return res;
        // todo spec: FORMERR could mean a server without EDNS (RFC 6891 §7); we do not retry
        // without OPT, since without DO there is no DNSSEC and modern resolvers speak EDNS.
        const what = `${res.rcode} from ${formatServer(server)} for ${name} ${type}`;
        // A SERVFAIL with a DNSSEC EDE is a bogus answer (RFC 8914 §4), reported as such.
        const bogus = res.rcode === 'SERVFAIL' && isDnssecFailure(res.ede);
        last = new DnsRcodeError(res.rcode, bogus ? `${what}: DNSSEC validation failed` : what, res.ede.map(formatEde), bogus ? 'DNS_BOGUS' : 'DNS_TEMPORARY');
      } catch (e) {
        last =
          e instanceof DeliveryError
            ? e
            : dnsTemporary(`DNS query ${name} ${type} to ${formatServer(server)} failed: ${String(e)}`, undefined, e);
      }
    }
  }
  throw last ?? dnsTemporary(`no answer for ${name} ${type}`);
}

function newId(): number {
  return randomInt(0, 0x10000); // RFC 5452 §9.2: unpredictable query IDs
}

async function tcpExchange(opts: WireQueryOptions, server: ServerAddress, name: string, type: RRType): Promise<ParsedResponse> {
  const id = newId();
  const query = encodeQuery(id, name, type);
  const where = `${formatServer(server)} (tcp)`;
  let socket: net.Socket;
  try {
    socket = await opts.dialer({ ip: server.ip, port: server.port, timeoutMs: opts.timeoutMs });
  } catch (e) {
    throw dnsTemporary(`DNS query ${name} ${type} to ${where} failed: ${e instanceof Error ? e.message : String(e)}`, undefined, e);
  }
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let settled = false;
    const finish = (err: DeliveryError | undefined, res?: ParsedResponse) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.destroy();
      if (err) reject(err);
      else if (res) resolve(res);
    };
    const timer = opts.clock.setTimer(opts.timeoutMs, () =>
      finish(dnsTemporary(`DNS query ${name} ${type} to ${where} timed out after ${opts.timeoutMs} ms`)),
    );
    socket.on('error', (e) => finish(dnsTemporary(`DNS query ${name} ${type} to ${where} failed: ${e.message}`, undefined, e)));
    socket.on('close', () => finish(dnsTemporary(`DNS server ${where} closed the connection before answering ${name} ${type}`)));
    socket.on('data', (chunk: Buffer) => {
      // Never more than one message plus its length prefix: bounded memory whatever is sent.
      buffered = Buffer.concat([buffered, chunk]).subarray(0, MAX_TCP_MESSAGE + 2);
      if (buffered.length < 2) return;
      const len = buffered.readUInt16BE(0);
      if (buffered.length < 2 + len) return;
      const msg = buffered.subarray(2, 2 + len);
      try {
        // One query per connection: unlike UDP, whatever arrives here is the server's answer,
        // so a wrong ID or question is a broken server, not a spoofer to wait out.
        if (peekId(msg) !== id) throw dnsBogus(`DNS response from ${where} has the wrong ID`);
        const res = decodeResponse(msg);
        const why = responseMismatch(res.packet, id, name, type);
        if (why !== undefined) throw dnsBogus(`DNS response from ${where} does not match the query: ${why}`);
        finish(undefined, res);
      } catch (e) {
        finish(e instanceof DeliveryError ? e : dnsBogus(`malformed DNS response from ${where}`, e));
      }
    });
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(query.length);
    socket.write(Buffer.concat([prefix, query]));
  });
}
