/**
 * Crash safety of the durable queue (delivery-rules §8/§10, issue "Durable outbox queue"): the
 * CLI queue runner (`outbox run`, a separate process) is SIGKILLed at random moments while it
 * delivers a few hundred messages to a local SMTP peer, and restarted each time. Afterwards
 * every message must have arrived (nothing acknowledged as queued is lost), duplicates must not
 * exceed the deliveries on the wire at the kills (at-least-once: only a delivery claimed and
 * not yet recorded may repeat), every recipient must be 'delivered' (none stuck in 'sending'),
 * and SQLite must be intact. Three times: one delivery at a time (the bound is then "≤ kills"),
 * at 8 at once, 2 per domain, over 8 domains (issue 10), and at today's defaults (20 at once,
 * slow start up to 20 per domain) where results are group-committed: several deliveries' results
 * and the next claims share one transaction, so kills land between "250" and a batched commit
 * (issue 14 item 1). A result waiting for its batch is still 'sending' on disk and is counted
 * in flight: the duplicate bound stays the same.
 *
 * Threat: a crash or power cut between "the server said 250" and "the store recorded it", or
 * between claiming and delivering, silently losing mail or corrupting the queue.
 *
 * The kill moments come from a seeded PRNG; the seed is printed (OUTBOX_KILL_SEED=n reruns it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Outbox } from '../../../src-main/core/outbox';
import { openDb } from '../../../src-main/core/store/db';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';
import { prng } from '../../helpers/prng';

const CLI = fileURLToPath(new URL('../../../bin/outbox.mjs', import.meta.url));
const DOMAINS = Array.from({ length: 8 }, (_, i) => `kill${i}.test`);
const VIA_CLI = 5;
/** The peer's pause at each RCPT (ms), set per run: the window in which a kill lands mid-transaction. */
let rcptDelayMs = 10;


let dns: FakeDns;
let peer: SmtpPeer;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dns = await startFakeDns();
  for (const d of DOMAINS) {
    dns.add(d, 'MX', [{ preference: 10, exchange: `mx.${d}` }]);
    dns.add(`mx.${d}`, 'A', ['127.0.0.1']);
  }
  peer = await startSmtpPeer({
    server: {
      disableReverseLookup: true,
      // A slow RCPT widens the window in which a kill lands mid-transaction (claimed, connected,
      // not yet accepted). The peer accepts everything: a temporary failure would put the
      // recipient on the 7.5-minute backoff and the final drain could not finish.
      onRcptTo(_address, _session, cb) {
        setTimeout(() => cb(), rcptDelayMs);
      },
    },
  });
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await peer?.close();
  await dns?.close();
});

let data: { dir: string; cleanup: () => void };

function common(): string[] {
  return ['--data-dir', data.dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'client.outbox.test'];
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the CLI; `onStart` may kill it. Resolves on exit with what it wrote to stderr. */
function cli(args: string[], onStart?: (child: ChildProcess, ready: Promise<void>) => void): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, ...common()], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    child.stdout!.resume();
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      // `run` prints this line after queue.start(): recovery done, deliveries under way.
      if (stderr.includes('running the queue')) markReady();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      children.delete(child);
      markReady();
      resolve({ code, signal, stderr });
    });
    onStart?.(child, ready);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tokensArrived(): string[] {
  return peer.messages.map((m) => /^Subject: kill-test (\S+)\r?$/m.exec(m.body.toString('utf8'))?.[1] ?? '?');
}

/** Deliveries on the wire at a kill: recipients claimed ('sending') and not recorded, by claim. */
function inFlight(seen: Set<string>): number {
  const db = openDb(data.dir, { readonly: true });
  try {
    const rows = db.prepare("SELECT id, updated_at FROM recipients WHERE state = 'sending'").all() as { id: number; updated_at: number }[];
    let fresh = 0;
    for (const r of rows) {
      // A row still 'sending' from an earlier kill (this runner died before recovering it) is
      // the same delivery, counted once.
      const key = `${r.id}@${r.updated_at}`;
      if (!seen.has(key)) fresh++;
      seen.add(key);
    }
    return fresh;
  } finally {
    db.close();
  }
}

interface KillRun {
  name: string;
  messages: number;
  kills: number;
  /** Written to the settings; absent: the defaults. */
  concurrency?: number;
  perDomain?: number;
  /**
   * The peer's pause at RCPT. At 20 at once with reused sessions an idle machine delivers all
   * 300 messages before the first kill lands (seen in CI: 0 on the wire at the kills), which
   * would make the run vacuous; a slower peer keeps deliveries on the wire across the kills.
   * At 8 at once, 2 per domain the same happened once small messages were read in one go
   * (0 on the wire in 2 of 3 runs at 10 ms).
   */
  rcptDelayMs?: number;
}

async function killRun(o: KillRun): Promise<void> {
  data = tmpDir('outbox-kill-');
  peer.messages.length = 0;
  rcptDelayMs = o.rcptDelayMs ?? 10;
  const started = Date.now();
  try {
    await killRunIn(o);
  } finally {
    console.log(`queue-kill ${o.name}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    data.cleanup();
  }
}

async function killRunIn(o: KillRun): Promise<void> {
  const IN_PROCESS = o.messages - VIA_CLI;
  const KILLS = o.kills;
  const domainOf = (i: number) => DOMAINS[i % (o.concurrency === 1 ? 1 : DOMAINS.length)]!;
  const seed = process.env.OUTBOX_KILL_SEED ? Number(process.env.OUTBOX_KILL_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`queue-kill: seed ${seed} (rerun with OUTBOX_KILL_SEED=${seed})`);
  const random = prng(seed);

  // Queue everything first. One delivery on the wire at a time makes the acceptance bound
  // exact: a kill can catch at most one message between the server's 250 and the commit.
  const tokens: string[] = [];
  const core = new Outbox({ dataDir: data.dir });
  if (o.concurrency !== undefined) core.store.setSettings({ concurrency: o.concurrency, perDomainConcurrency: o.perDomain! });
  for (let i = 0; i < IN_PROCESS; i++) {
    const token = `t${String(i).padStart(4, '0')}-${seed.toString(36)}`;
    const r = await core.submit({ from: 'sender@outbox.test', to: [`rcpt${i}@${domainOf(i)}`], cc: [], bcc: [], subject: `kill-test ${token}`, text: `token ${token}\n`, attachments: [], tlsMode: 'default' });
    expect(r.ok).toBe(true);
    tokens.push(token);
  }
  await core.close();
  for (let i = 0; i < VIA_CLI; i++) {
    const token = `c${i}-${seed.toString(36)}`;
    const r = await cli(['send', '--from', 'sender@outbox.test', '--to', `cli${i}@${domainOf(i)}`, '--subject', `kill-test ${token}`]);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    tokens.push(token);
  }

  let kills = 0;
  let onTheWire = 0;
  const seen = new Set<string>();
  while (kills < KILLS) {
    // Mostly mid-delivery (after start-up recovery); one in five during start-up itself.
    const duringStartup = random() < 0.2;
    const delay = 100 + Math.floor(random() * 1400);
    const exit = await cli(['run'], (child, ready) => {
      void (duringStartup ? Promise.resolve() : ready).then(() => sleep(delay)).then(() => child.kill('SIGKILL'));
    });
    // A runner that died on its own (not our signal) is a bug, not a kill.
    expect(exit, exit.stderr).toMatchObject({ signal: 'SIGKILL' });
    kills++;
    onTheWire += inFlight(seen);
  }
  const arrivedDuringKills = peer.messages.length;

  const last = await cli(['run', '--once']);
  expect(last, last.stderr).toMatchObject({ code: 0 });

  const arrived = tokensArrived();
  const unique = new Set(arrived);
  const missing = tokens.filter((t) => !unique.has(t));
  const duplicates = arrived.length - unique.size;
  console.log(
    `queue-kill ${o.name}: ${tokens.length} messages, ${kills} kills, ${onTheWire} deliveries on the wire at the kills, ${arrivedDuringKills} arrivals before the final drain, ${arrived.length} in all, ${missing.length} lost, ${duplicates} duplicate(s)`,
  );
  expect(missing).toEqual([]);
  expect([...unique].filter((t) => !tokens.includes(t))).toEqual([]);
  expect(duplicates).toBeLessThanOrEqual(onTheWire);
  if (o.concurrency === 1) expect(duplicates).toBeLessThanOrEqual(kills);

  const db = openDb(data.dir, { readonly: true });
  try {
    const states = db.prepare('SELECT state, count(*) AS n FROM recipients GROUP BY state').all() as { state: string; n: number }[];
    expect(states).toEqual([{ state: 'delivered', n: tokens.length }]);
    // The kills did catch deliveries in flight, and start-up recovered them (not a vacuous run).
    const interrupted = db.prepare("SELECT count(*) AS n FROM message_events WHERE kind = 'interrupted'").get() as { n: number };
    const ms = db.prepare('SELECT avg(duration_ms) AS avg, max(duration_ms) AS max FROM attempts').get() as { avg: number; max: number };
    console.log(`queue-kill ${o.name}: ${interrupted.n} delivery(ies) recovered as interrupted; attempt time avg ${Math.round(ms.avg)} ms, max ${ms.max} ms`);
    expect(interrupted.n).toBeGreaterThan(0);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
  } finally {
    db.close();
  }
}

test('SIGKILLed queue runner, one delivery at a time: no message lost, duplicates ≤ kills, store consistent', { timeout: 300_000 }, async () => {
  await killRun({ name: 'serial', messages: 205, kills: 20, concurrency: 1, perDomain: 1 });
});

test('SIGKILLed queue runner at the default concurrency (8/2): 300 messages, 30 kills, none lost, duplicates ≤ deliveries on the wire at the kills', { timeout: 600_000 }, async () => {
  await killRun({ name: 'default concurrency', messages: 300, kills: 30, concurrency: 8, perDomain: 2, rcptDelayMs: 60 });
});

test('SIGKILLed queue runner at the defaults (20 at once, slow start to 20 per domain, group commit): 300 messages, 30 kills, none lost, duplicates ≤ deliveries on the wire at the kills', { timeout: 600_000 }, async () => {
  await killRun({ name: 'defaults, group commit', messages: 300, kills: 30, rcptDelayMs: 250 });
});
