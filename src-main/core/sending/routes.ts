/**
 * Routes (mox config: Routes): an ordered list; each matches on the recipient domain (and its
 * subdomains), the sender address or domain (and its subdomains), and "from attempt N
 * onwards". The first route whose every given condition matches picks the transport; no match
 * means direct delivery. Evaluated for each attempt (so "through a relay from the 4th attempt
 * on" works), and the choice is recorded on the attempt.
 */
import type { Route, RouteInput } from '../../../shared/transport';
import { RouteInput as RouteInputSchema } from '../../../shared/transport';
import { parseDomain, parseMailbox } from '../compose/address';
import type { FieldError } from '../transport/config';

export interface RouteQuery {
  /** Recipient domain, A-label. */
  recipientDomain: string;
  /** Envelope sender (local@A-label), "" for the null sender. */
  mailFrom: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/** True when `domain` is `base` or a subdomain of it (label-wise, case-insensitive). */
export function domainMatches(domain: string, base: string): boolean {
  const d = domain.toLowerCase().replace(/\.$/, '');
  const b = base.toLowerCase().replace(/\.$/, '');
  return d === b || d.endsWith(`.${b}`);
}

export function routeMatches(r: Route, q: RouteQuery): boolean {
  if (r.recipientDomain !== null && !domainMatches(q.recipientDomain, r.recipientDomain)) return false;
  if (r.sender !== null) {
    const at = q.mailFrom.lastIndexOf('@');
    if (r.sender.includes('@')) {
      // An address: the local part exactly (RFC 5321 §2.4: it is case-sensitive), the domain without case.
      const ra = r.sender.lastIndexOf('@');
      if (at < 0 || q.mailFrom.slice(0, at) !== r.sender.slice(0, ra) || q.mailFrom.slice(at + 1).toLowerCase() !== r.sender.slice(ra + 1).toLowerCase()) return false;
    } else if (at < 0 || !domainMatches(q.mailFrom.slice(at + 1), r.sender)) {
      return false;
    }
  }
  if (r.fromAttempt !== null && q.attempt < r.fromAttempt) return false;
  return true;
}

/** The first matching route of the ordered list, or null (→ direct). */
export function pickRoute(routes: readonly Route[], q: RouteQuery): Route | null {
  return [...routes].sort((a, b) => a.position - b.position).find((r) => routeMatches(r, q)) ?? null;
}

/** Validates a route and brings its domains to A-labels, as the recipients are stored. */
export function normalizeRoute(input: RouteInput | unknown, transports: readonly string[]): { ok: true; value: { transport: string; recipientDomain: string | null; sender: string | null; fromAttempt: number | null } } | { ok: false; errors: FieldError[] } {
  const parsed = RouteInputSchema.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => ({ field: i.path.join('.') || 'route', message: i.message })) };
  const r = parsed.data;
  const errors: FieldError[] = [];
  if (!transports.includes(r.transport)) errors.push({ field: 'transport', message: `no transport named ${r.transport}` });
  const domain = (field: string, v: string): string | null => {
    const d = parseDomain(v.trim().replace(/^@/, '').replace(/\.$/, ''));
    if (!d.ok) {
      errors.push({ field, message: `${JSON.stringify(v)} ${d.message}` });
      return null;
    }
    return d.ascii.toLowerCase();
  };
  const recipientDomain = r.recipientDomain ? domain('recipientDomain', r.recipientDomain) : null;
  let sender: string | null = null;
  if (r.sender) {
    const s = r.sender.trim();
    const at = s.lastIndexOf('@');
    if (at > 0) {
      // The envelope form (local@A-label), as mailFrom is compared with.
      const a = parseMailbox(s, { field: 'sender' });
      if (a.ok) sender = a.value.envelope;
      else errors.push({ field: 'sender', message: `${JSON.stringify(s)}: ${a.error.message}` });
    } else {
      sender = domain('sender', s);
    }
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { transport: r.transport, recipientDomain, sender, fromAttempt: r.fromAttempt } };
}
