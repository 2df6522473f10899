/**
 * The delivery phase alone, for a CPU profile (issue 14 item 5): the real engine (Outbox →
 * queue → delivery → SMTP client) drains a queue filled beforehand (not timed, not profiled
 * apart) into loopback sinks — Postfix's smtp-sink (plain) or bench/lib/tls-sink-server.ts
 * (STARTTLS, its own process, so its CPU is not in the profile) — through the in-process fake
 * DNS, as bench/parts/throughput.ts does. It prints one line with the figures. With
 * `--profile FILE` the delivery phase alone (queue.start → drained) is CPU-profiled through
 * node:inspector and written to FILE (a .cpuprofile):
 *
 *   node --import tsx bench/profile-delivery.ts --messages 1000 --domains 1 --mode tls --profile /tmp/d.cpuprofile
 *   node bench/profile-summary.mjs /tmp/d.cpuprofile      # self time per function and per file
 *
 * Measures and prints; never asserts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Outbox } from '../src-main/core/outbox';
import { startFakeDns } from '../test/helpers/fake-dns';
import { smallDraft, BENCH_NEGATIVE_TTL_S } from './lib/engine';
import { option, scratchDir } from './lib/measure';
import { freePortOn, sinkUnavailable, startSinks, startTlsSinks, type Sinks } from './lib/sink';

const MESSAGES = Number(option('messages', '1000'));
const DOMAINS = Number(option('domains', '1'));
const MODE = option('mode', 'tls') as 'plain' | 'tls';
const PROFILE = option('profile', '');
const ADDRS = MODE === 'plain' ? ['127.0.0.31', '127.0.0.32'] : ['127.0.0.41', '127.0.0.42'];

if (MODE === 'plain' && sinkUnavailable()) {
  console.log(`profile-delivery: ${sinkUnavailable()}`);
  process.exit(0);
}
const scratch = scratchDir('profile-delivery');
const names = [...Array(DOMAINS).keys()].map((i) => `mx.prof${i}.test`);
const f = (n: string) => path.join(scratch.dir, n);
const o = (a: string[]) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'pipe'] });
o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=profile CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
o(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('sink.key'), '-out', f('sink.csr'), '-subj', '/CN=sink.bench.test']);
fs.writeFileSync(f('sink.ext'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
o(['x509', '-req', '-in', f('sink.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '30', '-extfile', f('sink.ext'), '-out', f('sink.crt')]);
const ca = fs.readFileSync(f('ca.crt'), 'utf8');

const port = await freePortOn(ADDRS);
const dns = await startFakeDns({ negativeSoaTtl: BENCH_NEGATIVE_TTL_S });
for (let i = 0; i < DOMAINS; i++) {
  dns.add(`prof${i}.test`, 'MX', [{ preference: 10, exchange: `mx.prof${i}.test` }]);
  dns.add(`mx.prof${i}.test`, 'A', [ADDRS[i % ADDRS.length]!]);
}
const sinks: Sinks = MODE === 'plain' ? await startSinks(ADDRS, 1000, port) : await startTlsSinks(ADDRS, port, f('sink.crt'), f('sink.key'));
const open = () => new Outbox({ dataDir: f('data'), network: { dnsServers: [dns.address], smtpPort: port, ehloName: 'bench.outbox.test', extraCa: [ca] }, version: 'bench' });
try {
  const fill = open();
  for (let i = 0; i < MESSAGES; i++) {
    const d = smallDraft(i, DOMAINS);
    d.to = [`user${i}@prof${i % DOMAINS}.test`];
    const r = await fill.submit(d);
    if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
  }
  await fill.close();

  const core = open();
  const before = sinks.delivered();
  const inspector = PROFILE ? new Session() : null;
  if (inspector) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
    await inspector.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  core.queue.start();
  await core.queue.drain();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (inspector) {
    const { profile } = await inspector.post('Profiler.stop');
    fs.writeFileSync(PROFILE, JSON.stringify(profile));
    inspector.disconnect();
  }
  const attempts = core.store.db.prepare('SELECT count(*) AS n, sum(reused_session) AS reused, sum(tls_resumed) AS resumed FROM attempts').get() as { n: number; reused: number; resumed: number };
  await core.close();
  console.log(
    `profile-delivery mode=${MODE} domains=${DOMAINS} messages=${MESSAGES} wall_ms=${Math.round(ms)} msg_per_s=${((MESSAGES / ms) * 1000).toFixed(1)} ` +
      `cpu_ms=${Math.round((cpu.user + cpu.system) / 1000)} sink_counted=${sinks.delivered() - before} attempts=${attempts.n} reused=${attempts.reused} resumed=${attempts.resumed}`,
  );
} finally {
  await sinks.stop();
  await dns.close();
  scratch.cleanup();
}
