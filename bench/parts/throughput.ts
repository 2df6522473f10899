/**
 * Figure 1 — throughput: N messages (one recipient each) over 50 domains whose MX hosts are
 * Postfix smtp-sink instances on loopback addresses, from enqueue to all delivered; then
 * smtp-source sends the same count to the same sink with the same concurrency, for a ratio.
 *
 *   node --expose-gc --import tsx bench/parts/throughput.ts [--quick]
 */
import { performance } from 'node:perf_hooks';
import { benchDns, openEngine, smallDraft } from '../lib/engine';
import { args, emit, log, round, scratchDir } from '../lib/measure';
import { sinkUnavailable, smtpSource, startSinks } from '../lib/sink';

const { quick } = args();
const MESSAGES = quick ? 500 : 5000;
const DOMAINS = 50;
const ADDRESSES = ['127.0.0.31', '127.0.0.32', '127.0.0.33', '127.0.0.34', '127.0.0.35'];

const why = sinkUnavailable();
if (why) {
  emit({ skipped: why });
} else {
  const sinks = await startSinks(ADDRESSES);
  const dns = await benchDns(DOMAINS, ADDRESSES);
  const scratch = scratchDir('throughput');
  try {
    const core = openEngine(scratch.dir, dns, sinks.port);
    const settings = core.store.getSettings();
    log(`throughput: ${MESSAGES} messages over ${DOMAINS} domains → smtp-sink on ${ADDRESSES.join(', ')}:${sinks.port}; concurrency ${settings.concurrency}, per domain ${settings.perDomainConcurrency}`);

    // Enqueue everything first (compose, fsync'd .eml, commit), then run the queue: the two
    // phases are timed apart so the delivery rate compares with smtp-source's like for like.
    const t0 = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      const r = await core.submit(smallDraft(i, DOMAINS));
      if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
    }
    const t1 = performance.now();
    core.queue.start();
    await core.queue.drain();
    const t2 = performance.now();

    const states = core.store.db.prepare('SELECT state, count(*) AS n FROM recipients GROUP BY state').all() as { state: string; n: number }[];
    const avgSize = Math.round((core.store.db.prepare('SELECT avg(size) AS s FROM messages').get() as { s: number }).s);
    const delivered = states.find((s) => s.state === 'delivered')?.n ?? 0;
    await core.close();
    await new Promise((r) => setTimeout(r, 300)); // let the sinks' counters catch up
    const sinkCounted = sinks.delivered();

    const source = await smtpSource({ sessions: settings.concurrency, messages: MESSAGES, length: avgSize, target: `${ADDRESSES[0]}:${sinks.port}` });
    const oursRate = delivered / ((t2 - t1) / 1000);
    const sourceRate = MESSAGES / (source.ms / 1000);
    emit({
      messages: MESSAGES,
      domains: DOMAINS,
      concurrency: settings.concurrency,
      perDomain: settings.perDomainConcurrency,
      avgMessageBytes: avgSize,
      states: Object.fromEntries(states.map((s) => [s.state, s.n])),
      sinkCounted,
      enqueueSeconds: round((t1 - t0) / 1000, 2),
      deliverSeconds: round((t2 - t1) / 1000, 2),
      endToEndSeconds: round((t2 - t0) / 1000, 2),
      oursDeliverPerSecond: round(oursRate),
      oursEndToEndPerSecond: round(delivered / ((t2 - t0) / 1000)),
      smtpSourceSeconds: round(source.ms / 1000, 2),
      smtpSourcePerSecond: round(sourceRate),
      ratioDeliver: round(oursRate / sourceRate, 3),
      smtpSourceCommand: source.command.replace(String(sinks.port), 'PORT'),
    });
  } finally {
    await sinks.stop();
    await dns.close();
    scratch.cleanup();
  }
}
