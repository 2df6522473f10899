/**
 * One UDP socket per resolver server, shared by every query to it (RFC 1035 §4.2.1), instead of a
 * socket per query: a socket per query was 11.6% of the engine's CPU (issue 14).
 *
 * Threat: off-path spoofing of UDP answers (RFC 5452). A shared socket keeps its source port
 * for a while, so the defences are: the socket is connected to the server, and each datagram's
 * source address and port is checked again (§9.1); every query has a cryptographically random
 * ID that no other query in flight on this socket uses (§9.2); a datagram is delivered only to
 * the query with its ID whose question it answers (§9.1) — anything else is dropped and the
 * genuine answer still awaited; and the socket is replaced by a fresh one (a new random port)
 * after MAX_QUERIES_PER_SOCKET queries, after any socket error, and when idle.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import type { Clock, TimerHandle } from '../clock';
import { DeliveryError } from '../errors';
import { dnsBogus, dnsTemporary } from './dns-errors';
import { decodeResponse, encodeQuery, peekId, responseMismatch, type ParsedResponse } from './message';
import type { RRType } from './types';

/** RFC 5452 §9.2: the source port changes at least this often. */
export const MAX_QUERIES_PER_SOCKET = 500;
/** An idle socket is closed after this long (no descriptor kept for a resolver nobody uses). */
export const IDLE_CLOSE_MS = 10_000;

interface Pending {
  name: string;
  type: RRType;
  finish(err: DeliveryError | undefined, res?: ParsedResponse): void;
}

export interface UdpServer {
  ip: string;
  port: number;
  family: 4 | 6;
}

class SharedSocket {
  readonly socket: dgram.Socket;
  readonly pending = new Map<number, Pending>();
  readonly ready: Promise<{ address: string; port: number }>;
  used = 0;
  dead = false;
  #idle: TimerHandle | undefined;

  constructor(
    readonly server: UdpServer,
    readonly clock: Clock,
    readonly onDead: (s: SharedSocket) => void,
  ) {
    this.socket = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4');
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.connect(server.port, server.ip, () => {
        this.socket.off('error', reject);
        try {
          resolve(this.socket.remoteAddress());
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    // A rejected `ready` with no query waiting on it must not become an unhandled rejection.
    this.ready.catch(() => {});
    this.socket.on('error', (e) => this.kill(dnsTemporary(`DNS socket to ${where(server)} failed: ${e.message}`, undefined, e)));
    this.socket.on('message', (msg, rinfo) => void this.#onMessage(msg, rinfo));
  }

  async #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const peer = await this.ready.catch(() => undefined);
    // RFC 5452 §9.1: only the server we asked, from the port we asked. The kernel already
    // filters for a connected socket; this is the second lock.
    if (!peer || rinfo.address !== peer.address || rinfo.port !== peer.port) return;
    const id = peekId(msg);
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p || id === undefined) return; // a spoofing attempt, or a late answer to a query given up
    let res: ParsedResponse;
    try {
      res = decodeResponse(msg);
    } catch (e) {
      p.finish(e instanceof DeliveryError ? e : dnsBogus(`malformed DNS response from ${where(this.server)}`, e));
      return;
    }
    if (responseMismatch(res.packet, id, p.name, p.type) !== undefined) return; // RFC 5452 §9.1
    p.finish(undefined, res);
  }

  /** A random ID no query in flight on this socket uses (RFC 5452 §9.2). */
  freshId(): number {
    for (;;) {
      const id = randomInt(0, 0x10000);
      if (!this.pending.has(id)) return id;
    }
  }

  /**
   * A query is in flight: the socket holds the process open (a CLI awaiting an answer must not
   * exit for an empty event loop); idle, it does not.
   */
  busy(): void {
    this.#idle?.cancel();
    this.#idle = undefined;
    this.socket.ref();
  }

  settled(): void {
    if (this.pending.size > 0 || this.dead) return;
    this.socket.unref();
    if (this.used >= MAX_QUERIES_PER_SOCKET) return this.kill(undefined);
    this.#idle = this.clock.setTimer(IDLE_CLOSE_MS, () => {
      if (this.pending.size === 0) this.kill(undefined);
    });
  }

  kill(err: DeliveryError | undefined): void {
    if (this.dead) return;
    this.dead = true;
    this.#idle?.cancel();
    this.onDead(this);
    for (const p of [...this.pending.values()]) p.finish(err ?? dnsTemporary(`DNS socket to ${where(this.server)} closed`));
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

function where(s: UdpServer): string {
  return `${s.family === 6 ? `[${s.ip}]` : s.ip}:${s.port} (udp)`;
}

/** The UDP side of one resolver: a shared socket per server. */
export class UdpChannels {
  readonly #sockets = new Map<string, SharedSocket>();

  constructor(readonly clock: Clock) {}

  #socketFor(server: UdpServer): SharedSocket {
    const key = `${server.ip}|${server.port}`;
    let s = this.#sockets.get(key);
    if (!s || s.dead || s.used >= MAX_QUERIES_PER_SOCKET) {
      const old = s;
      s = new SharedSocket(server, this.clock, (dead) => {
        if (this.#sockets.get(key) === dead) this.#sockets.delete(key);
      });
      this.#sockets.set(key, s);
      // A socket past its query budget closes once its last answer is in.
      old?.settled();
    }
    return s;
  }

  /** One question over UDP, answered within `timeoutMs`. */
  exchange(server: UdpServer, name: string, type: RRType, timeoutMs: number): Promise<ParsedResponse> {
    const s = this.#socketFor(server);
    const id = s.freshId();
    s.used++;
    s.busy();
    const query = encodeQuery(id, name, type);
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err: DeliveryError | undefined, res?: ParsedResponse) => {
        if (done) return;
        done = true;
        timer.cancel();
        s.pending.delete(id);
        s.settled();
        if (err) reject(err);
        else resolve(res!);
      };
      const timer = this.clock.setTimer(timeoutMs, () =>
        finish(dnsTemporary(`DNS query ${name} ${type} to ${where(server)} timed out after ${timeoutMs} ms`)),
      );
      s.pending.set(id, { name, type, finish });
      s.ready.then(
        () => {
          if (done) return;
          s.socket.send(query, (err) => {
            if (err) finish(dnsTemporary(`DNS query ${name} ${type} to ${where(server)} failed: ${err.message}`, undefined, err));
          });
        },
        (e: unknown) => {
          finish(dnsTemporary(`DNS query ${name} ${type} to ${where(server)} failed: ${e instanceof Error ? e.message : String(e)}`, undefined, e));
          s.kill(undefined);
        },
      );
    });
  }

  /** Closes every socket; queries in flight fail as temporary errors. */
  close(): void {
    for (const s of [...this.#sockets.values()]) s.kill(undefined);
  }
}
