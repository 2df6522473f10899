/**
 * Figure 1 — throughput against Postfix's own queue, same machine, same run, same sinks:
 * N messages of about 1 KiB (one recipient each), for 50 domains and for 1 domain, delivered
 * (a) by this outbox (real Outbox → queue → delivery → SMTP client; MX through an in-process
 *     DNS server on loopback) from a queue filled beforehand, timed from queue.start() to drained;
 * (b) by a Postfix instance with its own queue (bench/lib/postfix-queue.ts), filled beforehand
 *     through its smtpd and held, timed from `postqueue -f` until the sink counted N;
 * (c) smtp-source straight into the sink: the ceiling of the sink and the loopback (plain only:
 *     smtp-source has no STARTTLS).
 * Twice: into Postfix's smtp-sink (plain), and into a TLS-capable sink (bench/lib/tls-sink-server)
 * offering STARTTLS with a certificate of a bench CA that both clients are given.
 * Each figure is the median of REPEATS runs; the ratio is ours / Postfix's medians.
 *
 *   node --expose-gc --import tsx bench/parts/throughput.ts [--quick]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Outbox } from '../../src-main/core/outbox';
import { startFakeDns } from '../../test/helpers/fake-dns';
import { smallDraft, BENCH_NEGATIVE_TTL_S } from '../lib/engine';
import { args, emit, log, round, scratchDir } from '../lib/measure';
import { postfixUnavailable, startPostfixQueue, type PostfixQueue } from '../lib/postfix-queue';
import { freePortOn, sinkUnavailable, smtpSource, startSinks, startTlsSinks, type Sinks } from '../lib/sink';

const { quick, messages, repeats } = args();
const MESSAGES = messages ?? (quick ? 500 : 5000);
const REPEATS = repeats ?? (quick ? 1 : 3);
const PLAIN_SINKS = ['127.0.0.31', '127.0.0.32', '127.0.0.33', '127.0.0.34', '127.0.0.35'];
const TLS_SINKS = ['127.0.0.41', '127.0.0.42', '127.0.0.43', '127.0.0.44', '127.0.0.45'];
const POSTFIX_LISTEN_IP = '127.0.0.30';
type Mode = 'plain' | 'tls';
// `--modes plain` or `--modes tls` runs one half (the TLS half takes longest while our rate is low).
const modesArg = process.argv.indexOf('--modes');
const MODES = (modesArg >= 0 ? (process.argv[modesArg + 1] ?? '').split(',') : ['plain', 'tls']).filter((m): m is Mode => m === 'plain' || m === 'tls');
const prefix = (mode: Mode) => (mode === 'plain' ? 'bench' : 'tlsbench');
const domain = (mode: Mode, i: number) => `${prefix(mode)}${i}.test`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** A bench CA and one leaf for every MX name (mx.<domain>), made with openssl. */
function certificates(dir: string, names: string[]): { ca: string; caFile: string; cert: string; key: string } {
  const o = (argv: string[]) => execFileSync('openssl', argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const f = (n: string) => path.join(dir, n);
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=Direct Outbox bench CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  o(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('sink.key'), '-out', f('sink.csr'), '-subj', '/CN=sink.bench.test']);
  fs.writeFileSync(f('sink.ext'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  o(['x509', '-req', '-in', f('sink.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '30', '-extfile', f('sink.ext'), '-out', f('sink.crt')]);
  return { ca: fs.readFileSync(f('ca.crt'), 'utf8'), caFile: f('ca.crt'), cert: f('sink.crt'), key: f('sink.key') };
}

const why = sinkUnavailable();
if (why) {
  emit({ skipped: why });
  process.exit(0);
}
const postfixWhy = postfixUnavailable();
if (postfixWhy) log(`throughput: Postfix's queue is skipped: ${postfixWhy}`);

const scratch = scratchDir('throughput');
// Postfix's daemons (user postfix) must reach its queue under the scratch dir.
fs.chmodSync(scratch.dir, 0o755);
const names = [...Array(50).keys()].flatMap((i) => [`mx.${domain('plain', i)}`, `mx.${domain('tls', i)}`]);
const certs = certificates(scratch.dir, names);
const port = await freePortOn([...PLAIN_SINKS, ...TLS_SINKS, POSTFIX_LISTEN_IP]);
const dns = await startFakeDns({ negativeSoaTtl: BENCH_NEGATIVE_TTL_S });
for (const mode of ['plain', 'tls'] as Mode[]) {
  const sinks = mode === 'plain' ? PLAIN_SINKS : TLS_SINKS;
  for (let i = 0; i < 50; i++) {
    dns.add(domain(mode, i), 'MX', [{ preference: 10, exchange: `mx.${domain(mode, i)}` }]);
    dns.add(`mx.${domain(mode, i)}`, 'A', [sinks[i % sinks.length]!]);
  }
}
const sinks: Record<Mode, Sinks> = {
  plain: await startSinks(PLAIN_SINKS, 1000, port),
  tls: await startTlsSinks(TLS_SINKS, port, certs.cert, certs.key),
};
let postfix: PostfixQueue | null = null;
// Interrupted (Ctrl-C, a timeout's SIGTERM): stop what this part started, by pid, before exiting.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    postfix?.stop();
    void Promise.all([sinks.plain.stop(), sinks.tls.stop(), dns.close()]).finally(() => {
      scratch.cleanup();
      process.exit(130);
    });
  });
}
const result: Record<string, unknown> = { messages: MESSAGES, repeats: REPEATS };
try {
  if (!postfixWhy) {
    const routes = new Map<string, string>();
    for (const mode of ['plain', 'tls'] as Mode[]) {
      const addrs = mode === 'plain' ? PLAIN_SINKS : TLS_SINKS;
      for (let i = 0; i < 50; i++) routes.set(domain(mode, i), `${addrs[i % addrs.length]}:${port}`);
    }
    postfix = startPostfixQueue(path.join(scratch.dir, 'postfix-queue'), `${POSTFIX_LISTEN_IP}:${port}`, routes, certs.caFile);
  }
  const open = (dir: string) => new Outbox({ dataDir: dir, network: { dnsServers: [dns.address], smtpPort: port, ehloName: 'bench.outbox.test', extraCa: [certs.ca] }, version: 'bench' });
  const settings = (() => {
    const o = open(path.join(scratch.dir, 'settings-probe'));
    const s = o.store.getSettings();
    void o.close();
    return s;
  })();
  result.concurrency = settings.concurrency;
  result.perDomain = settings.perDomainConcurrency;
  log(`throughput: ${MESSAGES} messages, median of ${REPEATS}; outbox concurrency ${settings.concurrency} (per domain ${settings.perDomainConcurrency}); Postfix defaults (100 processes, 20 per destination)`);

  for (const mode of MODES) {
    for (const domains of [50, 1]) {
      const key = `${mode}_d${domains}`;
      // The queue, filled once through Outbox.submit (compose, fsync'd .eml, FULL commit), then
      // copied for each run so every run starts from the same queue.
      const template = path.join(scratch.dir, `template-${key}`);
      const core = open(template);
      const t0 = performance.now();
      for (let i = 0; i < MESSAGES; i++) {
        const d = smallDraft(i, domains);
        d.to = [`user${i}@${domain(mode, i % domains)}`];
        const r = await core.submit(d);
        if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
      }
      const enqueueMs = performance.now() - t0;
      const avgSize = Math.round((core.store.db.prepare('SELECT avg(size) AS s FROM messages').get() as { s: number }).s);
      await core.close();

      const ours: number[] = [];
      const theirs: number[] = [];
      const notes: string[] = [];
      for (let rep = 0; rep < REPEATS; rep++) {
        const dir = path.join(scratch.dir, `run-${key}-${rep}`);
        fs.cpSync(template, dir, { recursive: true });
        const c = open(dir);
        const before = sinks[mode].delivered();
        const s0 = performance.now();
        c.queue.start();
        await c.queue.drain();
        const ms = performance.now() - s0;
        const delivered = (c.store.db.prepare("SELECT count(*) AS n FROM recipients WHERE state = 'delivered'").get() as { n: number }).n;
        await c.close();
        fs.rmSync(dir, { recursive: true, force: true });
        await new Promise((r) => setTimeout(r, 200));
        if (delivered !== MESSAGES) notes.push(`ours run ${rep + 1}: ${delivered} of ${MESSAGES} delivered`);
        const sinkGot = sinks[mode].delivered() - before;
        if (sinkGot !== MESSAGES) notes.push(`ours run ${rep + 1}: sink counted ${sinkGot}`);
        ours.push(delivered / (ms / 1000));
        log(`  ${key} ours run ${rep + 1}: ${round(delivered / (ms / 1000))} msg/s (${round(ms / 1000, 2)} s)`);

        if (postfix) {
          postfix.inject({ messages: MESSAGES, length: avgSize, domains: [...Array(domains).keys()].map((i) => domain(mode, i)) });
          const r = await postfix.deliverHeld(MESSAGES, () => sinks[mode].delivered(), 600_000);
          if (r.counted !== MESSAGES) notes.push(`postfix run ${rep + 1}: sink counted ${r.counted}`);
          theirs.push(r.counted / (r.ms / 1000));
          log(`  ${key} postfix run ${rep + 1}: ${round(r.counted / (r.ms / 1000))} msg/s (${round(r.ms / 1000, 2)} s)`);
          const until = Date.now() + 10_000;
          while (postfix.queued() > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
        }
      }
      const row: Record<string, unknown> = {
        avgMessageBytes: avgSize,
        enqueueSeconds: round(enqueueMs / 1000, 2),
        oursPerSecond: round(median(ours)),
        oursRuns: ours.map((x) => round(x)),
      };
      if (postfix) {
        row.postfixPerSecond = round(median(theirs));
        row.postfixRuns = theirs.map((x) => round(x));
        row.ratio = round(median(ours) / median(theirs), 3);
      }
      if (mode === 'plain') {
        const src: number[] = [];
        for (let rep = 0; rep < REPEATS; rep++) {
          const s = await smtpSource({ sessions: settings.concurrency, messages: MESSAGES, length: avgSize, target: `${PLAIN_SINKS[0]}:${port}` });
          src.push(MESSAGES / (s.ms / 1000));
          row.smtpSourceCommand = s.command.replace(String(port), 'PORT');
        }
        row.smtpSourcePerSecond = round(median(src));
      }
      if (notes.length) row.notes = notes;
      result[key] = row;
      fs.rmSync(template, { recursive: true, force: true });
    }
  }
  if (!postfix) result.postfix = `skipped: ${postfixWhy}`;
  emit(result);
} finally {
  postfix?.stop();
  await sinks.plain.stop();
  await sinks.tls.stop();
  await dns.close();
  scratch.cleanup();
}
