/**
 * A 40 MB attachment is composed and DKIM-signed by streaming: the process's resident memory
 * must not grow by anything near the message size (~54 MB after base64). Memory is sampled
 * while the build runs; only a generous bound is asserted, never a duration.
 *
 * Streamed chunks are garbage the moment they are written, but V8 collects the small objects
 * that own them lazily, so without help RSS swells with dead buffers and says nothing about
 * retention. The sampler therefore forces a GC on each tick: what stays is what is held — a
 * message buffered whole would survive every collection.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { afterAll, expect, it } from 'vitest';
import { buildMessage } from '../../../src-main/core/compose/build';
import { dkimDnsRecord, generateDkimKey } from '../../../src-main/core/compose/dkim-keys';
import { tmpDir } from '../../helpers/tmp';

const tmp = tmpDir('compose-large-');
afterAll(() => tmp.cleanup());

it('composes and signs a 40 MB attachment without holding it in memory', async () => {
  const att = path.join(tmp.dir, 'big.bin');
  const block = crypto.randomBytes(1024 * 1024);
  const fd = fs.openSync(att, 'w');
  for (let i = 0; i < 40; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);
  const key = generateDkimKey('rsa-sha256');
  const out = path.join(tmp.dir, 'big.eml');

  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // Warm up (module loading, allocator arenas) so the baseline is not the cold process.
  const small = path.join(tmp.dir, 'small.txt');
  fs.writeFileSync(small, 'x'.repeat(100_000));
  await buildMessage(
    { from: { address: 'me@example.org' }, to: ['you@example.com'], cc: [], bcc: [], subject: 'warm', text: 'x', attachments: [{ path: small }], tlsMode: 'default' },
    { date: new Date(), dkim: { domain: 'example.org', selector: 's1', algorithm: 'rsa-sha256', privateKeyPem: key.privateKeyPem } },
    path.join(tmp.dir, 'warm.eml'),
  );
  gc();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    gc();
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  let r;
  try {
    r = await buildMessage(
      { from: { address: 'me@example.org' }, to: ['you@example.com'], cc: [], bcc: [], subject: 'big', text: 'see attachment', attachments: [{ path: att }], tlsMode: 'default' },
      {
        date: new Date(),
        dkim: { domain: 'example.org', selector: 's1', algorithm: 'rsa-sha256', privateKeyPem: key.privateKeyPem },
        // ~54.7 MiB after base64: above the 50 MiB default, so raise the limit for this test.
        limits: { maxMessageBytes: 64 * 1024 * 1024 },
      },
      out,
    );
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  const growthMb = (peak - before) / 1024 / 1024;
  console.log(`40 MB attachment: message ${(r.size / 1024 / 1024).toFixed(1)} MB, RSS growth ${growthMb.toFixed(1)} MB`);

  expect(r.size).toBe(fs.statSync(out).size);
  expect(r.size).toBeGreaterThan(54 * 1024 * 1024); // base64 of 40 MiB plus line breaks
  expect(growthMb).toBeLessThan(30);

  // The signature covers the whole streamed body.
  const rec = dkimDnsRecord({ selector: 's1', domain: 'example.org', algorithm: 'rsa-sha256', publicKey: key.publicKeyBase64 });
  const res = await dkimVerify(fs.createReadStream(out), {
    resolver: async (n: string, t: string) => {
      if (t === 'TXT' && n === rec.name) return [[rec.value]];
      throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    },
  });
  expect(res.results[0]?.status.result).toBe('pass');
}, 300_000);
