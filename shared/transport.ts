/**
 * Transports and routes (delivery-rules §13, modelled on mox's Transports and Routes), shared
 * by main, the CLI and the renderer. A transport says HOW a message leaves this machine; a
 * route says WHICH transport carries an attempt. Passwords never appear here: a transport only
 * says whether it has one (`hasPassword`); the secret itself stays in main's secret store.
 */
import { z } from 'zod';

export const TransportType = z.enum(['direct', 'direct-socks5', 'smarthost', 'submission']);
export type TransportType = z.infer<typeof TransportType>;

export const IpFamily = z.enum(['both', 'ipv4', 'ipv6']);
export type IpFamily = z.infer<typeof IpFamily>;

export const RelayTls = z.enum(['starttls', 'implicit']);
export type RelayTls = z.infer<typeof RelayTls>;

/** PKIX (the default) or none: "unverified", only when the user sets it for that transport. */
export const TlsVerify = z.enum(['pkix', 'none']);
export type TlsVerify = z.infer<typeof TlsVerify>;

export const AuthMechanism = z.enum(['scram-sha-256', 'scram-sha-1', 'cram-md5', 'plain', 'login']);
export type AuthMechanism = z.infer<typeof AuthMechanism>;

/** Names as the user types them: a short token, so they work on a command line too. */
export const TransportName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-"');

const HostName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?$|^[0-9.]+$|^[0-9A-Fa-f:.]+$/, 'not a host name or IP address');
const Port = z.number().int().min(1).max(65535);
const UserName = z.string().min(1).max(255).regex(/^[^\r\n\0]*$/, 'must not contain line breaks');

/** What the user configures (CLI flags, Settings → Sending), before defaults are applied. */
export const TransportInput = z
  .object({
    name: TransportName,
    type: TransportType,
    host: HostName.nullable().default(null),
    port: Port.nullable().default(null),
    tls: RelayTls.nullable().default(null),
    tlsVerify: TlsVerify.default('pkix'),
    /** direct-socks5: the proxy as HOST:PORT. */
    proxy: z.string().max(300).nullable().default(null),
    user: UserName.nullable().default(null),
    auth: AuthMechanism.nullable().default(null),
    ipFamily: IpFamily.default('both'),
  })
  .strict();
export type TransportInput = z.input<typeof TransportInput>;

/** A stored transport, as everyone but the secret store sees it. */
export const Transport = z.object({
  name: z.string(),
  type: TransportType,
  host: z.string().nullable(),
  port: z.number().nullable(),
  tls: RelayTls.nullable(),
  tlsVerify: TlsVerify,
  proxy: z.string().nullable(),
  user: z.string().nullable(),
  auth: AuthMechanism.nullable(),
  ipFamily: IpFamily,
  /** A password is stored for this transport (its value never leaves main). */
  hasPassword: z.boolean(),
  /** Where the password comes from: the app's keychain, an environment variable or a file. */
  passwordSource: z.enum(['keychain', 'env', 'file']).nullable(),
  /** Built in ("direct"): cannot be removed. */
  builtin: z.boolean(),
});
export type Transport = z.infer<typeof Transport>;

export const RouteInput = z
  .object({
    transport: TransportName,
    /** Matches this domain and its subdomains (A-label or U-label; stored as A-label). */
    recipientDomain: z.string().max(253).nullable().default(null),
    /** A full address (local@domain) or a domain (then its subdomains too). */
    sender: z.string().max(320).nullable().default(null),
    /** Matches from this attempt on (1 = every attempt). */
    fromAttempt: z.number().int().min(1).max(1000).nullable().default(null),
  })
  .strict();
export type RouteInput = z.input<typeof RouteInput>;

export const Route = z.object({
  id: z.number().int(),
  /** 0-based place in the ordered list: the first matching route wins. */
  position: z.number().int(),
  transport: z.string(),
  recipientDomain: z.string().nullable(),
  sender: z.string().nullable(),
  fromAttempt: z.number().int().nullable(),
});
export type Route = z.infer<typeof Route>;

/** The result of "test this transport": connect, TLS, AUTH, then QUIT — nothing is sent. */
export const TransportTestResult = z.object({
  ok: z.boolean(),
  transport: z.string(),
  host: z.string().nullable(),
  ip: z.string().nullable(),
  port: z.number().nullable(),
  tlsVersion: z.string().nullable(),
  verification: z.enum(['pkix', 'none']).nullable(),
  verificationReason: z.string().nullable(),
  auth: z.string().nullable(),
  requireTls: z.boolean(),
  stage: z.string().nullable(),
  error: z.string().nullable(),
  transcript: z.array(z.object({ at: z.number(), dir: z.enum(['c', 's', 'i']), text: z.string() })),
});
export type TransportTestResult = z.infer<typeof TransportTestResult>;

/**
 * Which transport would carry a message to one recipient domain (for the composer: does any
 * route take it around a blocked port 25?). `avoidsPort25From`: the first attempt (1-9: the
 * first try and the 8 retries) whose transport is not plain direct delivery, or null.
 */
export const RouteMatch = z.object({
  domain: z.string(),
  transport: z.string(),
  type: TransportType,
  route: z.number().int().nullable(),
  avoidsPort25From: z.number().int().nullable(),
});
export type RouteMatch = z.infer<typeof RouteMatch>;

/** A transport's settings, without what only the secret store and the list view know. */
export type TransportConfig = Omit<Transport, 'hasPassword' | 'passwordSource' | 'builtin'>;

/** The built-in transport: direct delivery over both IP families (mox's default). */
export const builtinDirect: TransportConfig = {
  name: 'direct',
  type: 'direct',
  host: null,
  port: null,
  tls: null,
  tlsVerify: 'pkix',
  proxy: null,
  user: null,
  auth: null,
  ipFamily: 'both',
};

/** The transport every attempt uses when no route matches. */
export const DIRECT = 'direct';
