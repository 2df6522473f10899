/**
 * The EHLO reply as a set of service extensions: RFC 5321 §4.1.1.1 (ehlo-line syntax),
 * RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 2034
 * ENHANCEDSTATUSCODES, RFC 3207 STARTTLS, RFC 8689 REQUIRETLS, RFC 9422 LIMITS, RFC 3030
 * CHUNKING, RFC 3461 DSN, RFC 4954 AUTH.
 *
 * Threat: the keywords come from an untrusted server before TLS (and a MITM can rewrite them —
 * which is why RFC 3207 §4.2 makes us discard them after STARTTLS). Unknown or malformed lines
 * are kept in `raw` and otherwise ignored; numbers are parsed strictly and bounded so a server
 * cannot feed us NaN, negative or absurd limits.
 */

export interface Capabilities {
  /** Domain the server named in the first EHLO line (untrusted, for the transcript). */
  domain: string;
  pipelining: boolean;
  /** RFC 1870: undefined when SIZE is not announced, 0 when announced without a fixed limit. */
  size: number | undefined;
  eightBitMime: boolean;
  smtpUtf8: boolean;
  enhancedStatusCodes: boolean;
  starttls: boolean;
  requireTls: boolean;
  /** RFC 9422 LIMITS RCPTMAX, when announced with a valid positive value. */
  rcptMax: number | undefined;
  chunking: boolean;
  dsn: boolean;
  /** RFC 4954 §3: SASL mechanisms announced with AUTH, upper case. */
  auth: string[];
  /** Extension lines (everything after the first line), as sent. */
  raw: string[];
}

/** What a HELO session (or a server without extensions) offers: nothing. */
export function noCapabilities(domain = ''): Capabilities {
  return {
    domain,
    pipelining: false,
    size: undefined,
    eightBitMime: false,
    smtpUtf8: false,
    enhancedStatusCodes: false,
    starttls: false,
    requireTls: false,
    rcptMax: undefined,
    chunking: false,
    dsn: false,
    auth: [],
    raw: [],
  };
}

// Bounded: 15 digits stay exact in a double and are far beyond any real limit.
function parseCount(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,15}$/.test(s)) return undefined;
  return Number(s);
}

/** Parses the text lines of a 250 EHLO reply (Reply.lines). */
export function parseCapabilities(lines: readonly string[]): Capabilities {
  const [first = '', ...rest] = lines;
  const caps = noCapabilities(first.split(' ')[0] ?? '');
  caps.raw = [...rest];
  for (const line of rest) {
    // RFC 5321 §4.1.1.1: ehlo-keyword *( SP ehlo-param ). Some servers use TAB or several spaces.
    const [kw = '', ...params] = line.trim().split(/[ \t]+/);
    // RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), case-insensitive.
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(kw)) continue;
    switch (kw.toUpperCase()) {
      case 'PIPELINING':
        caps.pipelining = true;
        break;
      case 'SIZE': {
        // RFC 1870 §4: "SIZE" alone or "SIZE 0" means no fixed maximum.
        const n = params.length === 0 ? 0 : parseCount(params[0]);
        caps.size = n ?? 0;
        break;
      }
      case '8BITMIME':
        caps.eightBitMime = true;
        break;
      case 'SMTPUTF8':
        caps.smtpUtf8 = true;
        break;
      case 'ENHANCEDSTATUSCODES':
        caps.enhancedStatusCodes = true;
        break;
      case 'STARTTLS':
        caps.starttls = true;
        break;
      case 'REQUIRETLS':
        caps.requireTls = true;
        break;
      case 'CHUNKING':
        caps.chunking = true;
        break;
      case 'DSN':
        caps.dsn = true;
        break;
      case 'AUTH':
        // RFC 4954 §3: "AUTH" SP mechanism *(SP mechanism); names are [A-Z0-9-_]{1,20}.
        for (const m of params) if (/^[A-Za-z0-9_-]{1,20}$/.test(m) && !caps.auth.includes(m.toUpperCase())) caps.auth.push(m.toUpperCase());
        break;
      case 'LIMITS':
        // RFC 9422 §4: limit-name "=" limit-value, space separated; unknown names ignored.
        for (const p of params) {
          const eq = p.indexOf('=');
          if (eq <= 0) continue;
          if (p.slice(0, eq).toUpperCase() !== 'RCPTMAX') continue;
          const n = parseCount(p.slice(eq + 1));
          // RFC 9422 §5.2: RCPTMAX is a positive integer; 0 or garbage is ignored.
          if (n !== undefined && n > 0) caps.rcptMax = n;
        }
        break;
      default:
        break;
    }
  }
  return caps;
}
