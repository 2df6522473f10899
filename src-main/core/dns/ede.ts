/**
 * Extended DNS Errors (RFC 8914): why a validating resolver said SERVFAIL ("DNSSEC Bogus",
 * "Signature Expired", ...), shown to the user next to the failure.
 *
 * EDE is diagnostic only (RFC 8914 §3: it must not change how the response is processed), so
 * a malformed option is skipped, never an error. The EXTRA-TEXT comes from the network and
 * ends up in logs and the UI: control characters are removed and its length is capped.
 */
import type { ExtendedDnsError } from './types';

/** RFC 8914 §5.2: the EDNS0 option code of Extended DNS Error. */
export const EDE_OPTION_CODE = 15;

const MAX_TEXT = 512;

/** RFC 8914 §4 INFO-CODE names (IANA registry), for messages. */
const NAMES: Record<number, string> = {
  0: 'Other Error',
  1: 'Unsupported DNSKEY Algorithm',
  2: 'Unsupported DS Digest Type',
  3: 'Stale Answer',
  4: 'Forged Answer',
  5: 'DNSSEC Indeterminate',
  6: 'DNSSEC Bogus',
  7: 'Signature Expired',
  8: 'Signature Not Yet Valid',
  9: 'DNSKEY Missing',
  10: 'RRSIGs Missing',
  11: 'No Zone Key Bit Set',
  12: 'NSEC Missing',
  13: 'Cached Error',
  14: 'Not Ready',
  15: 'Blocked',
  16: 'Censored',
  17: 'Filtered',
  18: 'Prohibited',
  19: 'Stale NXDOMAIN Answer',
  20: 'Not Authoritative',
  21: 'Not Supported',
  22: 'No Reachable Authority',
  23: 'Network Error',
  24: 'Invalid Data',
};

export function edeName(code: number): string {
  return NAMES[code] ?? `EDE ${code}`;
}

/** One line per EDE for error messages and DeliveryError.lines. */
export function formatEde(e: ExtendedDnsError): string {
  return `EDE ${e.code} (${edeName(e.code)})${e.text ? `: ${e.text}` : ''}`;
}

/** Extracts EDE options from a decoded OPT record's option list. */
export function parseEde(options: readonly { code: number; data?: Buffer | undefined }[]): ExtendedDnsError[] {
  const out: ExtendedDnsError[] = [];
  for (const opt of options) {
    if (opt.code !== EDE_OPTION_CODE || !opt.data) continue;
    // RFC 8914 §2: OPTION-LENGTH is at least 2 (the INFO-CODE); shorter is malformed, skipped.
    if (opt.data.length < 2) continue;
    const code = opt.data.readUInt16BE(0);
    // RFC 8914 §2: EXTRA-TEXT is UTF-8, not NUL-terminated, may be empty.
    const raw = opt.data.subarray(2, 2 + MAX_TEXT * 4).toString('utf8');
    // eslint-disable-next-line no-control-regex
    const text = raw.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').trim().slice(0, MAX_TEXT);
    out.push({ code, text });
  }
  return out;
}
