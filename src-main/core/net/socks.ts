/**
 * A Dialer through a SOCKS5 proxy (RFC 1928), with username/password authentication
 * (RFC 1929) when configured, using the `socks` package for the wire protocol.
 *
 * Only the TCP connection goes through the proxy: the destination is the IP address the
 * engine already chose (DNS, MTA-STS and DANE are decided here, not by the proxy — the proxy
 * never resolves names for us), so direct delivery's rules apply unchanged. RFC 1929 sends the
 * password in clear to the proxy: use proxies you reach over a trusted network.
 */
import type net from 'node:net';
import { SocksClient } from 'socks';
import { DeliveryError } from '../errors';
import type { Dialer } from './dialer';

export interface SocksProxyConfig {
  host: string;
  port: number;
  /** The transport's name, for the one sentence the user reads when the proxy refuses us. */
  transport?: string | undefined;
  user?: string | null | undefined;
  /** Resolved only when a connection is made (from the secret store). */
  password?: (() => Promise<string>) | undefined;
}

/** Parses "HOST:PORT" or "[IPv6]:PORT". */
export function parseProxy(spec: string): { host: string; port: number } | null {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(spec) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(spec);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!, port };
}

/**
 * The proxy refused our credentials (RFC 1929 §2: a non-zero status "MUST close the
 * connection"), or accepts none of the methods we offer (RFC 1928 §3: X'FF'). Neither changes
 * by retrying: the same password is refused again, and repeated failures can lock the proxy
 * account — so it is permanent at once, for every recipient of the attempt (no retry storm),
 * like a relay's 535 (relay.ts). The §7 dual-stack relaxation does not apply: this is our
 * configuration, not the MX host's policy (classify.ts looks only at the hosts' replies).
 */
const AUTH_REFUSED = ['Socks5 Authentication failed', 'Received invalid Socks5 initial handshake (no accepted authentication type)'];

function authRefused(proxy: SocksProxyConfig, message: string, ip: string, cause: unknown): DeliveryError {
  const who = proxy.user ? `the user name or password (user ${proxy.user})` : 'connecting without a user name';
  const transport = proxy.transport ? ` of transport ${proxy.transport}` : '';
  return new DeliveryError({
    code: 'AUTH_FAILED',
    stage: 'connect',
    permanent: true,
    // As a relay's refusal (RFC 4954 §6): 535 5.7.8 authentication credentials invalid.
    smtpCode: 535,
    enhancedCode: '5.7.8',
    ip,
    message: `SOCKS5 proxy ${proxy.host}:${proxy.port} refused ${who}${transport} (${message}); fix them in Settings → Sending`,
    cause,
  });
}

export function socksDialer(proxy: SocksProxyConfig): Dialer {
  return async ({ ip, port, timeoutMs, signal }) => {
    const fail = (message: string, cause?: unknown) =>
      new DeliveryError({ code: 'CONNECT_FAILED', stage: 'connect', permanent: false, smtpCode: 451, enhancedCode: '4.4.1', ip, message, cause });
    const password = proxy.user ? await proxy.password?.() : undefined;
    if (proxy.user && password === undefined) throw fail(`SOCKS5 proxy ${proxy.host}:${proxy.port}: no password for user ${proxy.user}`);
    try {
      const { socket } = await SocksClient.createConnection({
        command: 'connect',
        proxy: {
          host: proxy.host,
          port: proxy.port,
          type: 5,
          ...(proxy.user ? { userId: proxy.user, password } : {}),
        },
        destination: { host: ip, port },
        timeout: timeoutMs,
        set_tcp_nodelay: true,
      });
      if (signal?.aborted) {
        socket.destroy();
        throw fail('connect aborted');
      }
      return socket as net.Socket;
    } catch (e) {
      if (e instanceof DeliveryError) throw e;
      const message = (e as Error).message;
      // The socks package's messages name the proxy step ("Socks5 Authentication failed",
      // "Socks5 proxy rejected connection - …"); they never contain the password.
      if (AUTH_REFUSED.some((m) => message.startsWith(m))) throw authRefused(proxy, message, ip, e);
      throw fail(`via SOCKS5 proxy ${proxy.host}:${proxy.port}: ${message}`, e);
    }
  };
}
