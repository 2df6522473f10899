/**
 * Which links may leave the app for the user's browser (shell.openExternal). A link in the
 * window can come from text a stranger wrote (a reply, a DSN, a server's greeting), and
 * openExternal hands it to the OS, which would run a file: URL, a custom-scheme handler
 * (ms-msdt:, smb:, vscode:...) or reach a service on the user's own network. So: https only,
 * no credentials in the URL, and never to this machine or a private network — by name
 * (localhost, .local, single-label intranet names) or by IP literal (RFC 1918, RFC 6598,
 * RFC 4193, link-local, loopback, unspecified, IPv4-mapped forms of those).
 */

const PRIVATE_V4: ReadonlyArray<[number, number]> = [
  [0x00000000, 8], // 0.0.0.0/8
  [0x0a000000, 8], // 10/8
  [0x64400000, 10], // 100.64/10 (RFC 6598)
  [0x7f000000, 8], // 127/8
  [0xa9fe0000, 16], // 169.254/16
  [0xac100000, 12], // 172.16/12
  [0xc0a80000, 16], // 192.168/16
  [0xe0000000, 3], // multicast and reserved, 224/3
];

function v4ToInt(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function privateV4(n: number): boolean {
  return PRIVATE_V4.some(([base, bits]) => n >>> (32 - bits) === base >>> (32 - bits));
}

function privateV6(host: string): boolean {
  const h = host.toLowerCase();
  if (h === '::' || h === '::1') return true;
  if (/^f[cd][0-9a-f]{2}:/.test(h)) return true; // fc00::/7 unique local
  if (/^fe[89ab][0-9a-f]:/.test(h)) return true; // fe80::/10 link-local
  if (/^ff[0-9a-f]{2}:/.test(h)) return true; // multicast
  // IPv4-mapped/compatible (::ffff:10.0.0.1, or as WHATWG prints it, ::ffff:a00:1).
  const mapped = /^::(?:ffff:)?(?:([0-9a-f]{1,4}):([0-9a-f]{1,4})|(\d+\.\d+\.\d+\.\d+))$/.exec(h);
  if (mapped) {
    const n = mapped[3] ? v4ToInt(mapped[3]) : ((parseInt(mapped[1]!, 16) << 16) | parseInt(mapped[2]!, 16)) >>> 0;
    return n === null || privateV4(n);
  }
  return false;
}

/** Whether `url` may be opened in the user's browser. */
export function isSafeExternalUrl(url: unknown): boolean {
  if (typeof url !== 'string' || url.length > 2048) return false;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' || u.username || u.password) return false;
  const host = u.hostname.toLowerCase();
  if (host.startsWith('[')) return !privateV6(host.slice(1, -1));
  // WHATWG URL parsing already turned 0x7f.1, 2130706433 and friends into dotted IPv4.
  const v4 = v4ToInt(host);
  if (v4 !== null) return !privateV4(v4);
  const name = host.replace(/\.$/, '');
  if (!name.includes('.')) return false; // intranet single-label names, "localhost"
  if (name === 'localhost' || name.endsWith('.localhost') || name.endsWith('.local') || name.endsWith('.internal') || name.endsWith('.home.arpa')) return false;
  return true;
}
