/**
 * The TLSRPT DNS record (RFC 8460 §3): `_smtp._tls.<policy domain>` TXT
 * "v=TLSRPTv1; rua=mailto:reports@example.org,https://reports.example.org/v1". It names where
 * reports about a policy domain go.
 *
 * Threat addressed: a report is data about someone's mail infrastructure sent to an address a
 * DNS record names. Only mailto: and https: are accepted (§3: "rua" URIs), a record that is
 * ambiguous (several v=TLSRPTv1 records) counts as none (§3), and an address that does not
 * parse as an e-mail address is dropped rather than guessed at.
 */

export interface TlsrptRecord {
  /** Report destinations in record order. */
  rua: ({ kind: 'mailto'; address: string } | { kind: 'https'; url: string })[];
}

/** Parses one TXT record's text; null when it is not a valid TLSRPTv1 record. */
export function parseTlsrptRecord(txt: string): TlsrptRecord | null {
  const fields = txt.split(';').map((f) => f.trim());
  // RFC 8460 §3: the version comes first; unknown fields are ignored.
  if (fields[0] !== 'v=TLSRPTv1') return null;
  const rua: TlsrptRecord['rua'] = [];
  let seen = false;
  for (const f of fields.slice(1)) {
    const eq = f.indexOf('=');
    if (eq < 0) continue;
    if (f.slice(0, eq).trim().toLowerCase() !== 'rua') continue;
    if (seen) return null; // a repeated field makes the record invalid
    seen = true;
    // §3: URIs separated by commas; commas and semicolons inside a URI are percent-encoded.
    for (const raw of f.slice(eq + 1).split(',')) {
      const uri = raw.trim();
      if (/^mailto:/i.test(uri)) {
        let address: string;
        try {
          address = decodeURIComponent(uri.slice('mailto:'.length).split('?')[0]!);
        } catch {
          continue;
        }
        if (/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(address)) rua.push({ kind: 'mailto', address });
      } else if (/^https:\/\//i.test(uri)) {
        try {
          const url = new URL(uri);
          if (url.protocol === 'https:' && !url.username && !url.password) rua.push({ kind: 'https', url: url.toString() });
        } catch {
          // not a URL: ignored
        }
      }
    }
  }
  return seen && rua.length > 0 ? { rua } : null;
}

/** RFC 8460 §3: of the TXT records at the name, exactly one must be TLSRPTv1, else none. */
export function selectTlsrptRecord(txts: readonly string[]): TlsrptRecord | null {
  const candidates = txts.filter((t) => /^v=TLSRPTv1\s*(;|$)/.test(t));
  if (candidates.length !== 1) return null;
  return parseTlsrptRecord(candidates[0]!);
}
