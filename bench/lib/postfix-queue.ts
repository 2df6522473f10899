/**
 * A Postfix instance with its own queue, the reference the throughput figures compare against:
 * its own config and queue directories under a scratch dir (laid out as test/peers does, so
 * test/peers/down.sh stops exactly its processes, found by MAIL_CONFIG, never by name), an
 * smtpd on a loopback address that accepts mail for the bench domains and puts it on hold,
 * and a transport map that relays each domain to its sink address (no DNS: bracketed next
 * hops, smtp_dns_support_level=disabled, so nothing leaves loopback). Everything else is
 * Postfix's defaults: 100 processes, destination concurrency 20 with slow start, connection
 * cache on demand, `smtp_tls_security_level = may` (opportunistic STARTTLS, verified against
 * the bench CA as our engine does).
 *
 * A run: inject N messages through smtpd (held, not timed), release them to the deferred queue
 * (`postsuper -H ALL`), then time `postqueue -f` until the sink has counted N more messages.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { findTool } from './sink';

const PEERS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/peers');
const DOWN_SH = path.join(PEERS, 'down.sh');
/** The same internal services as the test peers' Postfix (one list, test/peers/postfix-services.cf). */
const SERVICES_CF = path.join(PEERS, 'postfix-services.cf');

/** Why a Postfix queue cannot run here, or null when it can. */
export function postfixUnavailable(): string | null {
  for (const t of ['postfix', 'postsuper', 'postqueue']) if (!fs.existsSync(`/usr/sbin/${t}`)) return `/usr/sbin/${t} not found (Debian: apt-get install postfix)`;
  if (process.getuid?.() !== 0) return 'a Postfix instance needs root to start (its master binds and drops to the postfix user)';
  if (spawnSync('id', ['postfix']).status !== 0) return 'there is no postfix user';
  if (spawnSync('getent', ['group', 'postdrop']).status !== 0) return 'there is no postdrop group';
  return null;
}

export interface PostfixQueue {
  /** Where its smtpd listens ("ip:port"), for smtp-source to inject into. */
  listen: string;
  config: string;
  /** Injects `messages` of `length` bytes to `recipient(i)` through smtpd; they wait on hold. */
  inject(opts: { messages: number; length: number; domains: string[] }): void;
  /** Releases the held mail and times its delivery until `delivered()` has grown by `count`. */
  deliverHeld(count: number, delivered: () => number, timeoutMs: number): Promise<{ ms: number; counted: number }>;
  /** Messages still in any of its queues. */
  queued(): number;
  stop(): void;
}

/** `routes`: domain → "ip:port" of its sink. `dir` and its ancestors must be traversable by the postfix user. */
export function startPostfixQueue(dir: string, listen: string, routes: Map<string, string>, caFile: string): PostfixQueue {
  const P = path.join(dir, 'postfix');
  const PE = path.join(P, 'etc');
  for (const d of [PE, path.join(P, 'queue'), path.join(P, 'data')]) fs.mkdirSync(d, { recursive: true });
  fs.chmodSync(dir, 0o755);
  execFileSync('chown', ['postfix', path.join(P, 'data')]);
  fs.writeFileSync(path.join(PE, 'transport'), [...routes].map(([d, to]) => `${d} smtp:[${to.split(':')[0]}]:${to.split(':')[1]}\n`).join(''));
  fs.writeFileSync(path.join(PE, 'relay_domains'), [...routes.keys()].map((d) => `${d} OK\n`).join(''));
  fs.writeFileSync(
    path.join(PE, 'main.cf'),
    `compatibility_level = 3.6
queue_directory = ${P}/queue
data_directory = ${P}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${P}/maillog
maillog_file_prefixes = ${dir}
myhostname = postfix-bench.test
mydomain = postfix-bench.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_bind_address = 127.0.0.1
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
# Everything received waits on hold until the timed release.
smtpd_recipient_restrictions = check_client_access static:HOLD
relay_domains = texthash:${PE}/relay_domains
transport_maps = texthash:${PE}/transport
default_transport = error:the bench Postfix sends nowhere but its sinks
relay_transport = error:the bench Postfix sends nowhere but its sinks
smtp_dns_support_level = disabled
notify_classes =
smtp_tls_security_level = may
smtp_tls_CAfile = ${caFile}
smtp_tls_loglevel = 0
`,
  );
  fs.writeFileSync(
    path.join(PE, 'master.cf'),
    `${listen} inet n - n - - smtpd\n` + fs.readFileSync(SERVICES_CF, 'utf8').replace(/^#.*\n/gm, ''),
  );
  const run = (cmd: string, argv: string[]) => execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const stop = () => {
    spawnSync(DOWN_SH, [dir], { stdio: 'ignore' });
  };
  try {
    run('/usr/sbin/postfix', ['-c', PE, 'check']);
    run('/usr/sbin/postfix', ['-c', PE, 'start']);
  } catch (e) {
    stop();
    throw new Error(`postfix did not start: ${String((e as { stderr?: string }).stderr || (e as { stdout?: string }).stdout || e)} (log: ${P}/maillog)`);
  }
  const queued = (): number => {
    let n = 0;
    for (const q of ['incoming', 'active', 'deferred', 'hold', 'maildrop']) {
      const walk = (d: string): void => {
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(d, { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
        else n++;
      };
      walk(path.join(P, 'queue', q));
    }
    return n;
  };
  const held = (): number => {
    let n = 0;
    try {
      n = fs.readdirSync(path.join(P, 'queue', 'hold')).length;
    } catch {
      /* none yet */
    }
    return n;
  };
  return {
    listen,
    config: PE,
    queued,
    inject({ messages, length, domains }) {
      const source = findTool('smtp-source')!;
      const per = Math.ceil(messages / domains.length);
      let sent = 0;
      for (let i = 0; i < domains.length && sent < messages; i++) {
        const m = Math.min(per, messages - sent);
        run(source, ['-s', '8', '-m', String(m), '-l', String(length), '-f', 'bench@outbox.test', '-t', `user${i}@${domains[i]}`, listen]);
        sent += m;
      }
      const until = Date.now() + 120_000;
      while (held() < messages) {
        if (Date.now() > until) throw new Error(`only ${held()} of ${messages} messages reached Postfix's hold queue (log: ${P}/maillog)`);
        spawnSync('sleep', ['0.05']);
      }
    },
    async deliverHeld(count, delivered, timeoutMs) {
      run('/usr/sbin/postsuper', ['-c', PE, '-H', 'ALL']);
      const before = delivered();
      const t0 = performance.now();
      run('/usr/sbin/postqueue', ['-c', PE, '-f']);
      const until = Date.now() + timeoutMs;
      while (delivered() - before < count && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      return { ms: performance.now() - t0, counted: delivered() - before };
    },
    stop,
  };
}
