/**
 * The MTA-STS policy file (RFC 8461 §3.2) and MX host matching against it (RFC 8461 §4.1).
 *
 * Threat addressed: the policy is what stops an attacker who controls DNS from redirecting mail
 * to their own MX. A lax parser or matcher would be the hole: a pattern like `*.com` must not
 * match `evil.attacker.com`, `*example.com` must not be read as a wildcard, and a file with
 * two `mode` lines must not let us pick the weaker one. Anything not exactly as specified is
 * rejected with a reason (the caller then records sts-policy-invalid, RFC 8460 §4.3.2.2).
 */
import { domainToASCII } from 'node:url';
import type { MtaStsMode } from '../../../shared/domain';
import { policyInvalid } from './policy-error';

export type { MtaStsMode };

export interface MtaStsPolicy {
  version: 'STSv1';
  mode: MtaStsMode;
  /** Normalized patterns: lower-case A-labels, no trailing dot, optional leading "*.". */
  mx: string[];
  /** Seconds, 0..31557600. */
  maxAge: number;
  /** Unknown fields, kept for the log (RFC 8461 §3.2: they are ignored). */
  extensions: { key: string; value: string }[];
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year). */
export const MAX_POLICY_MAX_AGE = 31_557_600;
/** RFC 8461 §3.3: the policy body is limited (the fetcher enforces the same bound on bytes). */
export const MAX_POLICY_BYTES = 64 * 1024;

// RFC 8461 §3.2: sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
const FIELD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
// sts-policy-ext-value = sts-policy-vchar *(*WSP sts-policy-vchar): no control characters
// eslint-disable-next-line no-control-regex
const FIELD_VALUE = /^[^\x00-\x20\x7f](?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?$/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Parses a policy body. Throws TlsPolicyError (sts-policy-invalid) with the reason. */
export function parseMtaStsPolicy(text: string): MtaStsPolicy {
  if (Buffer.byteLength(text, 'utf8') > MAX_POLICY_BYTES) throw policyInvalid('MTA-STS policy larger than 64 KiB');
  // RFC 8461 §3.2: sts-policy-term-delim = CRLF / LF
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  // The final delimiter is optional; blank lines at the very end are common and harmless.
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw policyInvalid('MTA-STS policy is empty');

  let version: string | undefined;
  let mode: MtaStsMode | undefined;
  let maxAge: number | undefined;
  const mx: string[] = [];
  const extensions: MtaStsPolicy['extensions'] = [];

  for (const [i, raw] of lines.entries()) {
    const lineNo = i + 1;
    // RFC 8461 §3.2: sts-policy-field *WSP — trailing whitespace only.
    const line = raw.replace(/[ \t]+$/, '');
    const colon = line.indexOf(':');
    if (colon <= 0) throw policyInvalid(`MTA-STS policy line ${lineNo}: expected "key: value"`);
    const key = line.slice(0, colon);
    // sts-policy-field-delim = ":" *WSP
    const value = line.slice(colon + 1).replace(/^[ \t]+/, '');
    if (!FIELD_NAME.test(key)) throw policyInvalid(`MTA-STS policy line ${lineNo}: malformed field name`);
    if (!FIELD_VALUE.test(value)) throw policyInvalid(`MTA-STS policy line ${lineNo}: malformed or empty value for ${key}`);

    // RFC 8461 §3.2: "version" must be the first field (field names are case-sensitive, %s).
    if (lineNo === 1 && key !== 'version') throw policyInvalid('MTA-STS policy must start with "version: STSv1"');
    switch (key) {
      case 'version':
        if (version !== undefined) throw policyInvalid('MTA-STS policy: duplicate version');
        if (value !== 'STSv1') throw policyInvalid(`MTA-STS policy: unsupported version ${JSON.stringify(value.slice(0, 32))}`);
        version = value;
        break;
      case 'mode':
        // Two modes would let us (or an attacker who appends a line) pick the weaker one.
        if (mode !== undefined) throw policyInvalid('MTA-STS policy: duplicate mode');
        if (value !== 'enforce' && value !== 'testing' && value !== 'none') {
          throw policyInvalid(`MTA-STS policy: invalid mode ${JSON.stringify(value.slice(0, 32))}`);
        }
        mode = value;
        break;
      case 'max_age': {
        if (maxAge !== undefined) throw policyInvalid('MTA-STS policy: duplicate max_age');
        // RFC 8461 §3.2: sts-policy-max-age-value = 1*10(DIGIT), at most 31557600
        if (!/^[0-9]{1,10}$/.test(value)) throw policyInvalid('MTA-STS policy: max_age must be a non-negative integer');
        const n = Number(value);
        if (n > MAX_POLICY_MAX_AGE) throw policyInvalid(`MTA-STS policy: max_age above ${MAX_POLICY_MAX_AGE}`);
        maxAge = n;
        break;
      }
      case 'mx':
        mx.push(parseMxPattern(value, lineNo));
        break;
      default:
        // RFC 8461 §3.2: unknown fields are ignored.
        extensions.push({ key, value });
    }
  }

  if (version === undefined) throw policyInvalid('MTA-STS policy: missing version');
  if (mode === undefined) throw policyInvalid('MTA-STS policy: missing mode');
  if (maxAge === undefined) throw policyInvalid('MTA-STS policy: missing max_age');
  // RFC 8461 §3.2: mx is required for modes other than "none".
  if (mode !== 'none' && mx.length === 0) throw policyInvalid(`MTA-STS policy: mode ${mode} without any mx`);
  return { version: 'STSv1', mode, mx, maxAge, extensions };
}

/**
 * RFC 8461 §3.2: sts-policy-mx-value = ["*."] Domain. Returns the normalized pattern.
 * `*.com` is syntactically valid (Domain may be one label) and is accepted: it matches only
 * `<one label>.com`, never `com` or deeper names, so it grants no more than the policy's owner
 * could publish anyway.
 */
function parseMxPattern(value: string, lineNo: number): string {
  const wildcard = value.startsWith('*.');
  const name = normalizeHostName(wildcard ? value.slice(2) : value);
  if (name === null) throw policyInvalid(`MTA-STS policy line ${lineNo}: invalid mx pattern ${JSON.stringify(value.slice(0, 64))}`);
  return wildcard ? `*.${name}` : name;
}

/**
 * Lower-case A-label form without trailing dot, or null when not a valid LDH host name.
 * U-labels are converted (RFC 8461 §4.1 compares A-labels); "*" anywhere is rejected here.
 */
export function normalizeHostName(name: string): string | null {
  let n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n === '' || n.length > 253) return null;
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(n)) {
    n = domainToASCII(n);
    if (n === '') return null;
  }
  n = n.toLowerCase();
  if (n.length > 253) return null;
  const labels = n.split('.');
  return labels.every((l) => LDH_LABEL.test(l)) ? n : null;
}

/**
 * RFC 8461 §4.1: does an MX host name match one pattern? Case-insensitive, trailing dot
 * ignored; a leading "*." matches exactly one extra label: `*.example.com` matches
 * `mx.example.com`, not `example.com` and not `a.b.example.com`.
 */
export function mxPatternMatches(pattern: string, host: string): boolean {
  const h = normalizeHostName(host);
  if (h === null) return false;
  const p = pattern.toLowerCase().replace(/\.$/, '');
  if (p.startsWith('*.')) {
    const dot = h.indexOf('.');
    // The first label of h is one LDH label (normalizeHostName checked it); the rest must equal.
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  }
  return h === p;
}

/** RFC 8461 §4.1: the host is allowed when any of the policy's mx patterns matches it. */
export function policyAllowsMx(policy: Pick<MtaStsPolicy, 'mx'>, host: string): boolean {
  return policy.mx.some((p) => mxPatternMatches(p, host));
}
