/**
 * Transports, routes and encrypted secrets in the store (delivery-rules §13). The CLI and the
 * app read and write the same tables, so a transport added by one is used by the other.
 * Only data access: validation is transport/config.ts and transport/routes.ts.
 */
import type { Route, Transport } from '../../../shared/transport';
import { builtinDirect, type TransportConfig } from '../../../shared/transport';
import type { Store } from './store';

interface TransportRow {
  name: string;
  type: Transport['type'];
  host: string | null;
  port: number | null;
  tls: Transport['tls'];
  tls_verify: Transport['tlsVerify'];
  proxy: string | null;
  user: string | null;
  auth: Transport['auth'];
  ip_family: Transport['ipFamily'];
  secret_ref: string | null;
}

interface RouteRow {
  id: number;
  position: number;
  transport: string;
  recipient_domain: string | null;
  sender: string | null;
  from_attempt: number | null;
}

export interface StoredTransport {
  config: TransportConfig;
  secretRef: string | null;
  builtin: boolean;
}

export class TransportsRepo {

  constructor(private readonly store: Store) {}

  private get db() {
    return this.store.db;
  }


  /** Every transport, the built-in "direct" first. */
  list(): StoredTransport[] {
    const rows = this.db.prepare('SELECT * FROM transports ORDER BY created_at, name').all() as TransportRow[];
    const own = rows.find((r) => r.name === builtinDirect.name);
    return [this.#direct(own), ...rows.filter((r) => r !== own).map(fromRow)];
  }

  get(name: string): StoredTransport | undefined {
    const row = this.store.statement('SELECT * FROM transports WHERE name = ?').get(name) as TransportRow | undefined;
    if (name === builtinDirect.name) return this.#direct(row);
    return row ? fromRow(row) : undefined;
  }

  /**
   * The built-in direct transport. A stored row of that name holds only what the user may
   * change of it — its IP family (mox: IPFamily of a transport; the readiness check's "IPv4
   * only" remedy) — so it stays direct delivery whatever the row says.
   */
  #direct(row: TransportRow | undefined): StoredTransport {
    return { config: { ...builtinDirect, ipFamily: row?.ip_family ?? builtinDirect.ipFamily }, secretRef: null, builtin: true };
  }

  /** Inserts or replaces a transport. Returns the secret ref it had before (to delete if unused). */
  put(t: TransportConfig, secretRef: string | null, now: number): string | null {
    return this.db.transaction(() => {
      const before = this.db.prepare('SELECT secret_ref FROM transports WHERE name = ?').get(t.name) as { secret_ref: string | null } | undefined;
      this.db
        .prepare(
          `INSERT INTO transports (name, type, host, port, tls, tls_verify, proxy, user, auth, ip_family, secret_ref, created_at)
           VALUES (@name, @type, @host, @port, @tls, @tlsVerify, @proxy, @user, @auth, @ipFamily, @secretRef, @now)
           ON CONFLICT(name) DO UPDATE SET type = excluded.type, host = excluded.host, port = excluded.port, tls = excluded.tls,
             tls_verify = excluded.tls_verify, proxy = excluded.proxy, user = excluded.user, auth = excluded.auth,
             ip_family = excluded.ip_family, secret_ref = excluded.secret_ref`,
        )
        .run({ ...t, secretRef, now });
      return before?.secret_ref ?? null;
    }).immediate();
  }

  /** Removes a transport; refuses while a route uses it. Returns its secret ref, if any. */
  remove(name: string): { ok: true; secretRef: string | null } | { ok: false; reason: string } {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT secret_ref FROM transports WHERE name = ?').get(name) as { secret_ref: string | null } | undefined;
      if (name === builtinDirect.name) return { ok: false as const, reason: 'the built-in direct transport cannot be removed' };
      if (!row) return { ok: false as const, reason: `no transport named ${name}` };
      const used = this.db.prepare('SELECT id FROM routes WHERE transport = ? ORDER BY position').all(name) as { id: number }[];
      if (used.length) return { ok: false as const, reason: `transport ${name} is used by route${used.length > 1 ? 's' : ''} ${used.map((u) => u.id).join(', ')}: remove or change them first` };
      this.db.prepare('DELETE FROM transports WHERE name = ?').run(name);
      return { ok: true as const, secretRef: row.secret_ref };
    }).immediate();
  }

  // ---- routes ----

  routes(): Route[] {
    return (this.store.statement('SELECT * FROM routes ORDER BY position, id').all() as RouteRow[]).map((r, i) => ({
      id: r.id,
      position: i,
      transport: r.transport,
      recipientDomain: r.recipient_domain,
      sender: r.sender,
      fromAttempt: r.from_attempt,
    }));
  }

  /** Appends a route (routes are kept in order of creation). */
  addRoute(r: { transport: string; recipientDomain: string | null; sender: string | null; fromAttempt: number | null }, now: number): number {
    return this.db.transaction(() => {
      const { p } = this.db.prepare('SELECT COALESCE(MAX(position), -1) + 1 AS p FROM routes').get() as { p: number };
      return Number(
        this.db
          .prepare('INSERT INTO routes (position, transport, recipient_domain, sender, from_attempt, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(p, r.transport, r.recipientDomain, r.sender, r.fromAttempt, now).lastInsertRowid,
      );
    }).immediate();
  }

  removeRoute(id: number): boolean {
    return this.db.prepare('DELETE FROM routes WHERE id = ?').run(id).changes === 1;
  }

  /** Moves route `id` just before route `before`; false when either does not exist. */
  moveRoute(id: number, before: number): boolean {
    return this.db.transaction(() => {
      const order = (this.db.prepare('SELECT id FROM routes ORDER BY position, id').all() as { id: number }[]).map((r) => r.id);
      if (!order.includes(id) || !order.includes(before)) return false;
      if (id === before) return true;
      const rest = order.filter((x) => x !== id);
      rest.splice(rest.indexOf(before), 0, id);
      const upd = this.db.prepare('UPDATE routes SET position = ? WHERE id = ?');
      rest.forEach((x, i) => upd.run(i, x));
      return true;
    }).immediate();
  }

  // ---- encrypted secrets (opaque blobs) ----

  putSecret(id: string, blob: Buffer, now: number): void {
    this.db.prepare('INSERT INTO secrets (id, blob, created_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET blob = excluded.blob').run(id, blob, now);
  }

  getSecret(id: string): Buffer | undefined {
    return (this.db.prepare('SELECT blob FROM secrets WHERE id = ?').get(id) as { blob: Buffer } | undefined)?.blob;
  }

  deleteSecret(id: string): void {
    this.db.prepare('DELETE FROM secrets WHERE id = ?').run(id);
  }
}

function fromRow(r: TransportRow): StoredTransport {
  return {
    config: { name: r.name, type: r.type, host: r.host, port: r.port, tls: r.tls, tlsVerify: r.tls_verify, proxy: r.proxy, user: r.user, auth: r.auth, ipFamily: r.ip_family },
    secretRef: r.secret_ref,
    builtin: false,
  };
}
