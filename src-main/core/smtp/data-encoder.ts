/**
 * The DATA payload on the wire: RFC 5321 §4.5.2 (transparency: dot-stuffing), §2.3.8 and
 * §4.1.1.4 (lines end in CRLF; bare CR and LF are not allowed) and the CRLF.CRLF terminator.
 *
 * Threat: SMTP smuggling. A message containing "\n.\n" or "\r\n.\r" (a bare LF/CR around a
 * dot) can be read by some servers as the end of data, and whatever follows as new SMTP
 * commands injected in our name. Normalising every bare CR and bare LF to CRLF before
 * dot-stuffing means the only "<CRLF>.<CRLF>" on the wire is the terminator we write.
 *
 * Works chunk by chunk with constant state (never holds the message), so a large message is
 * streamed.
 */
import { Transform, type TransformCallback } from 'node:stream';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('.\r\n');

export class DataEncoder {
  /** At the start of a line (the start of the message counts). */
  #lineStart = true;
  /** Last input byte was a CR whose meaning depends on the next byte. */
  #pendingCr = false;

  /** Output space reused across pushes (see `push`). */
  #scratch: Buffer | undefined;

  /**
   * Encodes one chunk; the result may be shorter or longer than the input. With `reuse`, the
   * result is a view of a buffer this encoder overwrites on the next push — the caller must be
   * done with it (e.g. the socket has flushed it) first. That keeps a large message from
   * leaving a trail of garbage buffers twice its size.
   */
  push(chunk: Uint8Array, reuse = false): Buffer {
    // Worst case: every byte becomes two (a "." at line start, or a bare LF).
    const need = chunk.length * 2 + 2;
    let out: Buffer;
    if (reuse) {
      if (!this.#scratch || this.#scratch.length < need) this.#scratch = Buffer.allocUnsafeSlow(Math.max(need, 128 * 1024 + 2));
      out = this.#scratch;
    } else {
      out = Buffer.allocUnsafe(need);
    }
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.#pendingCr) {
        this.#pendingCr = false;
        out[o++] = CR;
        out[o++] = LF;
        this.#lineStart = true;
        if (b === LF) continue;
        // A bare CR ends the line too (RFC 5321 §2.3.8): the byte after it starts a new one.
      }
      if (b === CR) {
        this.#pendingCr = true;
        continue;
      }
      if (b === LF) {
        out[o++] = CR;
        out[o++] = LF;
        this.#lineStart = true;
        continue;
      }
      // RFC 5321 §4.5.2: a line starting with "." gets one more "." in front.
      if (this.#lineStart && b === DOT) out[o++] = DOT;
      out[o++] = b;
      this.#lineStart = false;
    }
    return out.subarray(0, o);
  }

  /** The bytes that close the data: a CRLF if the last line is unfinished, then ".CRLF". */
  end(): Buffer {
    const parts: Buffer[] = [];
    if (this.#pendingCr) {
      this.#pendingCr = false;
      this.#lineStart = true;
      parts.push(CRLF);
    }
    // RFC 5321 §4.1.1.4: the data ends with CRLF "." CRLF; the first CRLF belongs to the last line.
    if (!this.#lineStart) parts.push(CRLF);
    parts.push(TERMINATOR);
    this.#lineStart = true;
    return Buffer.concat(parts);
  }
}

/** The same encoding as a stream Transform: message bytes in, DATA wire bytes (with terminator) out. */
export function dataEncodeStream(): Transform {
  const enc = new DataEncoder();
  return new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, cb: TransformCallback) {
      cb(null, enc.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    },
    flush(cb: TransformCallback) {
      cb(null, enc.end());
    },
  });
}
