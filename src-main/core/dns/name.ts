/**
 * Domain name syntax for the stub resolver (RFC 1035 §2.3.4 size limits, RFC 2181 §11).
 *
 * The resolver takes A-labels only (IDNA conversion is the caller's job) and compares names
 * case-insensitively (RFC 4343 §3). Two threats: a caller handing us a name that would be
 * encoded into something else than it reads (an embedded NUL, a dot inside a label, an
 * over-long label that dns-packet would silently mangle), and a hostile resolver answering
 * with names that are not host names at all (control characters that would end up in logs
 * and the UI, or names we would then query or dial).
 */
import { DeliveryError } from '../errors';

/** Letters, digits, hyphen; underscore for service labels such as `_25._tcp` and `_mta-sts`. */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Lowercases, strips one trailing dot, and checks the syntax of a name we are asked to look
 * up. Throws INVALID_INPUT rather than sending a query for a name that cannot exist.
 */
export function normalizeQueryName(input: string): string {
  const name = canonical(input);
  if (name === undefined) {
    throw new DeliveryError({
      code: 'INVALID_INPUT',
      message: `invalid DNS name ${JSON.stringify(input.slice(0, 300))}`,
      stage: 'dns',
      permanent: true,
    });
  }
  return name;
}

/**
 * The canonical form of a name found in an answer, or undefined when it is not a valid host
 * or service name. The root "." is returned as "." (a null MX target, RFC 7505 §3).
 */
export function canonicalAnswerName(name: string): string | undefined {
  if (name === '.') return '.';
  return canonical(name);
}

function canonical(input: string): string | undefined {
  if (typeof input !== 'string') return undefined;
  const name = (input.endsWith('.') ? input.slice(0, -1) : input).toLowerCase();
  // RFC 1035 §2.3.4: 255 octets on the wire = 253 characters in text form.
  if (name.length === 0 || name.length > 253) return undefined;
  for (const label of name.split('.')) {
    // RFC 1035 §2.3.4: labels are 63 octets or less; empty labels ("a..b") do not exist.
    if (!LABEL.test(label)) return undefined;
  }
  return name;
}

/** RFC 4343 §3: DNS name comparison is case-insensitive; a trailing dot is not significant. */
export function sameName(a: string, b: string): boolean {
  const x = a.endsWith('.') && a !== '.' ? a.slice(0, -1) : a;
  const y = b.endsWith('.') && b !== '.' ? b.slice(0, -1) : b;
  return x.toLowerCase() === y.toLowerCase();
}
