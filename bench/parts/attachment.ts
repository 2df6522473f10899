/**
 * Figure 4 — peak memory while sending a big attachment: compose (base64 into a durable .eml),
 * queue and deliver one message with a 50 MB attachment to smtp-sink on loopback. RSS is
 * sampled every 50 ms; the figure is peak minus the baseline taken (after a forced GC) with
 * the engine, DNS and sink already up. Streaming end to end keeps it far below the size.
 *
 *   node --expose-gc --import tsx bench/parts/attachment.ts [--quick]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchDns, domainName, openEngine } from '../lib/engine';
import { args, emit, forceGc, log, MiB, round, RssSampler, rssMiB, scratchDir } from '../lib/measure';
import { sinkUnavailable, startSinks } from '../lib/sink';

const { quick } = args();
const SIZE_MIB = quick ? 10 : 50;

const why = sinkUnavailable();
if (why) {
  emit({ skipped: why });
} else {
  const sinks = await startSinks(['127.0.0.31']);
  const dns = await benchDns(1, ['127.0.0.31']);
  const scratch = scratchDir('attachment');
  try {
    // Random bytes (incompressible), written in 1 MiB pieces so making the file costs no memory.
    const file = path.join(scratch.dir, 'big.bin');
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < SIZE_MIB; i++) fs.writeSync(fd, crypto.randomBytes(MiB));
    fs.closeSync(fd);

    const core = openEngine(path.join(scratch.dir, 'data'), dns, sinks.port);
    core.store.setSettings({ maxMessageBytes: 4 * SIZE_MIB * MiB });
    await new Promise((r) => setTimeout(r, 200));
    const gc = forceGc();
    const baseline = rssMiB();

    const composeSampler = new RssSampler(50);
    const t0 = performance.now();
    const r = await core.submit({
      from: 'bench@outbox.test',
      to: [`big@${domainName(0)}`],
      cc: [],
      bcc: [],
      subject: 'big attachment',
      text: 'see attached\n',
      attachments: [{ path: file, filename: 'big.bin', contentType: 'application/octet-stream' }],
      tlsMode: 'default',
    });
    if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
    const t1 = performance.now();
    const compose = composeSampler.stop();

    const deliverSampler = new RssSampler(50);
    core.queue.start();
    await core.queue.drain();
    const t2 = performance.now();
    const deliver = deliverSampler.stop();

    const m = core.store.getMessage(r.messageId)!;
    await core.close();
    await new Promise((res) => setTimeout(res, 300));
    log(`attachment: ${SIZE_MIB} MiB attachment, message ${round(m.size / MiB)} MiB, ${m.recipients[0]!.state}`);
    emit({
      attachmentMiB: SIZE_MIB,
      messageMiB: round(m.size / MiB),
      state: m.recipients[0]!.state,
      sinkCounted: sinks.delivered(),
      baselineRssMiB: round(baseline),
      peakComposeMiB: round(compose.peakMiB - baseline),
      peakDeliverMiB: round(deliver.peakMiB - baseline),
      peakOverBaselineMiB: round(Math.max(compose.peakMiB, deliver.peakMiB) - baseline),
      composeSeconds: round((t1 - t0) / 1000, 2),
      deliverSeconds: round((t2 - t1) / 1000, 2),
      samples: compose.samples + deliver.samples,
      forcedGc: gc,
    });
  } finally {
    await sinks.stop();
    await dns.close();
    scratch.cleanup();
  }
}
