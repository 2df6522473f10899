/**
 * Real peers for the integration tests: Postfix (SMTP MX hosts on 127.0.0.10-14:25), knotd
 * (authoritative, DNSSEC-signed dane.test) and unbound (validating resolver), started by
 * up.sh and stopped by down.sh in this folder. See README.md for the names and addresses.
 *
 * The daemons run as root on fixed loopback addresses and ports (an MX is always port 25),
 * so one set serves a whole test run: global-setup.ts starts it once and test files attach
 * to it by its state dir. Stopping goes through down.sh, which stops exactly these processes
 * and nothing else on the machine.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const INSTALL_SH = join(HERE, 'install.sh');
const UP_SH = join(HERE, 'up.sh');
const DOWN_SH = join(HERE, 'down.sh');

/** Name of the env var / vitest provide() key carrying the state dir of running peers. */
export const PEERS_STATE_DIR_ENV = 'PEERS_STATE_DIR';

export interface SmtpPeer {
  /** The host name in DNS, also the certificate's name and the smtpd's myhostname. */
  name: string;
  ip: string;
  port: number;
  /** What STARTTLS offers: a test-CA cert, a self-signed cert, or no STARTTLS at all. */
  tls: 'ca' | 'self-signed' | 'none';
  cert?: string;
  key?: string;
}

/** STATE_DIR/peers.json, as written by up.sh. */
export interface PeersInfo {
  stateDir: string;
  dns: {
    /** unbound: the validating resolver the code under test must use. */
    resolver: string;
    port: number;
    /** knotd: authoritative for the test zones (no recursion). */
    authoritative: string;
    zones: string[];
    signedZones: string[];
  };
  /** The test CA (PEM files) that signed every cert except the self-signed one. */
  ca: { cert: string; key: string };
  hosts: {
    mx1: SmtpPeer;
    plain: SmtpPeer;
    self: SmtpPeer;
    dane: SmtpPeer;
    daneBad: SmtpPeer;
    /** Nothing listens here: connections are refused. */
    dead: { name: string; ip: string; port: number };
    /** mx-dual.tls.test: refuses every sender with 554 5.7.1; also on ip6 (::1) when not empty. */
    dual: { name: string; ip: string; ip6: string; port: number; tls: 'none' };
  };
  /** Where mta-sts.<domain> points; the tests run the HTTPS server there themselves. */
  https: { ip: string; port: number; cert: string; key: string; names: string[] };
  /** TLSA 3 1 1 digests published for mx.dane.test (matches) and mx-bad.dane.test (doesn't). */
  tlsa: { dane: string; daneBad: string };
  /** Postfix as a submission server: 587 STARTTLS and 465 implicit TLS, SASL required. */
  submission: { name: string; ip: string; starttlsPort: number; implicitPort: number; user: string; password: string };
  /** Dante: SOCKS5 with username/password (a test system user), in front of the MX hosts. */
  socks: { name: string; ip: string; port: number; user: string; password: string };
  /** The one Maildir all accepted mail lands in (readMaildir filters by recipient). */
  maildir: string;
  logs: { postfix: string; knot: string; unbound: string; dante: string };
  pids: { postfix: number; knot: number; unbound: number; dante: number };
}

export interface WaitForMailOptions {
  /** Give up after this long (default 15 s): Postfix delivers asynchronously after 250. */
  timeoutMs?: number;
  /** Wait until at least this many messages are there (default 1). */
  count?: number;
}

export interface Peers extends PeersInfo {
  /** Raw messages (headers + body, as stored) delivered to this envelope recipient. */
  readMaildir(address: string): Promise<string[]>;
  waitForMail(address: string, options?: WaitForMailOptions): Promise<string[]>;
  /** Lines of Postfix's log that mention this text (for failure messages). */
  postfixLog(grep?: string): Promise<string[]>;
  /** Stops the peers if this handle started them (a no-op for an attached handle). */
  stopPeers(): Promise<void>;
}

export interface StartPeersOptions {
  /** Where to keep state; default a new dir under the OS temp dir, removed on stop. */
  stateDir?: string;
  /** Run install.sh first (default true; it only installs what is missing). */
  install?: boolean;
}

function run(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/** Installs (if needed) and starts the peers. Requires root on Debian 12. */
export async function startPeers(options: StartPeersOptions = {}): Promise<Peers> {
  if (process.getuid?.() !== 0) {
    throw new Error('real peers need root: they bind 127.0.0.x:25 and :53 and run Postfix');
  }
  if (options.install ?? process.env.PEERS_SKIP_INSTALL !== '1') {
    await run(INSTALL_SH, []);
  }
  const ownDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'peers-')));
  try {
    await run(UP_SH, [stateDir]);
  } catch (err) {
    // up.sh has already taken down whatever it started; keep the dir for its logs.
    throw new Error(`peers failed to start (logs in ${stateDir}): ${(err as Error).message}`);
  }

  let stopped = false;
  // Last resort if the test process dies without calling stopPeers (an uncaught error in a
  // global setup): 'exit' handlers must be synchronous.
  const onExit = (): void => {
    if (!stopped) {
      try {
        execFileSync(DOWN_SH, [stateDir], { stdio: 'ignore' });
      } catch {
        // Nothing more can be done while exiting.
      }
    }
  };
  process.once('exit', onExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    await run(DOWN_SH, [stateDir]);
    stopped = true;
    process.removeListener('exit', onExit);
    if (ownDir && process.env.PEERS_KEEP !== '1') {
      await rm(stateDir, { recursive: true, force: true });
    }
  };
  try {
    return await describePeers(stateDir, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A handle on peers started elsewhere (global setup) from their state dir, by default the
 * one in $PEERS_STATE_DIR. Its stopPeers() does nothing: the starter stops them.
 */
export async function attachPeers(stateDir = process.env[PEERS_STATE_DIR_ENV]): Promise<Peers> {
  if (!stateDir) throw new Error(`no running peers: ${PEERS_STATE_DIR_ENV} is not set`);
  return describePeers(stateDir, async () => {});
}

async function describePeers(stateDir: string, stop: () => Promise<void>): Promise<Peers> {
  const info = JSON.parse(await readFile(join(stateDir, 'peers.json'), 'utf8')) as PeersInfo;
  return {
    ...info,
    readMaildir: (address) => readMaildir(info.maildir, address),
    waitForMail: (address, options) => waitForMail(info, address, options),
    postfixLog: (grep) => postfixLog(info, grep),
    stopPeers: stop,
  };
}

/**
 * The header block of a stored message, unfolded into "name: value" lines. Only the first
 * header block counts: a recipient address quoted in the body must not match.
 */
function headerLines(raw: string): string[] {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end === -1 ? raw : raw.slice(0, end);
  return head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

/**
 * Messages delivered to `address`: virtual(8) puts "Delivered-To: <envelope recipient>" at
 * the top of each copy it stores, one copy per recipient. Compared case-insensitively, as
 * Postfix folds the domain. Oldest first.
 */
export async function readMaildir(maildir: string, address: string): Promise<string[]> {
  const want = address.trim().toLowerCase();
  const found: { mtimeMs: number; name: string; raw: string }[] = [];
  for (const sub of ['new', 'cur']) {
    let names: string[];
    try {
      names = await readdir(join(maildir, sub));
    } catch (err) {
      // Postfix creates the Maildir with its first delivery.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const name of names) {
      const path = join(maildir, sub, name);
      const [raw, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      const deliveredTo = headerLines(raw)
        .find((line) => /^delivered-to:/i.test(line))
        ?.slice('delivered-to:'.length)
        .trim()
        .toLowerCase();
      if (deliveredTo === want) found.push({ mtimeMs: st.mtimeMs, name, raw });
    }
  }
  found.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
  return found.map((m) => m.raw);
}

async function waitForMail(
  info: PeersInfo,
  address: string,
  { timeoutMs = 15_000, count = 1 }: WaitForMailOptions = {},
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await readMaildir(info.maildir, address);
    if (messages.length >= count) return messages;
    if (Date.now() >= deadline) {
      const log = await postfixLog(info, address);
      throw new Error(
        `no${messages.length ? ` ${count}` : ''} mail for ${address} within ${timeoutMs} ms ` +
          `(${messages.length} so far); Postfix log:\n${log.join('\n') || '(nothing about it)'}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function postfixLog(info: PeersInfo, grep?: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(info.logs.postfix, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((l) => l !== '');
  if (grep === undefined) return lines;
  const needle = grep.toLowerCase();
  return lines.filter((l) => l.toLowerCase().includes(needle));
}
