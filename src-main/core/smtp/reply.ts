/**
 * SMTP replies: RFC 5321 §4.2 (reply syntax, multi-line replies), §4.5.3.1.5 (reply line
 * length), RFC 3463 (enhanced status codes) and RFC 2034 (ENHANCEDSTATUSCODES).
 *
 * Threat: the remote server is untrusted. A hostile or broken server may send codes that are
 * not three digits, lines that never end, endless continuation lines, or a multi-line reply
 * whose lines disagree about the code (one line "250", the next "550"), hoping a lenient
 * parser picks whichever suits it. Everything malformed becomes a DeliveryError SMTP_PROTOCOL
 * for that attempt; nothing here throws anything else.
 */
import { DeliveryError, type Stage } from '../errors';

/** RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; we tolerate real-world overlong ones. */
export const MAX_REPLY_LINE = 2000;
/** A bound on continuation lines, so a server cannot make us collect a reply forever. */
export const MAX_REPLY_LINES = 100;

export interface Reply {
  code: number;
  /** RFC 3463 code from the first line, e.g. "5.1.1", when present and consistent with `code`. */
  enhancedCode: string | undefined;
  /** Text of each line after the code and separator (enhanced code included as sent). */
  lines: string[];
  /** Raw lines as received, for the transcript. */
  raw: string[];
}

/** Where a reply was read; copied into the DeliveryError of a malformed reply. */
export interface ReplyContext {
  stage: Stage;
  command?: string | undefined;
  host?: string | undefined;
  ip?: string | undefined;
}

export function protocolError(ctx: ReplyContext, message: string, lines?: string[]): DeliveryError {
  return new DeliveryError({
    code: 'SMTP_PROTOCOL',
    message,
    stage: ctx.stage,
    permanent: false,
    host: ctx.host,
    ip: ctx.ip,
    command: ctx.command,
    lines,
  });
}

// RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39. The separator is SP (last line) or "-"
// (more lines follow); a bare code with nothing after it is a last line too (§4.2.1 "textstring"
// is optional in practice, and RFC 5321 §4.2 allows "Reply-code [ SP textstring ] CRLF").
const LINE_RE = /^([2-5][0-5][0-9])(?:([ -])(.*))?$/s;

export interface ReplyLine {
  code: number;
  last: boolean;
  text: string;
}

/** Parses one reply line (without CRLF). Throws SMTP_PROTOCOL when it is not a reply line. */
export function parseReplyLine(line: string, ctx: ReplyContext): ReplyLine {
  if (Buffer.byteLength(line, 'utf8') > MAX_REPLY_LINE) {
    throw protocolError(ctx, `reply line longer than ${MAX_REPLY_LINE} bytes`);
  }
  const m = LINE_RE.exec(line);
  if (!m) throw protocolError(ctx, `malformed reply line: ${JSON.stringify(line.slice(0, 80))}`, [line.slice(0, 200)]);
  // Control characters other than TAB in the text mean binary garbage, not a reply.
  const text = m[3] ?? '';
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) {
    throw protocolError(ctx, 'control characters in reply line', [line.slice(0, 200)]);
  }
  return { code: Number(m[1]), last: m[2] !== '-', text };
}

// RFC 3463 §2: status-code = class "." subject "." detail; class 2/4/5, subject and detail
// 1*3 digits, with no leading zeros beyond "0" (we accept them, real servers do not send them).
const ENHANCED_RE = /^([245])\.(\d{1,3})\.(\d{1,3})(?=$|[ \t])/;

/**
 * The RFC 3463 code at the start of `text`, if its class matches the reply's first digit.
 * Servers often send these without announcing ENHANCEDSTATUSCODES (RFC 2034 §3) or before EHLO;
 * we take them whenever they are well-formed and consistent, and ignore them otherwise rather
 * than failing the reply: the basic code decides, the enhanced code only explains.
 */
export function parseEnhancedCode(code: number, text: string): string | undefined {
  const m = ENHANCED_RE.exec(text);
  if (!m) return undefined;
  if (Number(m[1]) !== Math.floor(code / 100)) return undefined;
  return `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
}

/**
 * Collects lines into replies. feed() returns the reply once its last line arrived and throws
 * SMTP_PROTOCOL on anything malformed.
 */
export class ReplyParser {
  #lines: ReplyLine[] = [];
  #raw: string[] = [];

  feed(line: string, ctx: ReplyContext): Reply | undefined {
    const parsed = parseReplyLine(line, ctx);
    const first = this.#lines[0];
    // RFC 5321 §4.2.1: every line of a multi-line reply carries the same code.
    if (first && first.code !== parsed.code) {
      throw protocolError(ctx, `inconsistent codes in multi-line reply (${first.code} then ${parsed.code})`, [...this.#raw, line]);
    }
    this.#lines.push(parsed);
    this.#raw.push(line);
    if (!parsed.last) {
      if (this.#lines.length >= MAX_REPLY_LINES) {
        throw protocolError(ctx, `reply with more than ${MAX_REPLY_LINES} lines`);
      }
      return undefined;
    }
    const lines = this.#lines.map((l) => l.text);
    const reply: Reply = {
      code: parsed.code,
      enhancedCode: parseEnhancedCode(parsed.code, lines[0] ?? ''),
      lines,
      raw: this.#raw,
    };
    this.#lines = [];
    this.#raw = [];
    return reply;
  }

  /** True while a multi-line reply is incomplete. */
  get pending(): boolean {
    return this.#lines.length > 0;
  }
}

/** Parses a complete reply from its lines (for tests and tools); throws on incomplete input. */
export function parseReply(lines: string[], ctx: ReplyContext): Reply {
  const p = new ReplyParser();
  for (const [i, line] of lines.entries()) {
    const r = p.feed(line, ctx);
    if (r) {
      if (i !== lines.length - 1) throw protocolError(ctx, 'data after the last line of a reply');
      return r;
    }
  }
  throw protocolError(ctx, 'incomplete reply');
}

/** RFC 5321 §4.2.1: 4yz transient, 5yz permanent. */
export function isPermanent(code: number): boolean {
  return code >= 500;
}

/** The reply as one line for users and logs: "550 5.1.1 no such user / second line". */
export function replyText(r: Reply): string {
  return `${r.code} ${r.lines.join(' / ')}`.trim();
}
