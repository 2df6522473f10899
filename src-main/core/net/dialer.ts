/**
 * Opening a TCP connection is a replaceable function (as in undici's `connect`), so tests can
 * route "MX host 203.0.113.5" to a loopback peer, count dials, or fail a connect on purpose.
 * RFC 5321 §4.5.3.2: the connect itself is bounded by the caller's timeout.
 */
import net from 'node:net';

export interface DialOptions {
  /** IP address to connect to (already resolved). */
  ip: string;
  port: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export type Dialer = (opts: DialOptions) => Promise<net.Socket>;

export const tcpDialer: Dialer = ({ ip, port, timeoutMs, signal }) =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: ip, port });
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onTimeout = () => fail(Object.assign(new Error(`connect to ${ip}:${port} timed out`), { code: 'ETIMEDOUT' }));
    const onAbort = () => fail(new Error('connect aborted'));
    const timer = setTimeout(onTimeout, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      socket.removeListener('connect', onConnect);
    };
    const onConnect = () => {
      cleanup();
      // SMTP is request/response: without TCP_NODELAY the final "." waits for the server's
      // delayed ACK (Nagle), ~40 ms per message.
      socket.setNoDelay(true);
      resolve(socket);
    };
    socket.once('error', fail);
    socket.once('connect', onConnect);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
