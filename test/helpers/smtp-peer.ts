/**
 * In-process SMTP peers on 127.0.0.1 (ephemeral ports) for tests.
 *
 * startSmtpPeer(): a well-behaved server built on smtp-server that records every message it
 * accepts (envelope, MAIL parameters, body bytes, whether TLS was used). Recipients can be
 * refused by address; STARTTLS is offered when a certificate is given.
 *
 *   const peer = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem }, rejectRcpt: { 'bad@x.test': 550 } });
 *   const socket = await peer.connect();
 *   ... peer.messages[0].body ...
 *   await peer.close();
 *
 * startScriptedPeer(): a raw TCP server whose behaviour is a script, for the odd and hostile
 * cases a real server will not produce (garbage, silence, drops, injected bytes).
 *
 *   const peer = await startScriptedPeer(async (c) => {
 *     c.write('220 hi\r\n');
 *     expect(await c.readLine()).toMatch(/^EHLO /);
 *     c.write('250 ok\r\n');
 *   });
 *   ... peer.errors (exceptions thrown by scripts) ... peer.connections ...
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMessage {
  mailFrom: string;
  /** MAIL FROM parameters as smtp-server parsed them (e.g. { SIZE: '123', BODY: '8BITMIME' }). */
  mailParams: Record<string, unknown>;
  rcptTo: string[];
  body: Buffer;
  sha256: string;
  secure: boolean;
}

export interface SmtpPeerOptions {
  /** Offer STARTTLS with this key and certificate (chain) PEM. */
  tls?: { key: string; cert: string };
  /** SIZE limit to announce (0 = announce SIZE without a limit is not possible in smtp-server). */
  size?: number;
  /**
   * Refuse these recipients (case-insensitive) with the given code (text "5.1.1 … refused"), or
   * code and text. Read at each RCPT: a test may change it while the peer runs.
   */
  rejectRcpt?: Record<string, number | { code: number; text: string }>;
  /** Refuse the message data with this code after reading it. */
  rejectData?: number;
  /** smtp-server "hide*" flags and any other option, applied last. */
  server?: Partial<SMTPServerOptions>;
}

export interface SmtpPeer {
  host: string;
  port: number;
  messages: ReceivedMessage[];
  /** Connects a plain TCP socket to the peer. */
  connect(): Promise<net.Socket>;
  close(): Promise<void>;
}

export function connectTo(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export async function startSmtpPeer(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const messages: ReceivedMessage[] = [];
  const mailArgs = new Map<string, Record<string, unknown>>();
  const rejection = (address: string) => Object.entries(opts.rejectRcpt ?? {}).find(([a]) => a.toLowerCase() === address.toLowerCase())?.[1];
  const server = new SMTPServer({
    secure: false,
    logger: false,
    authOptional: true,
    disabledCommands: opts.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    ...(opts.size !== undefined ? { size: opts.size } : {}),
    onMailFrom(address, session, cb) {
      mailArgs.set(session.id, (address.args as Record<string, unknown> | false) || {});
      cb();
    },
    onRcptTo(address, _session, cb) {
      const r = rejection(address.address);
      if (typeof r === 'number') cb(smtpError(r, `${r >= 500 ? '5' : '4'}.1.1 <${address.address}> refused`));
      else if (r) cb(smtpError(r.code, r.text));
      else cb();
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        if (opts.rejectData) return cb(smtpError(opts.rejectData, 'data refused'));
        const from = session.envelope.mailFrom;
        messages.push({
          mailFrom: from ? from.address : '',
          mailParams: mailArgs.get(session.id) ?? {},
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          body,
          sha256: createHash('sha256').update(body).digest('hex'),
          secure: session.secure,
        });
        cb();
      });
    },
    ...opts.server,
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    messages,
    connect: () => connectTo(port),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// --- scripted raw peer ---

export interface ScriptedConnection {
  /** Writes raw bytes (no CRLF added). */
  write(data: string | Buffer): void;
  /** The next line without CRLF, or null when the client closed. */
  readLine(): Promise<string | null>;
  /** Reads DATA bytes up to and including CRLF.CRLF; returns them without the terminator. */
  readData(): Promise<Buffer>;
  /** Server side of a TLS handshake on this connection (after the script wrote its 220). */
  /** With `secureContext`, one the server keeps across connections (its ticket keys: resumption). */
  startTls(opts: { key: string; cert: string } | { secureContext: tls.SecureContext }): Promise<void>;
  /** Every line the client sent, in order (DATA content excluded). */
  lines: string[];
  readonly secure: boolean;
  /** Stops reading from the socket, so the client's writes back up (flow control). */
  pause(): void;
  end(): void;
  destroy(): void;
}

export type Script = (conn: ScriptedConnection) => Promise<void> | void;

export interface ScriptedPeer {
  host: string;
  port: number;
  connections: ScriptedConnection[];
  /** Exceptions thrown by scripts; a test should expect this to be empty. */
  errors: unknown[];
  connect(): Promise<net.Socket>;
  close(): Promise<void>;
}

class Conn implements ScriptedConnection {
  lines: string[] = [];
  #socket: net.Socket | tls.TLSSocket;
  #buf = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;
  #secure = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#listen(socket);
  }

  get secure(): boolean {
    return this.#secure;
  }

  #onData = (c: Buffer) => {
    this.#buf = Buffer.concat([this.#buf, c]);
    this.#wake?.();
  };
  #onEnd = () => {
    this.#ended = true;
    this.#wake?.();
  };

  #listen(s: net.Socket): void {
    s.on('data', this.#onData);
    s.on('end', this.#onEnd);
    s.on('close', this.#onEnd);
    s.on('error', () => {});
  }

  async #waitFor<T>(take: () => T | undefined): Promise<T | null> {
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      if (this.#ended) return null;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = undefined;
    }
  }

  write(data: string | Buffer): void {
    if (!this.#socket.destroyed) this.#socket.write(data);
  }

  async readLine(): Promise<string | null> {
    const line = await this.#waitFor(() => {
      const i = this.#buf.indexOf('\r\n');
      if (i < 0) return undefined;
      const l = this.#buf.subarray(0, i).toString('utf8');
      this.#buf = this.#buf.subarray(i + 2);
      return l;
    });
    if (line !== null) this.lines.push(line);
    return line;
  }

  async readData(): Promise<Buffer> {
    const data = await this.#waitFor(() => {
      // The data may be empty: then the terminator is ".\r\n" at the very start.
      if (this.#buf.subarray(0, 3).equals(Buffer.from('.\r\n'))) {
        this.#buf = this.#buf.subarray(3);
        return Buffer.alloc(0);
      }
      const i = this.#buf.indexOf('\r\n.\r\n');
      if (i < 0) return undefined;
      const d = this.#buf.subarray(0, i + 2);
      this.#buf = this.#buf.subarray(i + 5);
      return d;
    });
    if (data === null) throw new Error('client closed during DATA');
    return data;
  }

  startTls(opts: { key: string; cert: string } | { secureContext: tls.SecureContext }): Promise<void> {
    const plain = this.#socket as net.Socket;
    plain.off('data', this.#onData);
    this.#buf = Buffer.alloc(0);
    const secure = new tls.TLSSocket(plain, { isServer: true, ...('secureContext' in opts ? { secureContext: opts.secureContext } : { key: opts.key, cert: opts.cert }) });
    this.#socket = secure;
    this.#listen(secure);
    return new Promise((resolve, reject) => {
      secure.once('secure', () => {
        this.#secure = true;
        resolve();
      });
      secure.once('error', reject);
    });
  }

  pause(): void {
    this.#socket.pause();
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

export async function startScriptedPeer(script: Script): Promise<ScriptedPeer> {
  const connections: ScriptedConnection[] = [];
  const errors: unknown[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const conn = new Conn(socket);
    connections.push(conn);
    Promise.resolve()
      .then(() => script(conn))
      .catch((e: unknown) => {
        errors.push(e);
        conn.destroy();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    connections,
    errors,
    connect: () => connectTo(port),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A scripted conversation helper: answers EHLO with `ehlo` lines, then MAIL/RCPT/DATA with 250s,
 * calling `onData` with the received body. Returns when the client quits or closes.
 */
export async function serveBasic(
  c: ScriptedConnection,
  opts: { ehlo: string[]; rcpt?: (addr: string, index: number) => string; onData?: (body: Buffer) => void; greeting?: string },
): Promise<void> {
  c.write(opts.greeting ?? '220 scripted.test ESMTP\r\n');
  let rcptIndex = 0;
  for (;;) {
    const line = await c.readLine();
    if (line === null) return;
    const verb = line.split(' ')[0]!.toUpperCase();
    if (verb === 'EHLO') {
      const all = ['scripted.test', ...opts.ehlo];
      c.write(all.map((l, i) => `250${i === all.length - 1 ? ' ' : '-'}${l}\r\n`).join(''));
    } else if (verb === 'MAIL') {
      rcptIndex = 0;
      c.write('250 2.1.0 ok\r\n');
    } else if (verb === 'RCPT') {
      const addr = /<(.*)>/.exec(line)?.[1] ?? '';
      c.write(`${opts.rcpt ? opts.rcpt(addr, rcptIndex) : '250 2.1.5 ok'}\r\n`);
      rcptIndex++;
    } else if (verb === 'DATA') {
      c.write('354 go ahead\r\n');
      // Always read the data: a reply before the final dot is a protocol violation the
      // client rejects (RFC 5321 §4.1.1.4), not what a well-behaved peer does.
      const data = await c.readData();
      opts.onData?.(data);
      c.write('250 2.0.0 queued\r\n');
    } else if (verb === 'RSET') {
      c.write('250 2.0.0 reset\r\n');
    } else if (verb === 'QUIT') {
      c.write('221 2.0.0 bye\r\n');
      c.end();
      return;
    } else {
      c.write('502 5.5.1 unknown command\r\n');
    }
  }
}
