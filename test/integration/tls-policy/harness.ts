/**
 * Drives the REAL engine (Outbox → queue → delivery → SMTP client, MTA-STS fetcher, SQLite
 * policy cache) against in-process peers, for the TLS-policy rules (delivery-rules §2, §3, §5,
 * §6, §11, §12; RFC 8461, RFC 7672, RFC 8689, RFC 8460).
 *
 * - a fake validating DNS server (AD bit per answer) answers for the test domains;
 * - a dialer maps MX addresses (127.0.1.x, or any other string) to peers' ports on 127.0.0.1;
 * - an HTTPS server on 127.0.0.1 serves MTA-STS policies for `mta-sts.<domain>` with a
 *   certificate from the test CA issued per SNI name, so the real fetcher's PKIX check runs;
 * - helpers to build peers: a well-behaved TLS peer (smtp-server), scripted peers that offer
 *   STARTTLS (and REQUIRETLS after it), break the handshake, or never offer STARTTLS, each
 *   logging every connection so tests can prove nothing went out in plaintext.
 *
 * The threat these tests address: an on-path attacker stripping STARTTLS or presenting their
 * own certificate must never get the message in plaintext where a policy requires TLS.
 */
import { createHash, X509Certificate } from 'node:crypto';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { createSecureContext } from 'node:tls';
import type { Clock } from '../../../src-main/core/clock';
import { createStubResolver } from '../../../src-main/core/dns';
import { tcpDialer, type Dialer } from '../../../src-main/core/net/dialer';
import { Outbox, type NetworkOptions } from '../../../src-main/core/outbox';
import type { LocalDraft as Draft, DraftInput, MessageDetail } from '../../../shared/domain';
import { LocalDraft as DraftSchema } from '../../../shared/domain';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createSelfSigned, createTestCa, type CertFiles, type TestCa } from '../../helpers/certs';
import { startFakeDns, type FakeAnswerOptions, type FakeDns } from '../../helpers/fake-dns';
import { startScriptedPeer, startSmtpPeer, type ScriptedConnection, type ScriptedPeer, type SmtpPeer, type SmtpPeerOptions } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';

export interface PolicyResponse {
  status?: number;
  contentType?: string;
  body: string;
}

export interface Harness {
  dns: FakeDns;
  core: Outbox;
  /** Address → port of the peer answering there; unmapped addresses refuse the connection. */
  routes: Map<string, number>;
  /** Every address the engine dialed, in order. */
  dialed: string[];
  /** MTA-STS policies served per recipient domain (absent: HTTP 404). */
  policies: Map<string, PolicyResponse>;
  /** HTTPS requests received per recipient domain. */
  policyRequests: Map<string, number>;
  send(draft: DraftInput): Promise<MessageDetail>;
  /** Registers a TLS peer's cleanup. */
  track<T extends { close(): Promise<void> }>(peer: T): T;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** The test CA: trusted for PKIX and issuing the MTA-STS policy server's certificates. */
  ca?: TestCa;
  network?: Partial<NetworkOptions>;
  clock?: Clock;
  /** Per-query DNS timeout of the stub resolver (default 500 ms; browser tests on a loaded machine want more). */
  dnsTimeoutMs?: number;
}

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const dns = await startFakeDns();
  const { dir, cleanup } = tmpDir('outbox-tlspolicy-');
  const routes = new Map<string, number>();
  const dialed: string[] = [];
  const policies = new Map<string, PolicyResponse>();
  const policyRequests = new Map<string, number>();
  const tracked: { close(): Promise<void> }[] = [];

  // Without a CA there are no MTA-STS policies to serve (the delivery tests).
  const policyServer = opts.ca ? await startPolicyServer(opts.ca, policies, policyRequests) : null;

  const dialer: Dialer = async (o) => {
    dialed.push(o.ip);
    const port = routes.get(o.ip);
    if (port === undefined) throw Object.assign(new Error(`connect ECONNREFUSED ${o.ip}:${o.port}`), { code: 'ECONNREFUSED' });
    return tcpDialer({ ...o, ip: '127.0.0.1', port });
  };
  const core = new Outbox({
    dataDir: dir,
    ...(opts.clock ? { clock: opts.clock } : {}),
    network: {
      resolver: createStubResolver({ servers: [dns.address], timeoutMs: opts.dnsTimeoutMs ?? 500, tries: 1 }),
      dialer,
      ehloName: 'client.outbox.test',
      timeouts: { greeting: 5000, command: 5000, mail: 5000, rcpt: 5000, dataInit: 5000, dataBlock: 5000, dataEnd: 5000, tlsHandshake: 5000, quit: 2000 },
      connectTimeoutMs: 2000,
      ...(opts.ca ? { extraCa: [opts.ca.certPem] } : {}),
      ...(policyServer ? { httpsPort: policyServer.port } : {}),
      // Every policy host is the in-process HTTPS server; its certificate still has to verify.
      mtaStsConnectTo: () => '127.0.0.1',
      ...opts.network,
    },
  });
  return {
    dns,
    core,
    routes,
    dialed,
    policies,
    policyRequests,
    async send(input) {
      const draft: Draft = DraftSchema.parse({ from: 'Sender <sender@outbox.test>', subject: 'hello', text: 'Hello there.\n', ...input });
      const r = await core.submit(draft);
      if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
      // The queue keeps running between sends (stopping it closes the kept sessions, which the
      // reuse tests carry from one message to the next); it works on this message only.
      core.queue.onlyMessage(r.messageId);
      core.queue.start();
      core.queue.pump();
      await core.queue.firstAttemptsDone(r.messageId);
      return core.store.getMessage(r.messageId)!;
    },
    track(peer) {
      tracked.push(peer);
      return peer;
    },
    async close() {
      await core.close();
      await Promise.all(tracked.splice(0).map((p) => p.close()));
      await policyServer?.close();
      await dns.close();
      cleanup();
    },
  };
}

/** One HTTPS server for every `mta-sts.<domain>`: the certificate is issued per SNI name. */
async function startPolicyServer(
  ca: TestCa,
  policies: Map<string, PolicyResponse>,
  requests: Map<string, number>,
): Promise<{ port: number; close(): Promise<void> }> {
  const contexts = new Map<string, tls.SecureContext>();
  const contextFor = (name: string) => {
    let ctx = contexts.get(name);
    if (!ctx) {
      const leaf = ca.issue({ names: [name] });
      ctx = createSecureContext({ key: leaf.keyPem, cert: leaf.chainPem });
      contexts.set(name, ctx);
    }
    return ctx;
  };
  const fallback = ca.issue({ names: ['policy-server.invalid'] });
  const server = https.createServer(
    {
      key: fallback.keyPem,
      cert: fallback.chainPem,
      SNICallback: (name, cb) => {
        try {
          cb(null, contextFor(name.toLowerCase()));
        } catch (e) {
          cb(e as Error);
        }
      },
    },
    (req, res) => {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      const domain = host.replace(/^mta-sts\./, '');
      requests.set(domain, (requests.get(domain) ?? 0) + 1);
      const p = policies.get(domain);
      if (!p || req.url !== '/.well-known/mta-sts.txt') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(p.status ?? 200, { 'content-type': p.contentType ?? 'text/plain' }).end(p.body);
    },
  );
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---- DNS helpers -------------------------------------------------------------------------------

/** MX records for `domain` and an A record per host; `ad` marks every answer DNSSEC-authentic. */
export function mx(dns: FakeDns, domain: string, hosts: [number, string, string][], opts: FakeAnswerOptions = {}): void {
  dns.add(domain, 'MX', hosts.map(([preference, exchange]) => ({ preference, exchange })), opts);
  for (const [, exchange, ip] of hosts) dns.add(exchange, 'A', [ip], opts);
}

/** The MTA-STS TXT record and the policy the HTTPS server returns. */
export function stsPolicy(h: Harness, domain: string, p: { id: string; mode: 'enforce' | 'testing' | 'none'; mx: string[]; maxAge?: number }): void {
  h.dns.add(`_mta-sts.${domain}`, 'TXT', [`v=STSv1; id=${p.id}`]);
  h.policies.set(domain, {
    body: ['version: STSv1', `mode: ${p.mode}`, ...p.mx.map((m) => `mx: ${m}`), `max_age: ${p.maxAge ?? 86400}`, ''].join('\r\n'),
  });
}

/** RFC 6698 §2.1: certificate association data for a certificate. */
export function tlsaData(certPem: string, selector: 0 | 1, matchingType: 0 | 1 | 2): Buffer {
  const x = new X509Certificate(certPem);
  const selected = selector === 0 ? Buffer.from(x.raw) : x.publicKey.export({ type: 'spki', format: 'der' });
  if (matchingType === 0) return selected;
  return createHash(matchingType === 1 ? 'sha256' : 'sha512').update(selected).digest();
}

// ---- peers ------------------------------------------------------------------------------------

/** A well-behaved peer offering STARTTLS with `cert` (smtp-server); records what it accepts. */
export async function tlsPeer(h: Harness, cert: Pick<CertFiles, 'keyPem' | 'chainPem'>, extra: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  return h.track(await startSmtpPeer({ tls: { key: cert.keyPem, cert: cert.chainPem }, ...extra }));
}

/** A peer that never offers STARTTLS but would gladly accept mail in plaintext. */
export async function plainPeer(h: Harness): Promise<SmtpPeer> {
  return h.track(await startSmtpPeer({}));
}

export interface LoggedSession {
  /** Every line the client sent, in order, before and after TLS (DATA content excluded). */
  lines: string[];
  /** Message bodies received, and whether each came over TLS. */
  data: { body: Buffer; secure: boolean }[];
  secure: boolean;
}

export interface RecordingPeer {
  peer: ScriptedPeer;
  sessions: LoggedSession[];
  /** Bodies received over a connection without TLS: the downgrade tests expect none. */
  readonly plaintextMessages: Buffer[];
  readonly messages: { body: Buffer; secure: boolean }[];
}

export interface ScriptOptions {
  /** Certificate for STARTTLS; without it STARTTLS is not offered. */
  cert?: Pick<CertFiles, 'keyPem' | 'chainPem'>;
  /** Extensions announced after STARTTLS (e.g. REQUIRETLS). */
  ehloAfterTls?: string[];
  /** Extensions announced before TLS (STARTTLS is added when `cert` is given). */
  ehloBeforeTls?: string[];
  /** Answer STARTTLS with 220 and then send garbage instead of a TLS handshake. */
  breakHandshake?: boolean;
  /**
   * The server's TLS context per connection (0-based), instead of `cert`: the same one each
   * time keeps its ticket keys (sessions resume), a new one each time cannot resume.
   */
  secureContext?: (connection: number) => tls.SecureContext;
}

/**
 * A scripted SMTP server that records every connection. It serves each connection the same
 * way, so a client that reconnects after a failed handshake finds the same server — and would
 * be able to deliver in plaintext (STARTTLS is only offered when the handshake can work).
 */
export async function recordingPeer(h: Harness, o: ScriptOptions): Promise<RecordingPeer> {
  const sessions: LoggedSession[] = [];
  const peer = await startScriptedPeer(async (c) => {
    const s: LoggedSession = { lines: c.lines, data: [], secure: false };
    const n = sessions.length;
    sessions.push(s);
    await serve(c, s, o, n);
  });
  h.track(peer);
  const messages = () => sessions.flatMap((s) => s.data);
  return {
    peer,
    sessions,
    get messages() {
      return messages();
    },
    get plaintextMessages() {
      return messages()
        .filter((m) => !m.secure)
        .map((m) => m.body);
    },
  };
}

async function serve(c: ScriptedConnection, s: LoggedSession, o: ScriptOptions, n: number): Promise<void> {
  const offersTls = !!(o.cert || o.secureContext || o.breakHandshake);
  c.write('220 scripted.test ESMTP\r\n');
  for (;;) {
    const line = await c.readLine();
    if (line === null) return;
    const verb = line.split(' ')[0]!.toUpperCase();
    if (verb === 'EHLO') {
      const ext = c.secure
        ? ['PIPELINING', 'ENHANCEDSTATUSCODES', ...(o.ehloAfterTls ?? [])]
        : ['PIPELINING', 'ENHANCEDSTATUSCODES', ...(o.ehloBeforeTls ?? []), ...(offersTls ? ['STARTTLS'] : [])];
      const all = ['scripted.test', ...ext];
      c.write(all.map((l, i) => `250${i === all.length - 1 ? ' ' : '-'}${l}\r\n`).join(''));
    } else if (verb === 'STARTTLS' && !c.secure && offersTls) {
      c.write('220 2.0.0 go ahead\r\n');
      if (o.secureContext && !o.breakHandshake) {
        await c.startTls({ secureContext: o.secureContext(n) }).catch(() => c.destroy());
        if (!c.secure) return;
        s.secure = true;
        continue;
      }
      if (o.breakHandshake || !o.cert) {
        c.write('this is not a TLS server hello\r\n');
        c.end();
        return;
      }
      await c.startTls({ key: o.cert.keyPem, cert: o.cert.chainPem }).catch(() => c.destroy());
      if (!c.secure) return;
      s.secure = true;
    } else if (verb === 'MAIL') {
      c.write('250 2.1.0 ok\r\n');
    } else if (verb === 'RCPT') {
      c.write('250 2.1.5 ok\r\n');
    } else if (verb === 'DATA') {
      c.write('354 go ahead\r\n');
      s.data.push({ body: await c.readData(), secure: c.secure });
      c.write('250 2.0.0 queued\r\n');
    } else if (verb === 'RSET' || verb === 'NOOP') {
      c.write('250 2.0.0 ok\r\n');
    } else if (verb === 'QUIT') {
      c.write('221 2.0.0 bye\r\n');
      c.end();
      return;
    } else {
      c.write('502 5.5.1 unknown command\r\n');
    }
  }
}

/** The client lines of every session that look like the start of a mail transaction. */
export function mailCommands(p: RecordingPeer): string[] {
  return p.sessions.flatMap((s) => s.lines.filter((l) => /^MAIL FROM:/i.test(l)));
}

/**
 * The lifecycle every policy test file shares: one test CA for the file, a fresh harness per
 * test (closed after it), and self-signed certificates removed at the end.
 */
export function useHarness() {
  let ca: TestCa | undefined;
  let current: Harness | undefined;
  const cleanups: (() => void)[] = [];
  beforeAll(() => {
    ca = createTestCa();
  });
  afterAll(() => {
    ca?.cleanup();
    for (const c of cleanups.splice(0)) c();
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return {
    get ca(): TestCa {
      return ca!;
    },
    /** A new harness; the previous one of this test (if any) is closed first. */
    async harness(opts: Omit<HarnessOptions, 'ca'> = {}): Promise<Harness> {
      await current?.close();
      const x = await startHarness({ ca: ca!, ...opts });
      const close = x.close.bind(x);
      let closed = false;
      // Tests may close a harness themselves; the file's afterEach must not close it twice.
      x.close = async () => {
        if (closed) return;
        closed = true;
        await close();
      };
      current = x;
      return x;
    },
    selfSigned(names: string[], extra: { expired?: boolean } = {}): CertFiles {
      const c = createSelfSigned({ names, ...extra });
      cleanups.push(c.cleanup);
      return c;
    },
  };
}
