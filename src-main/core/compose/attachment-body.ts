/**
 * Attachment bodies in base64 (RFC 2045 §6.8), encoded by compose/ itself from the file into
 * the .eml through two buffers allocated once per message, so a 50 MB attachment makes no
 * garbage at all (issue 14: nodemailer's encoder left a base64 string, a concatenation and two
 * Buffers per 64 KiB for the collector, and they piled up between scavenges into +28 MiB of
 * RSS; encoding into fresh Buffers only moved the garbage).
 *
 * The bytes are exactly nodemailer's (base64 Encoder with lineLength 76, which the pinned
 * output of compose/build.ts was made with, test/unit/compose/attachment-golden.test.ts):
 * lines of 76 characters (57 input bytes, RFC 2045 §6.8: at most 76), joined by CRLF, no line
 * break after the last line (the multipart framing that follows starts with its own CRLF), and
 * nothing at all for an empty file.
 *
 * The file is read at explicit positions through the handle compose opened and checked
 * (compose/build.ts openAttachments): exactly `size` bytes, or the file changed under us and
 * the message is refused — a file that shrinks ends early, one that grows has a byte at `size`.
 */
import type { FileHandle } from 'node:fs/promises';

/** RFC 2045 §6.8: 76 characters a line, i.e. 57 input bytes. */
const LINE_BYTES = 57;
const LINE_CHARS = 76;
const LINES_PER_CHUNK = 1024;
/** Bytes read at a time: whole lines only, so every chunk but the last ends on a line end. */
export const READ_CHUNK = LINE_BYTES * LINES_PER_CHUNK;
/** The encoded chunk: its lines, each with the CRLF that separates it from the one before. */
const OUT_CHUNK = LINES_PER_CHUNK * (LINE_CHARS + 2);

const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const PAD = 0x3d; // '='

export interface ByteSink {
  /** Resolves once `buf[off, off+len)` was written: only then is the buffer reused. */
  write(buf: Uint8Array, off: number, len: number): Promise<void>;
}

/** What the encoded body looks like, for compose's line-length check (RFC 5322 §2.1.1). */
export interface EncodedBody {
  /** Characters in the longest line (76 at most). */
  longestLine: number;
  /** Characters in the last line (no CRLF follows it). */
  lastLine: number;
}

export class AttachmentEncoder {
  readonly #in = Buffer.allocUnsafeSlow(READ_CHUNK);
  readonly #out = Buffer.allocUnsafeSlow(OUT_CHUNK);

  /** Encodes the `size` bytes of `fh` into `sink`; `changed()` is thrown if the file is not that size. */
  async encode(fh: FileHandle, size: number, sink: ByteSink, changed: () => Error): Promise<EncodedBody> {
    for (let pos = 0; pos < size; ) {
      const want = Math.min(READ_CHUNK, size - pos);
      for (let got = 0; got < want; ) {
        const { bytesRead } = await fh.read(this.#in, got, want - got, pos + got);
        if (bytesRead === 0) throw changed();
        got += bytesRead;
      }
      const n = encodeLines(this.#in, want, this.#out, pos === 0);
      pos += want;
      await sink.write(this.#out, 0, n);
    }
    // A whole chunk, not one byte: some files (/proc/self/pagemap) only take aligned reads.
    if ((await fh.read(this.#in, 0, READ_CHUNK, size)).bytesRead !== 0) throw changed();
    const chars = 4 * Math.ceil(size / 3);
    return { longestLine: Math.min(chars, LINE_CHARS), lastLine: chars === 0 ? 0 : chars - LINE_CHARS * (Math.ceil(chars / LINE_CHARS) - 1) };
  }
}

/**
 * Base64 of `src[0, len)` into `dst` in lines of 76 characters, each line but the very first
 * of the body preceded by CRLF; returns the bytes written. `len` is a multiple of 57 except
 * for the body's last chunk.
 */
function encodeLines(src: Buffer, len: number, dst: Buffer, first: boolean): number {
  let o = 0;
  for (let line = 0; line < len; line += LINE_BYTES) {
    if (!first || line > 0) {
      dst[o++] = 0x0d;
      dst[o++] = 0x0a;
    }
    const end = Math.min(line + LINE_BYTES, len);
    let i = line;
    for (; i + 3 <= end; i += 3) {
      const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
      dst[o++] = ALPHABET[v >>> 18]!;
      dst[o++] = ALPHABET[(v >>> 12) & 63]!;
      dst[o++] = ALPHABET[(v >>> 6) & 63]!;
      dst[o++] = ALPHABET[v & 63]!;
    }
    const rest = end - i;
    if (rest > 0) {
      // RFC 4648 §4: the last group, padded with "=".
      const v = (src[i]! << 16) | (rest === 2 ? src[i + 1]! << 8 : 0);
      dst[o++] = ALPHABET[v >>> 18]!;
      dst[o++] = ALPHABET[(v >>> 12) & 63]!;
      dst[o++] = rest === 2 ? ALPHABET[(v >>> 6) & 63]! : PAD;
      dst[o++] = PAD;
    }
  }
  return o;
}
