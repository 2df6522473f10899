/**
 * One SMTP client session to one MX host, driven by the delivery layer:
 *
 *   1. open(): read the greeting, EHLO (HELO when EHLO gets a 5xx: then no extensions).
 *   2. starttls(): STARTTLS, TLS handshake, EHLO again. Verification is not decided here: the
 *      session returns the peer chain and Node's PKIX verdict; the policy layer decides.
 *   2b. auth(): SMTP AUTH with a SASL mechanism (RFC 4954), only once TLS is up (STARTTLS
 *      or a socket that was TLS from the start, RFC 8314 implicit TLS).
 *   3. send(): one mail transaction (MAIL, RCPT…, DATA), pipelined when announced; returns a
 *      result per recipient. Call it again for recipients the server did not take this time.
 *   3b. resetBeforeNext() / reset(): RSET before the next transaction on a kept session
 *      (RFC 5321 §4.1.1.5, §4.1.4), after rebind() gave it the next delivery's abort signal
 *      and transcript. resetBeforeNext() puts the RSET in the next transaction's pipelined
 *      group (RFC 2920 §3.1 allows RSET in a group): a kept session costs no extra round trip.
 *   4. quit() / close().
 *
 * RFCs: RFC 5321 §3.2 (EHLO/HELO), §3.3 and §4.1.1 (transaction), §4.5.2 (transparency, in
 * data-encoder.ts), §4.5.3.1.10 (too many recipients), §4.5.3.2 (timeouts); RFC 3207 (STARTTLS);
 * RFC 2920 (PIPELINING); RFC 1870 (SIZE); RFC 6152 (8BITMIME); RFC 6531 (SMTPUTF8); RFC 8689
 * (REQUIRETLS); RFC 9422 (LIMITS RCPTMAX); RFC 4954 (AUTH); RFC 8314 §3 (implicit TLS).
 *
 * Threats: the server is untrusted. Malformed replies, silence, resets and floods end the
 * attempt with a DeliveryError (never a crash or an unhandled rejection); bytes a MITM injects
 * before the TLS handshake are discarded (RFC 3207 §6); capabilities seen before TLS are
 * forgotten after it (RFC 3207 §4.2); envelope addresses with CR/LF cannot inject commands;
 * AUTH is refused on a plaintext connection, and what the client sends during AUTH is written
 * to the transcript as "[credentials]", never as sent.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Where DATA comes from: a stream, or an async iterable of chunks. Each chunk is encoded
 * before the next one is asked for, so an iterable may reuse one buffer for every chunk.
 */
export type MessageSource = Readable | AsyncIterable<Uint8Array>;
import tls from 'node:tls';
import type { TranscriptLine } from '../../../shared/domain';
import { systemClock, type Clock } from '../clock';
import { DeliveryError, type ErrorCode, type Stage } from '../errors';
import { noCapabilities, parseCapabilities, type Capabilities } from './capabilities';
import {
  C220ServiceReady,
  C354StartData,
  C452StorageFull,
  C552MailboxFull,
  C553BadMailbox,
  C554TransactionFailed,
  SeMsg6ConversionUnsupported3,
  SeMsg6NonASCIIAddrNotPermitted7,
  SePol7RequireTLS30,
  SeSys3MsgLimitExceeded4,
} from './codes';
import { DataEncoder } from './data-encoder';
import { LineReader, type ReadFailure } from './line-reader';
import { isPermanent, protocolError, replyText, ReplyParser, type Reply, type ReplyContext } from './reply';
import type { SaslClient } from './sasl/mechanism';

/** RFC 4954 §4: the AUTH exchange ends within a few round trips; a server that goes on is hostile. */
const MAX_AUTH_CHALLENGES = 8;

/** RFC 5321 §4.5.3.2 timeouts, in milliseconds. */
export interface SmtpTimeouts {
  greeting: number;
  /** EHLO, HELO, STARTTLS, RSET (RFC 5321 gives none; we use the MAIL value). */
  command: number;
  mail: number;
  rcpt: number;
  /** Waiting for the 354 after DATA. */
  dataInit: number;
  /** Each write of message data (waiting for the socket to drain). */
  dataBlock: number;
  /** Waiting for the reply to the final ".". */
  dataEnd: number;
  tlsHandshake: number;
  quit: number;
}

export const defaultTimeouts: SmtpTimeouts = {
  greeting: 5 * 60_000, // RFC 5321 §4.5.3.2.1
  command: 5 * 60_000,
  mail: 5 * 60_000, // §4.5.3.2.2
  rcpt: 5 * 60_000, // §4.5.3.2.3
  dataInit: 2 * 60_000, // §4.5.3.2.4
  dataBlock: 3 * 60_000, // §4.5.3.2.5
  dataEnd: 10 * 60_000, // §4.5.3.2.6
  tlsHandshake: 60_000,
  quit: 30_000,
};

export interface SmtpSessionOptions {
  /** A connected socket (from a Dialer). The session owns it from now on. */
  socket: net.Socket;
  /** MX host name: default SNI and name checked by PKIX, and put into errors. */
  host: string;
  ip: string;
  /** Our name for EHLO/HELO (a FQDN or address literal, RFC 5321 §4.1.1.1). */
  ehloName: string;
  clock?: Clock | undefined;
  timeouts?: Partial<SmtpTimeouts> | undefined;
  onTranscript?: ((line: TranscriptLine) => void) | undefined;
  /**
   * Ends the session when aborted (the delivery's wall-clock budget, a user's cancel): every
   * pending and later operation rejects with the abort reason (a DeliveryError) or a TIMEOUT.
   */
  signal?: AbortSignal | undefined;
}

export type StartTlsOptions = Omit<tls.ConnectionOptions, 'socket' | 'host' | 'port' | 'rejectUnauthorized'>;

export interface TlsInfo {
  /** e.g. "TLSv1.3". */
  version: string;
  /** OpenSSL cipher name, e.g. "TLS_AES_256_GCM_SHA384". */
  cipher: string;
  /** The peer's certificates in DER, leaf first. */
  chain: Buffer[];
  /** SHA-256 of the leaf certificate, lowercase hex. */
  leafFingerprint: string | undefined;
  /** Node's PKIX verdict (chain to a trusted CA and name match against the servername). */
  authorized: boolean;
  authorizationError: string | undefined;
  /**
   * The server resumed the session offered (RFC 8446 §2.2): there was no certificate exchange,
   * so `chain` is empty and the verification of the session's full handshake stands for it.
   */
  resumed?: boolean | undefined;
}

/** What starttls() also does with the TLS session (resumption, tls-sessions.ts). */
export interface StartTlsSessionOptions {
  /** Called with every session ticket the server sends (Node's 'session' event), newest last. */
  onTicket?: ((ticket: Buffer) => void) | undefined;
}

export interface Envelope {
  /** Reverse-path address; "" for the null sender. */
  mailFrom: string;
  rcptTo: string[];
  requireTls?: boolean | undefined;
  /** The message needs SMTPUTF8 (RFC 6531), e.g. UTF-8 headers; non-ASCII addresses imply it. */
  smtpUtf8?: boolean | undefined;
  /** The body has 8-bit content (RFC 6152). */
  eightBit?: boolean | undefined;
  /** Message size in bytes (RFC 1870 SIZE= estimate). */
  size: number;
}

export interface SendOptions {
  /** Called after each chunk with the number of message bytes sent so far. */
  onProgress?: ((bytes: number) => void) | undefined;
}

export type RecipientStatus = 'accepted' | 'rejected' | 'not-attempted';

export interface RecipientResult {
  address: string;
  /**
   * accepted: the server took responsibility (final reply to DATA was 250).
   * rejected: refused at RCPT, DATA or the final dot, or locally (e.g. 5.6.7) — see `permanent`.
   * not-attempted: not sent in this transaction (RCPTMAX, "too many recipients"); run another.
   */
  status: RecipientStatus;
  code: number | undefined;
  enhancedCode: string | undefined;
  /** The reply as one line, e.g. "550 5.1.1 no such user". */
  reply: string | undefined;
  permanent: boolean;
  /** SMTP_REPLY for server replies; a local code when the client decided. */
  errorCode: ErrorCode | undefined;
  stage: Stage | undefined;
}

export interface TransactionResult {
  recipients: RecipientResult[];
  /** True when the message data was sent and the final reply was 2xx. */
  dataAccepted: boolean;
  /** Message data bytes written on the wire (after dot-stuffing, with terminator). */
  bytesSent: number;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;

/** Envelope text that would break out of the command line (CRLF injection) or the brackets. */
const UNSAFE_ADDRESS = /[\r\n\0<>]/;

export class SmtpSession {
  readonly host: string;
  readonly ip: string;
  readonly transcript: TranscriptLine[] = [];
  #capabilities: Capabilities = noCapabilities();
  #usedHelo = false;
  #tls: TlsInfo | undefined;

  #socket: net.Socket;
  readonly #reader: LineReader;
  readonly #parser = new ReplyParser();
  readonly #clock: Clock;
  readonly #timeouts: SmtpTimeouts;
  readonly #ehloName: string;
  #onTranscript: ((line: TranscriptLine) => void) | undefined;
  /** MAIL commands sent on this session (transactions begun). */
  #transactions = 0;
  /** When the session was opened (its clock's time). */
  readonly openedAt: number;
  /** Set once the connection is unusable; every later operation throws it. */
  #broken: DeliveryError | undefined;
  /** The next transaction begins with RSET (resetBeforeNext). */
  #resetDue = false;
  /** The session ended at the RSET that began a transaction (see failedAtReset). */
  #failedAtReset = false;
  /** Set when the session was ended by its abort signal; what every operation reports then. */
  #aborted: DeliveryError | undefined;
  #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    const r: unknown = this.#signal?.reason;
    const err =
      r instanceof DeliveryError
        ? r.at(this.host, this.ip)
        : new DeliveryError({ code: 'TIMEOUT', message: 'session aborted', stage: 'connect', permanent: false, host: this.host, ip: this.ip });
    this.#aborted = err;
    // Destroying the socket rejects whatever read or write is pending; #fail reports the abort.
    this.#fail(err);
  };
  #busy = false;

  private constructor(opts: SmtpSessionOptions) {
    this.host = opts.host;
    this.ip = opts.ip;
    this.#socket = opts.socket;
    // RFC 8314 §3: a socket that is TLS from the start (port 465) — the session is encrypted.
    if (opts.socket instanceof tls.TLSSocket && opts.socket.encrypted) this.#tls = tlsInfo(opts.socket);
    this.#clock = opts.clock ?? systemClock;
    this.openedAt = this.#clock.now();
    this.#timeouts = { ...defaultTimeouts, ...opts.timeouts };
    this.#ehloName = opts.ehloName;
    this.#onTranscript = opts.onTranscript;
    // The reader reports socket errors; this keeps a late error from ever being unhandled.
    this.#socket.on('error', () => {});
    this.#reader = new LineReader(this.#socket);
    this.#signal = opts.signal;
    if (this.#signal?.aborted) queueMicrotask(this.#onAbort);
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Reads the greeting and says EHLO (or HELO). Closes the socket when it throws. */
  static async open(opts: SmtpSessionOptions): Promise<SmtpSession> {
    const s = new SmtpSession(opts);
    try {
      if (UNSAFE_ADDRESS.test(opts.ehloName) || opts.ehloName.trim() === '') {
        throw s.#localError('INVALID_INPUT', 'ehlo', `invalid EHLO name ${JSON.stringify(opts.ehloName)}`, true);
      }
      s.#info(`connected to ${opts.host} [${opts.ip}]`);
      // RFC 5321 §3.1: the greeting must be 220; 554 means "no service here".
      if (s.#tls) s.#info(`implicit TLS: ${s.#tls.version} ${s.#tls.cipher}, PKIX ${s.#tls.authorized ? 'verified' : `not verified (${s.#tls.authorizationError ?? 'unknown'})`}`);
      const greeting = await s.#read({ stage: 'greeting' }, s.#timeouts.greeting);
      if (greeting.code !== C220ServiceReady) throw s.#replyError(greeting, { stage: 'greeting' });
      await s.#hello();
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** Extensions announced in the latest EHLO (after STARTTLS: the post-TLS ones only). */
  get capabilities(): Capabilities {
    return this.#capabilities;
  }

  /** Transactions begun on this session (MAIL commands sent). */
  get transactions(): number {
    return this.#transactions;
  }

  /** The connection's addresses (our sending address for TLSRPT, RFC 8460 §4.4). */
  get endpoint(): { localAddress: string | undefined; remoteAddress: string | undefined } {
    return { localAddress: this.#socket.localAddress, remoteAddress: this.#socket.remoteAddress };
  }

  /** True once the connection is unusable (failed, closed, or closed by the server). */
  get broken(): boolean {
    return this.#broken !== undefined || this.#socket.destroyed;
  }

  /**
   * Hands a kept session to the next delivery: its abort signal (budget, cancel) and where the
   * transcript goes from now on. The previous delivery's signal no longer ends the session.
   */
  rebind(o: { signal?: AbortSignal | undefined; onTranscript?: ((line: TranscriptLine) => void) | undefined }): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = o.signal;
    this.#onTranscript = o.onTranscript;
    if (this.#signal?.aborted) queueMicrotask(this.#onAbort);
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * RFC 5321 §4.1.1.5: RSET, before the next transaction on a session that was idle. A reply
   * other than 250 (an idle connection the server has closed, a 421) rejects; the caller then
   * opens a new session.
   */
  async reset(): Promise<void> {
    this.#enter();
    try {
      await this.#rset();
    } finally {
      this.#busy = false;
    }
  }

  /**
   * RFC 5321 §4.1.1.5: the next transaction begins with RSET — under PIPELINING in the same
   * write as MAIL, RCPT and DATA (RFC 2920 §3.1), else lock-step before MAIL. If that RSET
   * gets anything but 250 (a 421 from a server closing the idle connection) or the
   * connection is lost before its reply, send() rejects and failedAtReset is true: nothing of
   * the transaction can have been taken (the data was never sent), so the caller opens a new
   * session for the message without counting a failed attempt.
   */
  resetBeforeNext(): void {
    this.#resetDue = true;
  }

  /** The session ended at the RSET that began its latest transaction (resetBeforeNext). */
  get failedAtReset(): boolean {
    return this.#failedAtReset;
  }

  /** True when EHLO was refused and HELO used instead. */
  get usedHelo(): boolean {
    return this.#usedHelo;
  }

  /** Set after a successful starttls(). */
  get tls(): TlsInfo | undefined {
    return this.#tls;
  }

  /**
   * RFC 3207: STARTTLS, handshake, EHLO again. Never rejects on certificate problems (Node's
   * PKIX verdict is returned for the policy layer); rejects with TLS_FAILED when the server
   * refuses STARTTLS (stage starttls) or the handshake fails (stage tls). Either way the
   * session is unusable afterwards on failure of the handshake; the caller may reconnect in
   * plaintext when no policy requires TLS (delivery-rules §4).
   */
  async starttls(options: StartTlsOptions = {}, sessions: StartTlsSessionOptions = {}): Promise<TlsInfo> {
    this.#enter();
    try {
      if (this.#tls) throw this.#localError('INTERNAL', 'starttls', 'TLS already established', false);
      if (!this.#capabilities.starttls) {
        throw this.#localError('TLS_REQUIRED', 'starttls', 'server does not announce STARTTLS', false);
      }
      const ctx: ReplyContext = { stage: 'starttls', command: 'STARTTLS' };
      this.#writeCommands(['STARTTLS']);
      const reply = await this.#read(ctx, this.#timeouts.command);
      if (reply.code !== C220ServiceReady) {
        const err = this.#replyError(reply, ctx);
        // A refused STARTTLS is a TLS failure for the policy layer, and never permanent for the
        // message: without a policy the delivery layer goes on in plaintext.
        throw new DeliveryError({ ...err.toFields(), code: 'TLS_FAILED', permanent: false });
      }
      // RFC 3207 §6: anything received before the handshake came in plaintext, possibly
      // injected by a MITM to be read as the reply to our first command under TLS. Discard it.
      const discarded = this.#reader.detach();
      if (discarded > 0) this.#info(`discarded ${discarded} bytes received before the TLS handshake (RFC 3207 §6)`);

      const tlsSocket = await this.#handshake(options, sessions.onTicket);
      this.#socket = tlsSocket;
      tlsSocket.on('error', () => {});
      this.#reader.attach(tlsSocket);
      const info = tlsInfo(tlsSocket);
      this.#tls = info;
      if (info.resumed) this.#info(`TLS session resumed: ${info.version} ${info.cipher} (no certificate exchange; the verification of its full handshake stands)`);
      else
        this.#info(
          `TLS established: ${info.version} ${info.cipher}, PKIX ${info.authorized ? 'verified' : `not verified (${info.authorizationError ?? 'unknown'})`}` +
            (info.leafFingerprint ? `, leaf SHA-256 ${info.leafFingerprint}` : ''),
        );
      // RFC 3207 §4.2: forget everything learnt before TLS and ask again.
      this.#capabilities = noCapabilities();
      await this.#hello();
      return info;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * RFC 4954 §4: AUTH with one SASL mechanism. Refused before anything is sent when the session
   * is not encrypted (credentials never cross a plaintext connection). A 535/534/5xx reply, a
   * mechanism error or a server that cannot prove itself (SCRAM) rejects with AUTH_FAILED —
   * permanent for a 5xx (the credentials are wrong; retrying will not fix them), temporary for
   * a 4xx (454: try later).
   */
  async auth(mech: SaslClient): Promise<void> {
    this.#enter();
    try {
      if (!this.#tls) throw this.#localError('AUTH_UNAVAILABLE', 'auth', 'refusing to authenticate on a connection without TLS', false);
      const ctx: ReplyContext = { stage: 'auth', command: `AUTH ${mech.name}` };
      const initial = mech.initialResponse();
      // RFC 4954 §4: "=" stands for an empty initial response.
      const first = initial === null ? `AUTH ${mech.name}` : `AUTH ${mech.name} ${initial.length ? initial.toString('base64') : '='}`;
      this.#writeSecret(first, initial === null ? first : `AUTH ${mech.name} [credentials]`);
      for (let round = 0; ; round++) {
        const reply = await this.#read(ctx, this.#timeouts.command);
        if (reply.code === 334) {
          if (round >= MAX_AUTH_CHALLENGES) throw this.#fail(protocolError({ ...ctx, host: this.host, ip: this.ip }, 'too many AUTH challenges'));
          const data = (reply.lines[0] ?? '').trim();
          // RFC 4954 §4: the challenge is base64; anything else is a protocol error.
          if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw this.#fail(protocolError({ ...ctx, host: this.host, ip: this.ip }, 'AUTH challenge is not base64'));
          let response: Buffer;
          try {
            response = mech.respond(Buffer.from(data, 'base64'));
          } catch (e) {
            // RFC 4954 §4: "*" cancels the exchange; the server answers 501.
            this.#writeCommands(['*']);
            await this.#read(ctx, this.#timeouts.command).catch(() => undefined);
            throw this.#authError(errMessage(e), true);
          }
          this.#writeSecret(response.toString('base64'), '[credentials]');
          continue;
        }
        if (reply.code === 235) {
          const problem = mech.verifySuccess(null);
          if (problem) throw this.#fail(this.#authError(problem, false));
          return;
        }
        const err = this.#replyError(reply, ctx);
        throw new DeliveryError({ ...err.toFields(), code: 'AUTH_FAILED', message: `authentication with ${mech.name} refused: ${replyText(reply)}` });
      }
    } finally {
      this.#busy = false;
    }
  }

  #authError(message: string, permanent: boolean): DeliveryError {
    return new DeliveryError({ code: 'AUTH_FAILED', message, stage: 'auth', permanent, smtpCode: permanent ? 535 : 454, enhancedCode: permanent ? '5.7.8' : '4.7.0', host: this.host, ip: this.ip, command: 'AUTH' });
  }

  /**
   * One mail transaction. Envelope checks that need no round trip (SIZE, REQUIRETLS, SMTPUTF8,
   * 8BITMIME) are made before anything is sent. Throws for failures of the whole transaction
   * (MAIL refused, timeouts, connection lost, malformed replies); per-recipient refusals and
   * refusals at DATA are results, not exceptions.
   */
  async send(envelope: Envelope, body: () => MessageSource, opts: SendOptions = {}): Promise<TransactionResult> {
    this.#enter();
    try {
      return await this.#transaction(envelope, body, opts);
    } finally {
      this.#busy = false;
    }
  }

  /** RFC 5321 §4.1.1.10: QUIT, wait briefly for 221, close. Never throws. */
  async quit(): Promise<void> {
    if (this.#broken || this.#busy) {
      this.close();
      return;
    }
    try {
      this.#writeCommands(['QUIT']);
      await this.#read({ stage: 'quit', command: 'QUIT' }, this.#timeouts.quit);
    } catch {
      // The message is already delivered or refused; a bad goodbye changes nothing.
    }
    this.close();
  }

  /** Closes the connection at once. */
  close(): void {
    if (!this.#broken) {
      this.#broken = new DeliveryError({
        code: 'CONNECTION_CLOSED',
        message: 'session closed',
        stage: 'quit',
        permanent: false,
        host: this.host,
        ip: this.ip,
      });
    }
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#reader.cancel();
    this.#socket.destroy();
  }

  // --- the transaction ---

  async #transaction(env: Envelope, body: () => MessageSource, opts: SendOptions): Promise<TransactionResult> {
    const caps = this.#capabilities;
    if (env.rcptTo.length === 0) throw this.#localError('INVALID_INPUT', 'rcpt', 'no recipients', true);
    for (const a of [env.mailFrom, ...env.rcptTo]) {
      if (UNSAFE_ADDRESS.test(a)) throw this.#localError('INVALID_INPUT', 'mail', `unsafe address ${JSON.stringify(a)}`, true);
    }
    // RFC 8689 §4.2.1: REQUIRETLS only to a server that announced it (after STARTTLS).
    if (env.requireTls && !caps.requireTls) {
      throw this.#localError('REQUIRETLS_UNSUPPORTED', 'mail', 'server does not announce REQUIRETLS', true, 550, SePol7RequireTLS30);
    }
    // RFC 1870 §6.1: don't send what the server said it will not take.
    if (caps.size !== undefined && caps.size > 0 && env.size > caps.size) {
      throw this.#localError('MESSAGE_TOO_BIG', 'mail', `message of ${env.size} bytes exceeds the server's SIZE ${caps.size}`, true, C552MailboxFull, SeSys3MsgLimitExceeded4);
    }

    const results: RecipientResult[] = env.rcptTo.map((address) => ({
      address,
      status: 'not-attempted',
      code: undefined,
      enhancedCode: undefined,
      reply: undefined,
      permanent: false,
      errorCode: undefined,
      stage: undefined,
    }));
    const reject = (r: RecipientResult, code: number, enhanced: string, text: string, errorCode: ErrorCode) =>
      Object.assign(r, { status: 'rejected', code, enhancedCode: enhanced, reply: `${code} ${enhanced} ${text}`, permanent: true, errorCode, stage: 'mail' });

    // RFC 6531 §3.4: non-ASCII envelope addresses (and UTF-8 headers) need SMTPUTF8.
    const messageNeedsUtf8 = !!env.smtpUtf8 || !ASCII_ONLY.test(env.mailFrom);
    const useUtf8 = caps.smtpUtf8 && (messageNeedsUtf8 || env.rcptTo.some((a) => !ASCII_ONLY.test(a)));
    if (!caps.smtpUtf8) {
      for (const r of results) {
        // RFC 6531 §3.2 / delivery-rules §9: without server support that recipient fails (5.6.7).
        if (messageNeedsUtf8 || !ASCII_ONLY.test(r.address)) {
          reject(r, C553BadMailbox, SeMsg6NonASCIIAddrNotPermitted7, 'server does not support SMTPUTF8', 'SMTPUTF8_UNSUPPORTED');
        }
      }
    }
    // RFC 6152 §3: 8-bit data only to a server announcing 8BITMIME (SMTPUTF8 implies it,
    // RFC 6531 §3.3). We do not downgrade content to 7-bit (as mox: a permanent 5.6.3).
    if (env.eightBit && !caps.eightBitMime && !useUtf8) {
      for (const r of results) {
        if (r.status === 'not-attempted') reject(r, C554TransactionFailed, SeMsg6ConversionUnsupported3, 'server does not support 8BITMIME', 'INVALID_INPUT');
      }
    }

    // RFC 9422 §5.2: no more than RCPTMAX recipients per transaction; the rest wait for the next.
    const todo = results.filter((r) => r.status === 'not-attempted').slice(0, caps.rcptMax ?? Infinity);
    if (todo.length === 0) return { recipients: results, dataAccepted: false, bytesSent: 0 };

    const params: string[] = [];
    if (caps.size !== undefined) params.push(`SIZE=${env.size}`); // RFC 1870 §6
    if (env.eightBit && caps.eightBitMime) params.push('BODY=8BITMIME'); // RFC 6152 §3
    if (useUtf8) params.push('SMTPUTF8'); // RFC 6531 §3.4
    if (env.requireTls) params.push('REQUIRETLS'); // RFC 8689 §4.2.1
    const mailCmd = `MAIL FROM:<${env.mailFrom}>${params.map((p) => ` ${p}`).join('')}`;
    this.#transactions++;
    const rcptCmds = todo.map((r) => `RCPT TO:<${r.address}>`);
    const mailCtx: ReplyContext = { stage: 'mail', command: mailCmd };
    const dataCtx: ReplyContext = { stage: 'data', command: 'DATA' };

    const reset = this.#resetDue;
    this.#resetDue = false;
    let mailReply: Reply;
    let dataReply: Reply | undefined;
    if (caps.pipelining) {
      // RFC 2920 §3.1: (RSET,) MAIL, RCPTs and DATA in one group, replies read in order.
      this.#writeCommands(reset ? ['RSET', mailCmd, ...rcptCmds, 'DATA'] : [mailCmd, ...rcptCmds, 'DATA']);
      if (reset) await this.#resetReply();
      mailReply = await this.#read(mailCtx, this.#timeouts.mail);
      for (const [i, r] of todo.entries()) {
        const reply = await this.#read({ stage: 'rcpt', command: rcptCmds[i] }, this.#timeouts.rcpt);
        this.#rcptResult(r, reply, i, mailReply.code < 300);
      }
      dataReply = await this.#read(dataCtx, this.#timeouts.dataInit);
      if (!isSuccess(mailReply)) {
        // RFC 2920 §3.1: if the server still said 354, end the (empty) data with a lone dot.
        if (dataReply.code === C354StartData) await this.#abortData();
        throw this.#replyError(mailReply, mailCtx);
      }
    } else {
      if (reset) {
        this.#writeCommands(['RSET']);
        await this.#resetReply();
      }
      this.#writeCommands([mailCmd]);
      mailReply = await this.#read(mailCtx, this.#timeouts.mail);
      if (!isSuccess(mailReply)) throw this.#replyError(mailReply, mailCtx);
      for (const [i, r] of todo.entries()) {
        this.#writeCommands([rcptCmds[i]!]);
        const reply = await this.#read({ stage: 'rcpt', command: rcptCmds[i] }, this.#timeouts.rcpt);
        this.#rcptResult(r, reply, i, true);
        // RFC 5321 §4.5.3.1.10: past the server's recipient limit: the rest go next time.
        if (r.status === 'not-attempted') break;
      }
    }

    const accepted = todo.filter((r) => r.status === 'accepted');
    if (accepted.length === 0) {
      if (dataReply?.code === C354StartData) await this.#abortData();
      else await this.#rset();
      return { recipients: results, dataAccepted: false, bytesSent: 0 };
    }

    if (!dataReply) {
      this.#writeCommands(['DATA']);
      dataReply = await this.#read(dataCtx, this.#timeouts.dataInit);
    }
    if (dataReply.code !== C354StartData) {
      if (dataReply.code < 400) throw this.#unexpected(dataReply, dataCtx);
      for (const r of accepted) setFromReply(r, dataReply, 'rejected', 'data');
      await this.#rset();
      return { recipients: results, dataAccepted: false, bytesSent: 0 };
    }

    const bytesSent = await this.#streamBody(body, opts.onProgress);
    const endCtx: ReplyContext = { stage: 'data', command: '.' };
    const final = await this.#read(endCtx, this.#timeouts.dataEnd);
    if (final.code < 400 && !isSuccess(final)) throw this.#unexpected(final, endCtx);
    // A second reply right behind the "final" one means the first came before the dot.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#noEarlyReply();
    // RFC 5321 §4.1.1.4: the reply to the final dot applies to every accepted recipient.
    const ok = isSuccess(final);
    for (const r of accepted) setFromReply(r, final, ok ? 'accepted' : 'rejected', 'data');
    return { recipients: results, dataAccepted: ok, bytesSent };
  }

  #rcptResult(r: RecipientResult, reply: Reply, index: number, mailOk: boolean): void {
    // Replies to RCPTs pipelined after a refused MAIL say nothing about the recipient.
    if (!mailOk) return;
    if (isSuccess(reply)) {
      setFromReply(r, reply, 'accepted', 'rcpt');
      return;
    }
    if (reply.code < 400) throw this.#unexpected(reply, { stage: 'rcpt', command: `RCPT TO:<${r.address}>` });
    // RFC 5321 §4.5.3.1.10: 452 (or, historically, 552) on a RCPT after the first means "too
    // many recipients": those go in the next transaction.
    if (index > 0 && isTooManyRecipients(reply)) {
      setFromReply(r, reply, 'not-attempted', 'rcpt');
      r.permanent = false;
      return;
    }
    setFromReply(r, reply, 'rejected', 'rcpt');
  }

  /**
   * The message data after 354. Each encoded chunk is written once the next one is known to
   * exist; the last one goes out in the same write as the terminator (one write for a small
   * message, same bytes on the wire). The source is read to its end — where it verifies the
   * file's size and digest (message-source.ts) — before the terminator can be written.
   */
  async #streamBody(body: () => MessageSource, onProgress: ((bytes: number) => void) | undefined): Promise<number> {
    const enc = new DataEncoder();
    let wire = 0;
    let input = 0;
    let stream: MessageSource | undefined;
    // Encoded (in the encoder's reused buffer) but not yet written, and the input it stands for.
    let held: Buffer | undefined;
    let heldInput = 0;
    try {
      stream = body();
      for await (const chunk of stream as AsyncIterable<Buffer | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        if (held) {
          // The encoder's output buffer is reused, so this write must be flushed before the next push.
          await this.#writeData(held, true);
          this.#noEarlyReply();
          onProgress?.(heldInput);
        }
        input += buf.length;
        held = enc.push(buf, true);
        heldInput = input;
        wire += held.length;
      }
    } catch (e) {
      if (e instanceof DeliveryError) throw e;
      // The message source failed mid-way. Ending the data now would deliver a truncated
      // message, so the connection is dropped without the terminator.
      throw this.#fail(new DeliveryError({ code: 'INTERNAL', message: `reading the message failed: ${errMessage(e)}`, stage: 'data', permanent: false, host: this.host, ip: this.ip, cause: e }));
    }
    // A reply the server already sent (after 354) stops the terminator from going out.
    this.#noEarlyReply();
    const tail = enc.end();
    wire += tail.length;
    await this.#writeData(held && held.length > 0 ? Buffer.concat([held, tail], held.length + tail.length) : tail);
    if (held) onProgress?.(heldInput);
    this.#log('c', `[message body, ${wire} bytes]`);
    return wire;
  }

  /**
   * RFC 5321 §4.1.1.4: after 354 the server's next reply answers the final dot. A reply before
   * it is a protocol violation — a "250" there must never count as acceptance — so the
   * connection is dropped without the terminator: the message is not delivered this time.
   */
  #noEarlyReply(): void {
    if (this.#reader.buffered === 0) return;
    throw this.#fail(protocolError({ stage: 'data', command: 'DATA', host: this.host, ip: this.ip }, 'the server replied before the end of the message data (after 354): protocol violation'));
  }

  /** Ends a DATA the server opened although no recipient was accepted (RFC 2920 §3.1). */
  async #abortData(): Promise<void> {
    await this.#writeData(Buffer.from('.\r\n'));
    this.#log('c', '.');
    await this.#read({ stage: 'data', command: '.' }, this.#timeouts.dataEnd);
  }

  /**
   * The reply to the RSET that begins a transaction on a kept session. Anything but 250, or
   * no reply, ends the session (replies to the commands pipelined behind it are not read) and
   * marks it failedAtReset.
   */
  async #resetReply(): Promise<void> {
    const ctx: ReplyContext = { stage: 'mail', command: 'RSET' };
    try {
      const reply = await this.#read(ctx, this.#timeouts.command);
      if (!isSuccess(reply)) throw this.#fail(this.#replyError(reply, ctx));
    } catch (e) {
      this.#failedAtReset = true;
      throw e;
    }
  }

  /** RFC 5321 §4.1.1.5: reset a transaction that did not reach the data. */
  async #rset(): Promise<void> {
    this.#writeCommands(['RSET']);
    const reply = await this.#read({ stage: 'mail', command: 'RSET' }, this.#timeouts.command);
    if (!isSuccess(reply)) throw this.#replyError(reply, { stage: 'mail', command: 'RSET' });
  }

  // --- EHLO ---

  async #hello(): Promise<void> {
    const ehlo = `EHLO ${this.#ehloName}`;
    this.#writeCommands([ehlo]);
    const reply = await this.#read({ stage: 'ehlo', command: ehlo }, this.#timeouts.command);
    if (isSuccess(reply)) {
      this.#capabilities = parseCapabilities(reply.lines);
      this.#usedHelo = false;
      return;
    }
    // RFC 5321 §3.2: a server that does not know EHLO answers 5xx (502/500); try HELO. A 4xx is
    // a temporary refusal of the session, not an old server.
    if (reply.code < 500) throw this.#replyError(reply, { stage: 'ehlo', command: ehlo });
    const helo = `HELO ${this.#ehloName}`;
    this.#writeCommands([helo]);
    const heloReply = await this.#read({ stage: 'ehlo', command: helo }, this.#timeouts.command);
    if (!isSuccess(heloReply)) throw this.#replyError(heloReply, { stage: 'ehlo', command: helo });
    this.#capabilities = noCapabilities(heloReply.lines[0]?.split(' ')[0] ?? '');
    this.#usedHelo = true;
  }

  // --- TLS ---

  #handshake(options: StartTlsOptions, onTicket?: (ticket: Buffer) => void): Promise<tls.TLSSocket> {
    const servername = options.servername ?? (net.isIP(this.host) ? undefined : this.host);
    return new Promise((resolve, reject) => {
      let settled = false;
      const tlsSocket = tls.connect({
        ...options,
        socket: this.#socket,
        ...(servername ? { servername } : {}),
        // Verification is the policy layer's decision (PKIX, DANE or none); we report.
        rejectUnauthorized: false,
      });
      // TLS 1.2 tickets come during the handshake, TLS 1.3 ones after it: listen for the session's life.
      if (onTicket) tlsSocket.on('session', onTicket);
      const done = (err?: DeliveryError) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        tlsSocket.off('secureConnect', onSecure);
        tlsSocket.off('error', onError);
        tlsSocket.off('close', onClose);
        if (err) {
          tlsSocket.on('error', () => {});
          reject(this.#fail(err, tlsSocket));
        } else resolve(tlsSocket);
      };
      const tlsErr = (message: string, code: ErrorCode, cause?: unknown) =>
        new DeliveryError({ code, message, stage: 'tls', permanent: false, host: this.host, ip: this.ip, command: 'STARTTLS', cause });
      const onSecure = () => done();
      const onError = (e: Error) => done(tlsErr(`TLS handshake failed: ${e.message}`, 'TLS_FAILED', e));
      const onClose = () => done(tlsErr('connection closed during the TLS handshake', 'TLS_FAILED'));
      const timer = this.#clock.setTimer(this.#timeouts.tlsHandshake, () =>
        done(tlsErr(`TLS handshake timed out after ${this.#timeouts.tlsHandshake} ms`, 'TIMEOUT')),
      );
      tlsSocket.once('secureConnect', onSecure);
      tlsSocket.once('error', onError);
      tlsSocket.once('close', onClose);
    });
  }

  // --- reading and writing ---

  #enter(): void {
    if (this.#broken) throw this.#broken;
    if (this.#busy) throw this.#localError('INTERNAL', 'mail', 'session is busy', false);
    this.#busy = true;
  }

  #writeCommands(cmds: string[]): void {
    if (this.#broken) throw this.#broken;
    for (const c of cmds) this.#log('c', c);
    // RFC 2920 §3.1: one write for the whole group.
    this.#socket.write(cmds.map((c) => `${c}\r\n`).join(''));
  }

  /** A command carrying secrets: sent as is, written to the transcript as `shown`. */
  #writeSecret(cmd: string, shown: string): void {
    if (this.#broken) throw this.#broken;
    this.#log('c', shown);
    this.#socket.write(`${cmd}\r\n`);
  }

  /**
   * Writes message data, waiting (bounded by the data block timeout) when the socket is full —
   * or, with `flushed`, until this very buffer has been handed to the kernel (it is reused).
   */
  async #writeData(buf: Buffer, flushed = false): Promise<void> {
    if (this.#broken) throw this.#broken;
    const socket = this.#socket;
    if (socket.destroyed) throw this.#fail(this.#closedError({ stage: 'data', command: 'DATA' }));
    if (buf.length === 0) return;
    let written = false;
    let onWritten: (() => void) | undefined;
    const ok = socket.write(buf, () => {
      written = true;
      onWritten?.();
    });
    if (ok && (!flushed || written)) return;
    // RFC 5321 §4.5.3.2.5: each data block must get through within the timeout.
    await new Promise<void>((resolve, reject) => {
      const finish = (err?: DeliveryError) => {
        timer.cancel();
        onWritten = undefined;
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        if (err) reject(this.#fail(err));
        else resolve();
      };
      const onDrain = () => finish();
      const onClose = () => finish(this.#closedError({ stage: 'data', command: 'DATA' }));
      const timer = this.#clock.setTimer(this.#timeouts.dataBlock, () =>
        finish(this.#timeoutError({ stage: 'data', command: 'DATA' }, this.#timeouts.dataBlock, 'sending message data')),
      );
      if (flushed) onWritten = () => finish();
      else socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  }

  /** Reads one complete reply within `timeoutMs`. Any failure makes the session unusable. */
  async #read(ctx: ReplyContext, timeoutMs: number): Promise<Reply> {
    if (this.#broken) throw this.#broken;
    const full: ReplyContext = { ...ctx, host: this.host, ip: this.ip };
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimer(timeoutMs, () => reject(this.#timeoutError(full, timeoutMs, 'waiting for a reply')));
    });
    const collect = async (): Promise<Reply> => {
      for (;;) {
        let line: string;
        try {
          line = await this.#reader.next();
        } catch (f) {
          throw this.#readFailure(f as ReadFailure, full);
        }
        this.#log('s', line);
        const reply = this.#parser.feed(line, full);
        if (reply) return reply;
      }
    };
    try {
      return await Promise.race([collect(), timeout]);
    } catch (e) {
      this.#reader.cancel();
      throw this.#fail(e instanceof DeliveryError ? e : protocolError(full, errMessage(e)));
    } finally {
      timer?.cancel();
    }
  }

  /** Marks the session broken with `err`, closes the socket, returns `err` for throwing. */
  #fail(err: DeliveryError, socket: net.Socket = this.#socket): DeliveryError {
    if (!this.#broken) {
      this.#broken = err;
      this.#info(`session failed: ${err.code} at ${err.stage}: ${err.message}`);
    }
    socket.destroy();
    this.#socket.destroy();
    // After an abort, whatever broke next (the closed socket) is reported as the abort.
    return this.#aborted ?? err;
  }

  #readFailure(f: ReadFailure, ctx: ReplyContext): DeliveryError {
    switch (f.kind) {
      case 'too-long':
        return protocolError(ctx, 'reply line too long');
      case 'flood':
        return protocolError(ctx, 'server sent too much unsolicited data');
      case 'error':
        return new DeliveryError({ ...this.#closedError(ctx).toFields(), message: `connection lost: ${f.cause.message}`, cause: f.cause });
      default:
        return this.#closedError(ctx);
    }
  }

  #closedError(ctx: ReplyContext): DeliveryError {
    return new DeliveryError({ code: 'CONNECTION_CLOSED', message: 'connection closed unexpectedly', stage: ctx.stage, permanent: false, host: this.host, ip: this.ip, command: ctx.command });
  }

  #timeoutError(ctx: ReplyContext, ms: number, what: string): DeliveryError {
    return new DeliveryError({ code: 'TIMEOUT', message: `timeout after ${ms} ms ${what}`, stage: ctx.stage, permanent: false, host: this.host, ip: this.ip, command: ctx.command });
  }

  /** A 4xx/5xx reply as an error: RFC 5321 §4.2.1, 5yz permanent, 4yz transient. */
  #replyError(reply: Reply, ctx: ReplyContext): DeliveryError {
    if (reply.code < 400) return this.#unexpected(reply, ctx);
    return new DeliveryError({
      code: 'SMTP_REPLY',
      message: `${ctx.command ?? ctx.stage}: ${replyText(reply)}`,
      stage: ctx.stage,
      permanent: isPermanent(reply.code),
      smtpCode: reply.code,
      enhancedCode: reply.enhancedCode,
      host: this.host,
      ip: this.ip,
      command: ctx.command,
      lines: reply.lines,
    });
  }

  /** A reply code that makes no sense at this point: the peer is not speaking SMTP with us. */
  #unexpected(reply: Reply, ctx: ReplyContext): DeliveryError {
    return this.#fail(
      new DeliveryError({
        ...protocolError({ ...ctx, host: this.host, ip: this.ip }, `unexpected reply ${replyText(reply)}`, reply.lines).toFields(),
        smtpCode: reply.code,
        enhancedCode: reply.enhancedCode,
      }),
    );
  }

  #localError(code: ErrorCode, stage: Stage, message: string, permanent: boolean, smtpCode?: number, enhancedCode?: string): DeliveryError {
    return new DeliveryError({ code, message, stage, permanent, smtpCode, enhancedCode, host: this.host, ip: this.ip });
  }

  #log(dir: TranscriptLine['dir'], text: string): void {
    const line: TranscriptLine = { at: this.#clock.now(), dir, text };
    this.transcript.push(line);
    this.#onTranscript?.(line);
  }

  #info(text: string): void {
    this.#log('i', text);
  }
}

function isSuccess(r: Reply): boolean {
  return r.code >= 200 && r.code < 300;
}

function setFromReply(r: RecipientResult, reply: Reply, status: RecipientStatus, stage: Stage): void {
  r.status = status;
  r.code = reply.code;
  r.enhancedCode = reply.enhancedCode;
  r.reply = replyText(reply);
  r.permanent = status === 'rejected' && isPermanent(reply.code);
  r.errorCode = status === 'rejected' ? 'SMTP_REPLY' : undefined;
  r.stage = stage;
}

/** RFC 5321 §4.5.3.1.10: 452, or 552 used (historically) for the same condition. */
function isTooManyRecipients(reply: Reply): boolean {
  if (reply.code === C452StorageFull) return true;
  if (reply.code !== C552MailboxFull) return false;
  // RFC 3463 §3.5 X.5.3 "too many recipients"; else only the text tells it from "mailbox full".
  return reply.enhancedCode === '5.5.3' || /too many recipients/i.test(reply.lines.join(' '));
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function tlsInfo(s: tls.TLSSocket): TlsInfo {
  const version = s.getProtocol() ?? 'unknown';
  const cipher = s.getCipher()?.name ?? 'unknown';
  // A resumed session has no peer chain to read (its leaf at most): the caller has the verdict.
  if (s.isSessionReused()) return { version, cipher, chain: [], leafFingerprint: undefined, authorized: s.authorized, authorizationError: undefined, resumed: true };
  const chain: Buffer[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = s.getPeerCertificate(true);
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(Buffer.from(cert.raw));
    // Node links the self-signed root to itself; the `seen` check ends the walk.
    cert = cert.issuerCertificate;
  }
  const leaf = chain[0];
  return {
    version,
    cipher,
    chain,
    leafFingerprint: leaf ? createHash('sha256').update(leaf).digest('hex') : undefined,
    authorized: s.authorized,
    authorizationError: s.authorizationError ? String(s.authorizationError) : undefined,
  };
}
