/**
 * The settings: one schema, applied where a value enters (IPC `settings.set`, CLI flags) and
 * when stored values are loaded, so a value refused in one place is refused in all, and a key
 * added later is validated the same way without another line of code.
 *
 * Loading never fails: a stored value that no longer validates (an older version's format, a
 * hand-edited database) is replaced by that key's default and reported, so the app starts and
 * says what it ignored (issue 11 §2).
 *
 * - DNS servers: IPv4 or IPv6 literals, optionally with a port: `192.0.2.1`, `192.0.2.1:5353`,
 *   `2001:db8::1`, `[2001:db8::1]:5353` (RFC 3986 §3.2.2 brackets, so the port is unambiguous).
 * - EHLO name: a host name (RFC 5321 §4.1.1.1 Domain, RFC 1123 §2.1 labels), or empty for the
 *   machine's own name.
 */
import { z } from 'zod';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

/** RFC 4291 §2.2 text forms: eight groups, one `::`, an optional trailing dotted IPv4. */
export function isIPv6(s: string): boolean {
  if (s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  let groups = 0;
  let body = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    if (!isIPv4(s.slice(lastColon + 1))) return false;
    body = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = body.split('::');
  if (halves.length > 2) return false;
  for (const half of halves) {
    if (half === '') continue;
    for (const g of half.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return false;
      groups++;
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

/** Why `s` is not a DNS server address, or null. */
export function dnsServerProblem(s: string): string | null {
  const port = (p: string | undefined) => p === undefined || (/^\d{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535);
  const bracket = /^\[([^\]]*)\](?::(\d*))?$/.exec(s);
  if (bracket) {
    if (!isIPv6(bracket[1] ?? '')) return 'brackets are for an IPv6 address, as in [2001:db8::1]:53';
    return port(bracket[2]) ? null : 'the port must be a number from 1 to 65535';
  }
  if (isIPv6(s)) return null;
  const v4 = /^([^:]*)(?::([^:]*))?$/.exec(s);
  if (v4 && isIPv4(v4[1] ?? '')) return port(v4[2]) ? null : 'the port must be a number from 1 to 65535';
  return 'must be an IP address, optionally with a port: 192.0.2.1, 192.0.2.1:5353, 2001:db8::1 or [2001:db8::1]:5353';
}

/** Why `s` is not a host name for EHLO, or null. */
export function hostNameProblem(s: string): string | null {
  if (s.length > 253) return 'a host name has at most 253 characters';
  const labels = s.split('.');
  if (labels.some((l) => !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l))) {
    return 'must be a host name: letters, digits and hyphens in dot-separated labels, like mail.example.org';
  }
  if (labels.length > 1 && /^\d+$/.test(labels[labels.length - 1]!)) return 'must be a host name, not an IP address';
  return null;
}

const refined = (check: (s: string) => string | null) =>
  z.string().superRefine((s, ctx) => {
    const problem = check(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const DnsServer = refined(dnsServerProblem);
export const EhloName = z.string().max(253).superRefine((s, ctx) => {
  const problem = s === '' ? null : hostNameProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Every setting: its schema, range and default. Add a key here and it is validated everywhere. */
export const settingsShape = {
  ehloName: EhloName.default(''),
  dnsServers: z.array(DnsServer).max(8, 'at most 8 DNS servers').default([]),
  /** Deliveries at once, all domains together. */
  concurrency: z.number().int().min(1).max(64).default(20),
  /**
   * The most deliveries at once to one domain: each domain starts at 5 and grows toward this
   * with success, shrinks on connection trouble (slow start, as Postfix's destination
   * concurrency limit 20; src-main/core/queue/concurrency.ts).
   */
  perDomainConcurrency: z.number().int().min(1).max(64).default(20),
  lifetimeHours: z.number().min(1).max(24 * 30).default(120),
  delayNoticeHours: z.number().min(0.5).max(24 * 7).default(4),
  maxMessageBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(50 * 1024 * 1024),
  theme: z.enum(['system', 'light', 'dark']).default('system'),
  /** History retention: finished messages older than this many days are removed (rules §15). */
  historyDays: z.number().int().min(1).max(3650).default(90),
  /** Send the daily TLS reports (RFC 8460) to the domains that ask for them. Off in the app. */
  tlsReports: z.boolean().default(false),
  /** Send each failure/delay DSN (RFC 3464) to the sender's own address through the outbox. */
  dsnToSender: z.boolean().default(false),
  /** Closing the window while mail is unsent keeps the outbox running in the tray (src-main/lifecycle.ts). */
  keepSendingInTray: z.boolean().default(true),
  /** Start at login, hidden in the tray, so retries happen after a restart. */
  openAtLogin: z.boolean().default(false),
  /** The one-time "keeps sending in the tray" explanation was shown. */
  trayExplained: z.boolean().default(false),
  /**
   * Undo send: a message sent from the app waits this many seconds in the outbox (countdown,
   * Undo returns it to compose) before its first attempt; 0 sends at once (core/undo-send.ts).
   */
  undoSendSeconds: z.number().int().min(0).max(60, 'at most 60 seconds').default(10),
};

export const Settings = z.object(settingsShape);
export type Settings = z.infer<typeof Settings>;
type SettingsShape = typeof settingsShape;
/**
 * A change from the renderer: any subset of keys, nothing else. Built without the defaults:
 * zod applies a default inside .partial(), so `Settings.partial()` would turn a one-key change
 * into a reset of every other setting.
 */
export const SettingsPatch = z
  .object(
    Object.fromEntries(Object.entries(settingsShape).map(([k, schema]) => [k, schema.unwrap().optional()])) as {
      [K in keyof SettingsShape]: z.ZodOptional<ReturnType<SettingsShape[K]['unwrap']>>;
    },
  )
  .strict();

export interface IgnoredSetting {
  key: string;
  /** The stored text, shortened for display. */
  stored: string;
  reason: string;
}

/**
 * Settings from stored values (key → JSON text). Each key is checked on its own: a bad value
 * costs only that key, which falls back to its default. Unknown keys (from a newer version)
 * are left alone.
 */
export function settingsFromStored(stored: ReadonlyMap<string, string>): { settings: Settings; ignored: IgnoredSetting[] } {
  const settings: Record<string, unknown> = {};
  const ignored: IgnoredSetting[] = [];
  for (const [key, schema] of Object.entries(settingsShape) as [string, z.ZodType][]) {
    const text = stored.get(key);
    if (text === undefined) {
      settings[key] = schema.parse(undefined);
      continue;
    }
    let value: unknown;
    let reason: string | null = null;
    try {
      value = JSON.parse(text);
    } catch {
      reason = 'not valid JSON';
    }
    const parsed = reason === null ? schema.safeParse(value) : null;
    if (parsed?.success) {
      settings[key] = parsed.data;
    } else {
      settings[key] = schema.parse(undefined);
      const issue = parsed?.error.issues[0];
      const where = issue && issue.path.length ? ` (entry ${issue.path.join('.')})` : '';
      ignored.push({ key, stored: text.length > 80 ? `${text.slice(0, 77)}...` : text, reason: reason ?? `${issue?.message ?? 'invalid'}${where}` });
    }
  }
  return { settings: settings as Settings, ignored };
}

/** The notice for a setting that was ignored at start-up. */
export function ignoredSettingNotice(i: IgnoredSetting): string {
  return `The stored setting "${i.key}" (${i.stored}) was ignored: ${i.reason}. The default is used until it is changed in Settings.`;
}
