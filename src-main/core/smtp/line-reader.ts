/**
 * Splits the server's byte stream into reply lines (RFC 5321 §2.3.8: lines end in CRLF; a bare
 * LF is accepted from servers, as most clients do).
 *
 * Threats: a server that never sends a line end, or floods us with lines we never asked for,
 * must not make us buffer without bound — both become a read failure. For STARTTLS the reader
 * can be detached: everything read but not consumed is thrown away (RFC 3207 §6, the
 * plaintext command-injection attack) and it is re-attached to the TLS socket.
 */
import type { Duplex } from 'node:stream';
import { MAX_REPLY_LINE } from './reply';

/** Bound on lines read ahead of the client (pipelined replies, hostile floods). */
const MAX_QUEUED_BYTES = 1 << 20;

export type ReadFailure =
  | { kind: 'closed' }
  | { kind: 'error'; cause: Error }
  | { kind: 'too-long' }
  | { kind: 'flood' };

export class LineReader {
  #stream: Duplex | undefined;
  #partial: Buffer[] = [];
  #partialLen = 0;
  #lines: string[] = [];
  #queuedBytes = 0;
  #failure: ReadFailure | undefined;
  #waiter: { resolve: (line: string) => void; reject: (f: ReadFailure) => void } | undefined;

  readonly #onData = (chunk: Buffer): void => this.#data(chunk);
  readonly #onEnd = (): void => this.#fail({ kind: 'closed' });
  readonly #onError = (err: Error): void => this.#fail({ kind: 'error', cause: err });

  constructor(stream: Duplex) {
    this.attach(stream);
  }

  attach(stream: Duplex): void {
    this.#stream = stream;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
    stream.on('error', this.#onError);
  }

  /** Stops reading and discards everything buffered; returns how many bytes were discarded. */
  detach(): number {
    this.#unlisten();
    const discarded = this.#partialLen + this.#queuedBytes;
    this.#partial = [];
    this.#partialLen = 0;
    this.#lines = [];
    this.#queuedBytes = 0;
    return discarded;
  }

  /** The next line (without its line end). Rejects with a ReadFailure once no line can come. */
  next(): Promise<string> {
    const line = this.#lines.shift();
    if (line !== undefined) {
      this.#queuedBytes -= line.length;
      return Promise.resolve(line);
    }
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiter) return Promise.reject({ kind: 'error', cause: new Error('concurrent read') } satisfies ReadFailure);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Forgets a pending next() (its promise stays unsettled; the caller already gave up on it). */
  cancel(): void {
    this.#waiter = undefined;
  }

  /** Lines read but not yet consumed (pipelined replies or unsolicited data). */
  get buffered(): number {
    return this.#lines.length + (this.#partialLen > 0 ? 1 : 0);
  }

  #unlisten(): void {
    const s = this.#stream;
    if (!s) return;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('close', this.#onEnd);
    s.off('error', this.#onError);
    this.#stream = undefined;
  }

  #data(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      let buf = chunk.subarray(start, nl);
      if (this.#partialLen > 0) {
        buf = Buffer.concat([...this.#partial, buf]);
        this.#partial = [];
        this.#partialLen = 0;
      }
      start = nl + 1;
      if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
      if (buf.length > MAX_REPLY_LINE) return this.#fail({ kind: 'too-long' });
      this.#push(buf.toString('utf8'));
      if (this.#failure) return;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#partial.push(rest);
      this.#partialLen += rest.length;
      // +1 for a CR that may still precede the LF.
      if (this.#partialLen > MAX_REPLY_LINE + 1) this.#fail({ kind: 'too-long' });
    }
  }

  #push(line: string): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve(line);
      return;
    }
    this.#lines.push(line);
    this.#queuedBytes += line.length;
    if (this.#queuedBytes > MAX_QUEUED_BYTES) this.#fail({ kind: 'flood' });
  }

  #fail(f: ReadFailure): void {
    if (this.#failure) return;
    this.#failure = f;
    this.#stream?.off('data', this.#onData);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(f);
  }
}
