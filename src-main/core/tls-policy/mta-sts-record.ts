/**
 * The MTA-STS TXT record at `_mta-sts.<domain>` (RFC 8461 §3.1): it announces that a policy
 * exists and carries the `id` that tells a sender when its cached policy is stale.
 *
 * Threat addressed: the TXT answer is attacker-influenced input (unsigned DNS). Parsing is
 * strict and bounded; anything that is not exactly one well-formed STSv1 record means "no
 * usable record" and never a crash. An attacker who strips the record cannot remove a cached
 * policy (that is the cache's job, RFC 8461 §3.3, §10.1).
 */
import { policyInvalid } from './policy-error';

export interface MtaStsRecord {
  /** RFC 8461 §3.1: 1-32 alphanumerics, compared as an opaque string. */
  id: string;
  /** Extension fields, in order (RFC 8461 §3.1: senders ignore what they don't know). */
  extensions: { key: string; value: string }[];
}

/** No real record comes close; bounds the work on hostile answers. */
const MAX_RECORD_LENGTH = 2048;

const WSP = /^[ \t]*$/;
const ID = /^[A-Za-z0-9]{1,32}$/;
// RFC 8461 §3.1: sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
const EXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
// RFC 8461 §3.1: sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): printable, no "=", ";" or space
const EXT_VALUE = /^[\x21-\x3a\x3c\x3e-\x7e]+$/;

/**
 * RFC 8461 §3.1: "records that do not begin with v=STSv1; are discarded". We also count
 * `v=STSv1` followed by WSP or nothing, so that a malformed STS record is reported as invalid
 * rather than silently ignored.
 */
export function isStsRecord(txt: string): boolean {
  if (!txt.startsWith('v=STSv1')) return false;
  const next = txt.charAt(7);
  return next === '' || next === ';' || next === ' ' || next === '\t';
}

/** Parses one TXT string that starts with v=STSv1. Throws TlsPolicyError (sts-policy-invalid). */
export function parseMtaStsRecord(txt: string): MtaStsRecord {
  if (txt.length > MAX_RECORD_LENGTH) throw policyInvalid(`MTA-STS TXT record longer than ${MAX_RECORD_LENGTH} characters`);
  // RFC 8461 §3.1: sts-version = %s"v=STSv1" (case-sensitive)
  if (!isStsRecord(txt)) throw policyInvalid('MTA-STS TXT record does not start with v=STSv1');
  // sts-version 1*(sts-field-delim sts-field) [sts-field-delim], sts-field-delim = *WSP ";" *WSP
  const parts = txt.slice(7).split(';');
  if (parts.length < 2 || !WSP.test(parts[0] ?? '')) throw policyInvalid('MTA-STS TXT record: expected ";" after v=STSv1');
  const fields = parts.slice(1).map((p) => p.replace(/^[ \t]+|[ \t]+$/g, ''));
  // A single trailing delimiter is allowed; an empty field anywhere else is not.
  if (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();

  let id: string | undefined;
  const extensions: MtaStsRecord['extensions'] = [];
  for (const field of fields) {
    const eq = field.indexOf('=');
    if (eq <= 0) throw policyInvalid(`MTA-STS TXT record: malformed field ${JSON.stringify(field.slice(0, 64))}`);
    const key = field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (key === 'id') {
      // RFC 8461 §3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT)
      if (!ID.test(value)) throw policyInvalid('MTA-STS TXT record: id must be 1 to 32 letters or digits');
      // The RFC does not allow two ids; which one would name the policy is ambiguous.
      if (id !== undefined) throw policyInvalid('MTA-STS TXT record: more than one id');
      id = value;
    } else {
      if (!EXT_NAME.test(key) || !EXT_VALUE.test(value)) {
        throw policyInvalid(`MTA-STS TXT record: malformed extension ${JSON.stringify(field.slice(0, 64))}`);
      }
      extensions.push({ key, value });
    }
  }
  // RFC 8461 §3.1: id is REQUIRED.
  if (id === undefined) throw policyInvalid('MTA-STS TXT record: missing id');
  return { id, extensions };
}

/**
 * Picks the MTA-STS record from all TXT strings at `_mta-sts.<domain>` (each string one record,
 * its character-strings already concatenated). Returns null when there is no STSv1 record.
 * RFC 8461 §3.1: other records are discarded; if the number of STSv1 records is not one, or it
 * is invalid, the domain has no available policy — this throws so the caller can say why.
 */
export function selectMtaStsRecord(txts: readonly string[]): MtaStsRecord | null {
  const sts = txts.filter(isStsRecord);
  if (sts.length === 0) return null;
  if (sts.length > 1) throw policyInvalid(`${sts.length} MTA-STS TXT records, exactly one is allowed`);
  return parseMtaStsRecord(sts[0]!);
}
