/**
 * What a valid transport looks like, per type (delivery-rules §13; mox config: Transports):
 *
 *   direct         no relay settings; only the IP family.
 *   direct-socks5  --proxy HOST:PORT, optional user + password (RFC 1929: both or neither).
 *   smarthost      --host, port 25 or 587 by default 25, STARTTLS (or implicit TLS), no AUTH.
 *   submission     --host, RFC 6409 port 587 + STARTTLS or RFC 8314 port 465 implicit TLS,
 *                  user + password required, an optional SASL mechanism.
 *
 * One function decides it for the CLI, the IPC handlers and the store: a transport that passes
 * here is one the delivery code can use.
 */
import { builtinDirect, TransportInput, type TransportConfig } from '../../../shared/transport';
import { parseProxy } from '../net/socks';

export type { TransportConfig };
export { builtinDirect };

export interface FieldError {
  field: string;
  message: string;
}

export function normalizeTransport(input: unknown, opts: { hasPassword: boolean }): { ok: true; value: TransportConfig } | { ok: false; errors: FieldError[] } {
  const parsed = TransportInput.safeParse(input);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => ({ field: i.path.join('.') || 'transport', message: i.message })) };
  }
  const t = parsed.data;
  const errors: FieldError[] = [];
  const forbid = (field: keyof typeof t, why: string) => {
    if (t[field] !== null && t[field] !== undefined) errors.push({ field, message: `${field} does not apply to ${why}` });
  };
  const relay = t.type === 'smarthost' || t.type === 'submission';
  if (!relay) {
    for (const f of ['host', 'port', 'tls', 'auth'] as const) forbid(f, `a ${t.type} transport`);
    if (t.tlsVerify !== 'pkix') errors.push({ field: 'tlsVerify', message: 'direct delivery verifies as the recipient domain\'s policy says; tlsVerify is for relays' });
  }
  if (t.type === 'direct') {
    forbid('proxy', 'a direct transport');
    forbid('user', 'a direct transport');
    if (opts.hasPassword) errors.push({ field: 'password', message: 'a direct transport has no password' });
  }
  if (t.type === 'direct-socks5') {
    if (!t.proxy) errors.push({ field: 'proxy', message: 'a direct-socks5 transport needs --proxy HOST:PORT' });
    else if (!parseProxy(t.proxy)) errors.push({ field: 'proxy', message: 'proxy must be HOST:PORT' });
    if (!!t.user !== opts.hasPassword) errors.push({ field: t.user ? 'password' : 'user', message: 'SOCKS5 username/password authentication (RFC 1929) needs both a user and a password' });
  }
  if (relay) {
    forbid('proxy', `a ${t.type} transport`);
    if (!t.host) errors.push({ field: 'host', message: `a ${t.type} transport needs --host` });
  }
  if (t.type === 'smarthost') {
    forbid('user', 'a smarthost (no authentication; use a submission transport)');
    forbid('auth', 'a smarthost (no authentication; use a submission transport)');
    if (opts.hasPassword) errors.push({ field: 'password', message: 'a smarthost has no password (use a submission transport)' });
  }
  if (t.type === 'submission') {
    if (!t.user) errors.push({ field: 'user', message: 'a submission transport needs --user' });
    if (!opts.hasPassword) errors.push({ field: 'password', message: 'a submission transport needs a password' });
  }
  if (errors.length) return { ok: false, errors };
  const tls = relay ? (t.tls ?? (t.port === 465 ? 'implicit' : 'starttls')) : null;
  // RFC 6409 §3.1: 587; RFC 8314 §3.3: 465 for implicit TLS; a smarthost defaults to 25.
  const port = relay ? (t.port ?? (tls === 'implicit' ? 465 : t.type === 'submission' ? 587 : 25)) : null;
  return {
    ok: true,
    value: {
      name: t.name,
      type: t.type,
      host: relay ? t.host!.replace(/\.$/, '').toLowerCase() : null,
      port,
      tls,
      tlsVerify: relay ? t.tlsVerify : 'pkix',
      proxy: t.type === 'direct-socks5' ? t.proxy : null,
      user: t.user ?? null,
      auth: t.type === 'submission' ? t.auth : null,
      ipFamily: t.ipFamily,
    },
  };
}

