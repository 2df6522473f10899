/**
 * The one rule for text a person reads as a single line — display names, subjects, attachment
 * file names, identity names — used by the IPC contract (zod) and by the core (CLI, compose),
 * so a value refused in one place is refused in all.
 *
 * Refused: C0 controls (including CR, LF, TAB, NUL) and DEL, C1 controls, U+2028/U+2029 (line
 * and paragraph separators: RFC 5322 §2.2 fields are one line, and some clients break lines
 * there), bidi embedding/override/isolate controls U+202A–U+202E and U+2066–U+2069 (they make a
 * name or file name display as something else: "invoice‮fdp.exe"), and unpaired surrogates
 * (not encodable as UTF-8).
 */

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `s` cannot be a one-line display text, or null when it can. */
export function unsafeTextProblem(s: string): string | null {
  if (CONTROL.test(s)) return 'contains a line break or control character';
  if (BIDI.test(s)) return 'contains a bidirectional control character';
  if (LONE_SURROGATE.test(s)) return 'contains an invalid character (unpaired surrogate)';
  return null;
}

/**
 * Why `s` cannot be multi-line text a person wrote (a signature), or null: the one-line rule
 * above, except that line feeds and tabs are allowed (a CR is not: line ends are "\n" here and
 * the message builder writes CRLF).
 */
export function unsafeMultilineTextProblem(s: string): string | null {
  for (const line of s.split('\n')) {
    const problem = unsafeTextProblem(line.replace(/\t/g, ' '));
    if (problem) return problem === 'contains a line break or control character' ? 'contains a control character' : problem;
  }
  return null;
}
