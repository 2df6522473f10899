/**
 * Mailbox syntax for the composer: what a user typed or pasted, turned into addresses the
 * engine can put in an envelope (RFC 5321 §4.1.2 Mailbox, extended by RFC 6531 §3.3 for UTF-8)
 * and in headers (RFC 5322 §3.4, via nodemailer's addressparser for the "Name <a@b>" forms).
 *
 * Threats: header and command injection (a CR/LF or NUL smuggled in an address or display name
 * would end a header line or an SMTP command and let the text that follows add a Bcc or a
 * RCPT of the attacker's choosing), and domains that read as one thing and resolve as another
 * (percent-escapes, numeric "hosts" that WHATWG URL parsing turns into IPv4 addresses, bidi
 * controls). Everything is checked after parsing; addressparser is lenient by design and drops
 * line breaks silently, so it never sees a string containing one.
 *
 * Results are values, never exceptions: a composer shows the error next to the field.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';
import { unsafeTextProblem } from '../../../shared/text';

/** A mailbox that passed every check. */
export interface ParsedAddress {
  /** The address as shown to the user: local part @ U-label domain. */
  display: string;
  /** Display name, when one was given. Never contains control characters. */
  name?: string;
  /** Local part exactly as written (quoted form kept): local parts are case-sensitive. */
  local: string;
  domainUnicode: string;
  /** IDNA A-label form, lowercase: what DNS and the envelope use. */
  domainAscii: string;
  /** local@A-label: the RFC 5321 forward-path / reverse-path content. */
  envelope: string;
  /** RFC 6531 §3.4: a non-ASCII local part can only travel with SMTPUTF8. */
  needsSmtpUtf8: boolean;
}

export type AddressErrorCode =
  | 'empty'
  | 'control-char'
  | 'too-long'
  | 'missing-address'
  | 'multiple-addresses'
  | 'bad-syntax'
  | 'bad-local-part'
  | 'local-part-too-long'
  | 'bad-domain'
  | 'domain-not-fqdn'
  | 'address-literal'
  | 'domain-too-long'
  | 'path-too-long';

export interface FieldError {
  /** Which field of the draft: 'from', 'to', 'cc', 'bcc', 'replyTo', 'subject', 'attachments', ... */
  field: string;
  /** Position in a list field (to[2]), when the field is a list. */
  index?: number;
  code: string;
  message: string;
}

export type AddressResult = { ok: true; value: ParsedAddress } | { ok: false; error: FieldError };

/** Upper bound on what we hand to addressparser: keeps hostile pastes cheap. */
const MAX_ENTRY_CHARS = 2048;
const MAX_LIST_CHARS = 256 * 1024;

/**
 * C0 controls (CR, LF, NUL, TAB...), DEL, C1 controls, and U+2028/U+2029 (line and paragraph
 * separators, which some renderers and mail clients treat as line breaks).
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** Bidi embedding/override/isolate controls: they let an address display as a different one. */
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f]/;
/** Unpaired UTF-16 surrogates cannot be encoded as UTF-8 and would turn into U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when `s` contains anything that must never reach a header or an SMTP command line. */
export function hasControlChars(s: string): boolean {
  return CONTROL.test(s) || LONE_SURROGATE.test(s);
}

// RFC 5322 §3.2.3 atext, extended by RFC 6531 §3.3 with UTF8-non-ascii (any code point ≥ U+0080
// once controls are excluded, which they already are at this point).
const ATEXT = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\u0080-\\u{10ffff}";
// RFC 5321 §4.1.2: Dot-string = Atom *("." Atom)
const DOT_STRING = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*$`, 'u');
// RFC 5321 §4.1.2: Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP = %d32-33 / %d35-91 /
// %d93-126; quoted-pairSMTP = %d92 %d32-126. RFC 6531 §3.3 adds UTF8-non-ascii to qtextSMTP.
const QUOTED_STRING = /^"(?:[\u0020\u0021\u0023-\u005b\u005d-\u007e\u0080-\u{10ffff}]|\\[\u0020-\u007e])*"$/u;
/** An A-label's LDH label (RFC 5890 §2.3.1, RFC 1123 §2.1), at most 63 octets (RFC 1035 §2.3.4). */
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

function fail(field: string, index: number | undefined, code: AddressErrorCode, message: string): AddressResult {
  const error: FieldError = { field, code, message };
  if (index !== undefined) error.index = index;
  return { ok: false, error };
}

/**
 * Validates one bare addr-spec (`local@domain`, no display name, no brackets) per
 * RFC 5321 §4.1.2 + RFC 6531. `name` is attached to the result as is (already checked).
 */
export function validateMailbox(
  addr: string,
  opts: { field?: string; index?: number; name?: string } = {},
): AddressResult {
  const field = opts.field ?? 'address';
  const idx = opts.index;
  if (typeof addr !== 'string' || addr.length === 0) return fail(field, idx, 'empty', 'address is empty');
  if (hasControlChars(addr)) return fail(field, idx, 'control-char', 'address contains a control character or line break');
  if (BIDI.test(addr)) return fail(field, idx, 'control-char', 'address contains a bidirectional control character');
  if (addr.length > MAX_ENTRY_CHARS) return fail(field, idx, 'too-long', 'address is too long');

  // The domain never contains '@' (no address literals accepted), so the last '@' splits.
  const at = addr.lastIndexOf('@');
  if (at <= 0 || at === addr.length - 1) {
    return fail(field, idx, 'bad-syntax', `"${addr}" is not of the form local-part@domain`);
  }
  const local = addr.slice(0, at);
  const domainIn = addr.slice(at + 1);

  // RFC 5321 §4.1.2: Local-part = Dot-string / Quoted-string
  if (!DOT_STRING.test(local) && !QUOTED_STRING.test(local)) {
    return fail(field, idx, 'bad-local-part', `the part before "@" in "${addr}" is not a valid local part`);
  }
  // RFC 5321 §4.5.3.1.1: local part at most 64 octets (UTF-8 octets, RFC 6531 §3.3).
  if (utf8Length(local) > 64) return fail(field, idx, 'local-part-too-long', 'the part before "@" is longer than 64 bytes');

  const dom = parseDomain(domainIn);
  if (!dom.ok) return fail(field, idx, dom.code, `"${domainIn}" ${dom.message}`);

  const envelope = `${local}@${dom.ascii}`;
  // RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
  if (utf8Length(envelope) + 2 > 256) return fail(field, idx, 'path-too-long', 'address is longer than 254 bytes');

  const value: ParsedAddress = {
    display: `${local}@${dom.unicode}`,
    local,
    domainUnicode: dom.unicode,
    domainAscii: dom.ascii,
    envelope,
    // RFC 6531 §3.4: only a non-ASCII local part needs SMTPUTF8; the domain travels as A-label.
    needsSmtpUtf8: /[^\u0000-\u007f]/.test(local),
  };
  if (opts.name) value.name = opts.name;
  return { ok: true, value };
}

type DomainResult =
  | { ok: true; ascii: string; unicode: string }
  | { ok: false; code: AddressErrorCode; message: string };

/** Domain → A-label (for DNS and the envelope) and U-label (for display). */
export function parseDomain(input: string): DomainResult {
  if (input.startsWith('[')) {
    // RFC 5321 §4.1.3 address literals: legal, but a desktop sender delivering to a raw IP
    // bypasses MX, MTA-STS and DANE entirely; not supported.
    return { ok: false, code: 'address-literal', message: 'is an IP address literal, which is not supported' };
  }
  // Only LDH and dots in the ASCII range. domainToASCII follows WHATWG URL host parsing, which
  // would percent-decode "%41" and accept '_', '!', '*'... — check before it rewrites anything.
  if (!/^[A-Za-z0-9.\-\u0080-\u{10ffff}]+$/u.test(input)) {
    return { ok: false, code: 'bad-domain', message: 'contains characters not allowed in a domain name' };
  }
  // RFC 5321 §4.1.2: Domain = sub-domain *("." sub-domain): no empty label, no trailing dot.
  // Full stops that UTS #46 maps to '.' (U+3002 and friends) are caught after conversion.
  if (input.startsWith('.') || input.endsWith('.') || input.includes('..')) {
    return { ok: false, code: 'bad-domain', message: 'has an empty label' };
  }
  if (utf8Length(input) > 255) {
    // RFC 5321 §4.5.3.1.2: a domain is at most 255 octets.
    return { ok: false, code: 'domain-too-long', message: 'is longer than 255 bytes' };
  }
  // RFC 5890/5891 via UTS #46 processing: '' means the conversion failed.
  const ascii = domainToASCII(input);
  if (!ascii) return { ok: false, code: 'bad-domain', message: 'is not a valid (internationalized) domain name' };
  // RFC 1035 §2.3.4: 253 characters in text form.
  if (ascii.length > 253) return { ok: false, code: 'domain-too-long', message: 'is longer than 253 characters as A-label' };
  const labels = ascii.split('.');
  for (const label of labels) {
    // RFC 5890 §2.3.1 / RFC 1123 §2.1: LDH labels, 1..63, no leading or trailing hyphen.
    if (!LDH_LABEL.test(label)) return { ok: false, code: 'bad-domain', message: `has an invalid label "${label}"` };
  }
  // RFC 5321 §2.3.5: only fully-qualified domain names; a single label is a local alias.
  if (labels.length < 2) return { ok: false, code: 'domain-not-fqdn', message: 'is not a fully-qualified domain name' };
  // RFC 3696 §2: a top-level label is never all-numeric. This also catches "1.2.3.4" and the
  // "0x7f.1" forms that WHATWG parsing silently turns into IPv4 addresses.
  const tld = labels[labels.length - 1] ?? '';
  if (/^[0-9]+$/.test(tld) || /^\d+\.\d+\.\d+\.\d+$/.test(ascii)) {
    return { ok: false, code: 'bad-domain', message: 'looks like an IP address, not a domain name' };
  }
  const unicode = domainToUnicode(ascii);
  // A-labels that do not decode to a valid U-label (RFC 5891 §5.4) come back unchanged or
  // empty; the round trip must be stable for display and envelope to name the same domain.
  if (!unicode || domainToASCII(unicode) !== ascii) {
    return { ok: false, code: 'bad-domain', message: 'contains an invalid A-label' };
  }
  if (hasControlChars(unicode) || BIDI.test(unicode)) {
    return { ok: false, code: 'bad-domain', message: 'decodes to control characters' };
  }
  return { ok: true, ascii, unicode };
}

/** Checks a display name: anything printable, no line breaks or controls, bounded length. */
function checkName(name: string, field: string, index: number | undefined): AddressResult | undefined {
  // One rule for one-line display text (shared/text.ts): controls, line separators, bidi.
  const problem = unsafeTextProblem(name);
  if (problem) return fail(field, index, 'control-char', `display name ${problem}`);
  if (name.length > 256) return fail(field, index, 'too-long', 'display name is too long');
  return undefined;
}

/**
 * One mailbox in header form: `a@b`, `<a@b>`, `Name <a@b>`, `"Last, First" <a@b>`.
 * Used for the entries of a draft's to/cc/bcc/replyTo lists. Exactly one address required.
 */
export function parseMailbox(input: string, opts: { field?: string; index?: number } = {}): AddressResult {
  const field = opts.field ?? 'address';
  const idx = opts.index;
  if (typeof input !== 'string') return fail(field, idx, 'bad-syntax', 'address is not text');
  // Before parsing: addressparser turns CR/LF into spaces, which would hide an injection attempt.
  if (hasControlChars(input)) return fail(field, idx, 'control-char', 'address contains a control character or line break');
  if (input.length > MAX_ENTRY_CHARS) return fail(field, idx, 'too-long', 'address is too long');
  if (input.trim() === '') return fail(field, idx, 'empty', 'address is empty');

  let parsed: ReturnType<typeof addressparser>;
  try {
    parsed = addressparser(input, { flatten: true });
  } catch {
    return fail(field, idx, 'bad-syntax', `"${input}" could not be parsed`);
  }
  if (parsed.length === 0) return fail(field, idx, 'empty', 'address is empty');
  if (parsed.length > 1) {
    return fail(field, idx, 'multiple-addresses', `"${input}" contains more than one address; put each in its own entry`);
  }
  const one = parsed[0];
  if (!one || !one.address) return fail(field, idx, 'missing-address', `"${input}" has no e-mail address`);
  // Without angle brackets the entry must be a bare addr-spec. addressparser would read
  // "a b@example.com" as name "a" + address "b@example.com" and drop an unterminated quote:
  // guesses that put a different address in the envelope than the one the user typed.
  if (!input.includes('<')) return validateMailbox(input.trim(), idx === undefined ? { field } : { field, index: idx });
  const name = (one.name ?? '').trim();
  const bad = checkName(name, field, idx);
  if (bad) return bad;
  const opt: { field: string; index?: number; name?: string } = { field };
  if (idx !== undefined) opt.index = idx;
  if (name) opt.name = name;
  return validateMailbox(one.address.trim(), opt);
}

/** A name + address pair as stored for an identity; the address is a bare addr-spec. */
export function parseNamedMailbox(
  from: { address: string; name?: string | undefined },
  opts: { field?: string } = {},
): AddressResult {
  const field = opts.field ?? 'from';
  if (!from || typeof from !== 'object' || typeof from.address !== 'string') {
    return fail(field, undefined, 'bad-syntax', 'address is missing');
  }
  // Checked before trimming: a trailing CRLF is an injection attempt, not whitespace to tidy.
  const bad = checkName(typeof from.name === 'string' ? from.name : '', field, undefined);
  if (bad) return bad;
  if (hasControlChars(from.address)) return fail(field, undefined, 'control-char', 'address contains a control character or line break');
  const name = typeof from.name === 'string' ? from.name.trim() : '';
  let addr = from.address.trim();
  if (addr.startsWith('<') && addr.endsWith('>')) addr = addr.slice(1, -1);
  return validateMailbox(addr, name ? { field, name } : { field });
}

/**
 * A list pasted by a user: entries separated by commas, semicolons or line breaks. Line breaks
 * are separators here (a paste from a spreadsheet), so they are split on first and never reach
 * addressparser; each piece is then parsed as a header address list (which also handles
 * `"Last, First" <a@b>` and groups, flattened).
 */
export function parseAddressList(
  input: string,
  opts: { field?: string } = {},
): { addresses: ParsedAddress[]; errors: FieldError[] } {
  const field = opts.field ?? 'address';
  const addresses: ParsedAddress[] = [];
  const errors: FieldError[] = [];
  if (typeof input !== 'string') {
    errors.push({ field, code: 'bad-syntax', message: 'address list is not text' });
    return { addresses, errors };
  }
  if (input.length > MAX_LIST_CHARS) {
    errors.push({ field, code: 'too-long', message: 'address list is too long' });
    return { addresses, errors };
  }
  let index = 0;
  for (const line of input.split(/\r\n|[\r\n\u2028\u2029]/)) {
    if (line.trim() === '') continue;
    if (hasControlChars(line)) {
      errors.push({ field, index: index++, code: 'control-char', message: 'entry contains a control character' });
      continue;
    }
    let parsed: ReturnType<typeof addressparser>;
    try {
      // addressparser splits on ',' and ';' outside quotes and angle brackets.
      parsed = addressparser(line, { flatten: true });
    } catch {
      errors.push({ field, index: index++, code: 'bad-syntax', message: `"${line.slice(0, 200)}" could not be parsed` });
      continue;
    }
    for (const p of parsed) {
      const i = index++;
      if (!p.address) {
        errors.push({ field, index: i, code: 'missing-address', message: `"${(p.name ?? '').slice(0, 200)}" has no e-mail address` });
        continue;
      }
      const name = (p.name ?? '').trim();
      const bad = checkName(name, field, i);
      if (bad && !bad.ok) {
        errors.push(bad.error);
        continue;
      }
      const r = validateMailbox(p.address.trim(), name ? { field, index: i, name } : { field, index: i });
      if (r.ok) addresses.push(r.value);
      else errors.push(r.error);
    }
  }
  return { addresses, errors };
}

/** "Name <local@U-label>" or the bare address, for lists and logs. */
export function formatAddress(a: ParsedAddress): string {
  return a.name ? `${a.name} <${a.display}>` : a.display;
}

/** RFC 5322 §3.2.3 atext (RFC 6532 §3.2: and any non-ASCII character), and spaces between atoms. */
const PHRASE_OF_ATOMS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/;

/**
 * A mailbox in header form that parses back to the same name and address: the name as atoms
 * when it is only atoms, else a quoted-string (RFC 5322 §3.2.4) — "Doe, Jane" <j@example.org>,
 * whose comma would otherwise split it in two.
 */
export function formatMailbox(name: string | null | undefined, address: string): string {
  const n = (name ?? '').trim();
  if (!n) return address;
  const phrase = PHRASE_OF_ATOMS.test(n) ? n : `"${n.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return `${phrase} <${address}>`;
}
