/**
 * Issue "Compose and sender identity", acceptance: a message with a 40 MB attachment is
 * composed and handed to delivery with the process's memory growing by far less than the
 * attachment. The core runs in a child process (the CLI, as the app's main process would run
 * it); its peak RSS (VmHWM) is read from /proc and compared with sending a tiny message.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { serveBasic, startScriptedPeer, type ScriptedPeer } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let dns: FakeDns;
let peer: ScriptedPeer;
let dir: string;
let cleanup: () => void;
const received: number[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = tmpDir('outbox-mem-'));
  dns = await startFakeDns();
  dns.add('big.test', 'MX', [{ preference: 10, exchange: 'mx.big.test' }]);
  dns.add('mx.big.test', 'A', ['127.0.0.1']);
  peer = await startScriptedPeer((c) => serveBasic(c, { ehlo: ['PIPELINING', '8BITMIME', 'SIZE 104857600'], onData: (b) => received.push(b.length) }));
});
afterAll(async () => {
  await peer.close();
  await dns.close();
  cleanup();
});

/** Runs `outbox send --wait` and returns its exit code and peak resident memory in bytes. */
async function sendMeasured(args: string[]): Promise<{ code: number; peak: number; stderr: string }> {
  // The JS heap is capped below the attachment's size: a process that held the attachment (or
  // its 54 MB base64 form) in memory could not finish at all. The small young generation and
  // the cap also make V8 collect dead stream chunks promptly, so the RSS peak shows memory
  // actually held rather than garbage not yet collected (same flags for both runs).
  const child = spawn(process.execPath, ['--max-old-space-size=32', '--max-semi-space-size=1', path.join(root, 'bin/outbox.mjs'), 'send', ...args], { cwd: root });
  let peak = 0;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setInterval(() => {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
    } catch {
      // the process has exited
    }
  }, 20);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  clearInterval(timer);
  return { code, peak, stderr };
}

describe.skipIf(process.platform !== 'linux')('memory', () => {
  test('a 40 MB attachment is composed, queued and delivered with memory growing far less than 40 MB', async () => {
    const attachment = path.join(dir, 'big.bin');
    fs.writeFileSync(attachment, Buffer.alloc(40 * 1024 * 1024, 7));
    const common = ['--data-dir', dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--from', 'me@sender.test', '--to', 'you@big.test', '--wait', '240'];
    // The 50 MiB default limit counts the base64 size (~54 MB for 40 MB): raise it for this send.
    const setup = spawn(process.execPath, ['--import', 'tsx', '-e', `
      const { Store } = await import(${JSON.stringify(path.join(root, 'src-main/core/store/store.ts'))});
      const s = Store.open(${JSON.stringify(dir)}); s.setSettings({ maxMessageBytes: 64 * 1024 * 1024 }); s.close();`], { cwd: root, stdio: 'inherit' });
    await new Promise((r) => setup.on('close', r));

    const small = await sendMeasured([...common, '--subject', 'small']);
    expect(small.code).toBe(0);
    const big = await sendMeasured([...common, '--subject', 'big', '--attach', attachment]);
    expect(big.stderr).toBe('');
    expect(big.code).toBe(0);
    expect(received.at(-1)!).toBeGreaterThan(54 * 1024 * 1024); // base64 of 40 MB arrived
    const growth = big.peak - small.peak;
    console.log(`peak RSS: small message ${(small.peak / 2 ** 20).toFixed(1)} MiB, 40 MB attachment ${(big.peak / 2 ** 20).toFixed(1)} MiB, growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(10 * 1024 * 1024);
  }, 420_000);
});
