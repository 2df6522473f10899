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
      // The socks package's messages name the proxy step ("Socks5 Authentication failed",
      // "Socks5 proxy rejected connection - …"); they never contain the password.
      throw fail(`via SOCKS5 proxy ${proxy.host}:${proxy.port}: ${(e as Error).message}`, e);
    }
  };
}
