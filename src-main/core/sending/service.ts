/**
 * Transports and routes as the CLI and the IPC handlers use them: validate (config.ts,
 * routes.ts), store (transports-repo.ts), keep the password in the secret store, and test a
 * transport (connect, TLS, AUTH, QUIT — nothing is sent). What this returns never holds a
 * password: a transport says only whether it has one and where it comes from.
 */
import type { Route, RouteInput, RouteMatch, Transport, TransportTestResult } from '../../../shared/transport';
import { DIRECT } from '../../../shared/transport';
import { gatherDestinations, resolveHost, pickAddresses } from '../delivery/destinations';
import type { EngineOptions } from '../delivery/deliver';
import { blankAttempt } from '../delivery/record';
import { toDeliveryError } from '../errors';
import { SmtpSession } from '../smtp/client';
import { secureContextFor } from '../tls-policy/pkix';
import type { StoredTransport, TransportsRepo } from '../store/transports-repo';
import { normalizeTransport, type FieldError } from '../transport/config';
import { openRelay } from '../delivery/relay';
import { directEngine } from './router';
import { normalizeRoute, pickRoute } from './routes';
import { SecretError, secretSource, type SecretStore } from './secrets';

/** Where a new password comes from. */
export type PasswordInput = { kind: 'value'; value: string } | { kind: 'env'; name: string } | { kind: 'file'; path: string };

export type Result<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export class TransportService {
  constructor(
    private readonly repo: TransportsRepo,
    private readonly secrets: SecretStore,
    private readonly engine: () => EngineOptions,
    private readonly now: () => number,
  ) {}

  list(): Transport[] {
    return this.repo.list().map(publicView);
  }

  get(name: string): Transport | undefined {
    const t = this.repo.get(name);
    return t ? publicView(t) : undefined;
  }

  /**
   * Adds (or replaces) a transport. `password` undefined keeps the stored one when replacing;
   * null removes it. Nothing changes when anything is invalid.
   */
  save(input: unknown, password: PasswordInput | null | undefined): Result<Transport> {
    const name = (input as { name?: unknown } | null)?.name;
    if (name === DIRECT && (input as { type?: unknown }).type !== 'direct') {
      return { ok: false, errors: [{ field: 'name', message: '"direct" is the built-in direct transport: only its IP family can be changed; choose another name' }] };
    }
    const existing = typeof name === 'string' ? this.repo.get(name) : undefined;
    const keepRef = password === undefined ? (existing?.secretRef ?? null) : null;
    const norm = normalizeTransport(input, { hasPassword: password ? true : keepRef !== null });
    if (!norm.ok) return norm;
    let ref = keepRef;
    if (password) {
      try {
        ref = password.kind === 'value' ? this.secrets.putKeychain(password.value) : password.kind === 'env' ? this.secrets.envRef(password.name) : this.secrets.fileRef(password.path);
      } catch (e) {
        if (e instanceof SecretError) return { ok: false, errors: [{ field: 'password', message: e.message }] };
        throw e;
      }
    }
    const before = this.repo.put(norm.value, ref, this.now());
    if (before && before !== ref) this.secrets.release(before);
    return { ok: true, value: publicView(this.repo.get(norm.value.name)!) };
  }

  remove(name: string): Result<null> {
    const r = this.repo.remove(name);
    if (!r.ok) return { ok: false, errors: [{ field: 'name', message: r.reason }] };
    this.secrets.release(r.secretRef);
    return { ok: true, value: null };
  }

  routes(): Route[] {
    return this.repo.routes();
  }

  addRoute(input: RouteInput | unknown): Result<Route> {
    const norm = normalizeRoute(input, this.repo.list().map((t) => t.config.name));
    if (!norm.ok) return norm;
    const id = this.repo.addRoute(norm.value, this.now());
    return { ok: true, value: this.repo.routes().find((r) => r.id === id)! };
  }

  removeRoute(id: number): Result<null> {
    return this.repo.removeRoute(id) ? { ok: true, value: null } : { ok: false, errors: [{ field: 'id', message: `no route ${id}` }] };
  }

  moveRoute(id: number, before: number): Result<Route[]> {
    return this.repo.moveRoute(id, before) ? { ok: true, value: this.repo.routes() } : { ok: false, errors: [{ field: 'id', message: `no route ${this.repo.routes().some((r) => r.id === id) ? before : id}` }] };
  }

  /**
   * The transport each recipient domain's attempts would take (rules §13, as the queue's
   * router decides it), for the composer's "port 25 is blocked" warning.
   */
  match(mailFrom: string, domains: readonly string[]): RouteMatch[] {
    const routes = this.repo.routes();
    return domains.map((domain) => {
      const at = (attempt: number) => {
        const route = pickRoute(routes, { recipientDomain: domain, mailFrom, attempt });
        const t = this.repo.get(route?.transport ?? DIRECT);
        return { route, type: t?.config.type ?? 'direct' };
      };
      const first = at(1);
      let avoidsPort25From: number | null = null;
      for (let n = 1; n <= 9 && avoidsPort25From === null; n++) if (at(n).type !== 'direct') avoidsPort25From = n;
      return { domain, transport: first.route?.transport ?? DIRECT, type: first.type, route: first.route?.id ?? null, avoidsPort25From };
    });
  }

  /**
   * The transports that would carry a message around a blocked outbound port 25 (readiness'
   * compose warning, issue 12 item 5): each recipient domain must reach a transport other than
   * plain direct delivery at some attempt, as the queue's router picks them. Null when any
   * domain would only ever go direct (its mail cannot leave this network).
   */
  carrier(mailFrom: string, domains: readonly string[]): string | null {
    const matches = this.match(mailFrom, domains);
    if (matches.length === 0 || matches.some((m) => m.avoidsPort25From === null)) return null;
    const routes = this.repo.routes();
    const names = matches.map((m) => {
      const n = m.avoidsPort25From!;
      const via = pickRoute(routes, { recipientDomain: m.domain, mailFrom, attempt: n })!.transport;
      return n === 1 ? via : `${via} (from attempt ${n})`;
    });
    return [...new Set(names)].join(', ');
  }

  /**
   * "Test this transport": for a relay, connect, TLS, AUTH, then QUIT. For direct transports,
   * connect (through the proxy, if any) to the first MX of `domain` — normally the user's own —
   * EHLO, STARTTLS, QUIT: does port 25 work this way? Never sends a message.
   */
  async test(name: string, opts: { domain?: string | undefined } = {}): Promise<TransportTestResult> {
    const t = this.repo.get(name);
    const engine = this.engine();
    const record = blankAttempt(opts.domain ?? '', this.now());
    const result = (error: string | null, stage: string | null, auth: string | null = null, requireTls = false): TransportTestResult => ({
      ok: error === null,
      transport: name,
      host: record.host,
      ip: record.ip,
      port: record.port,
      tlsVersion: record.tlsVersion,
      verification: record.verification === 'pkix' || record.verification === 'none' ? record.verification : null,
      verificationReason: record.verificationReason,
      auth,
      requireTls,
      stage,
      error,
      transcript: record.transcript,
    });
    if (!t) return result(`no transport named ${name}`, null);
    const c = t.config;
    try {
      if (c.type === 'smarthost' || c.type === 'submission') {
        const session = await openRelay(c, { ...engine, password: t.secretRef ? () => this.secrets.resolve(t.secretRef!) : undefined }, record, { requireTls: false });
        const caps = session.capabilities;
        const auth = c.type === 'submission' ? (record.transcript.find((l) => l.dir === 'c' && l.text.startsWith('AUTH '))?.text.split(' ')[1] ?? null) : null;
        await session.quit();
        return result(null, null, auth, caps.requireTls);
      }
      if (!opts.domain) return result('nothing to test direct delivery against: add an identity first (the test connects to its domain\'s MX, as a delivery would)', 'dns');
      const e = directEngine(c, engine, this.secrets, t.secretRef);
      const dest = await gatherDestinations(opts.domain, e.resolver, e.random);
      const mx = dest.hosts[0];
      if (!mx) return result(`${opts.domain} has no MX host`, 'dns');
      record.host = mx.host;
      const ip = pickAddresses(await resolveHost(mx.host, e.resolver), [])[0];
      if (!ip) return result(`${mx.host} has no ${c.ipFamily === 'both' ? '' : `${c.ipFamily} `}address`, 'dns');
      record.ip = ip;
      record.port = e.smtpPort ?? 25;
      const socket = await e.dialer({ ip, port: record.port, timeoutMs: e.connectTimeoutMs ?? 30_000 });
      const session = await SmtpSession.open({ socket, host: mx.host, ip, ehloName: e.ehloName, clock: e.clock, timeouts: e.timeouts, onTranscript: (l) => record.transcript.push(l) });
      if (session.capabilities.starttls) {
        const info = await session.starttls({ servername: mx.host, secureContext: secureContextFor(e.extraCa) });
        record.tlsVersion = info.version;
        record.verification = info.authorized ? 'pkix' : 'none';
        record.verificationReason = info.authorized ? null : (info.authorizationError ?? null);
      }
      const requireTls = session.capabilities.requireTls;
      await session.quit();
      return result(null, null, null, requireTls);
    } catch (err) {
      const de = toDeliveryError(err, 'connect', record.host ?? undefined);
      return result(de.message, de.stage);
    }
  }
}

function publicView(t: StoredTransport): Transport {
  return { ...t.config, hasPassword: t.secretRef !== null, passwordSource: secretSource(t.secretRef), builtin: t.builtin };
}
