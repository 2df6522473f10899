/**
 * Issue 11 item 6: `npm run dev:host` (test/host/dev.ts) runs the real app without Electron.
 * Started as a user starts it (a child process, with --data-dir, --dns, --ca-file and the
 * CLI's other network options), it prints the URL, serves the built renderer (which runs in
 * Chromium against the real core), and its queue is running: a message submitted through the
 * host, as the renderer submits it, is delivered over STARTTLS to an SMTP peer on loopback and
 * verified with the CA given by --ca-file. Ctrl+C (SIGINT) stops it cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createTestCa, type TestCa } from '../helpers/certs';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer';
import { launchBrowser, watchErrors } from './browser';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let ca: TestCa;
let peer: SmtpPeer;
let dns: FakeDns;
let dataDir: string;
let child: ChildProcess;
let url: string;
let stdout = '';
let stderr = '';

beforeAll(async () => {
  ca = createTestCa();
  const leaf = ca.issue({ names: ['mx.dev.test'] });
  peer = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem } });
  dns = await startFakeDns();
  dns.add('dev.test', 'MX', [{ preference: 10, exchange: 'mx.dev.test' }]);
  dns.add('mx.dev.test', 'A', ['127.0.0.1']);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-dev-host-'));
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/host/dev.ts', '--data-dir', dataDir, '--dns', dns.address, '--ca-file', ca.certPath, '--smtp-port', String(peer.port), '--ehlo', 'dev.client.test'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev:host printed no URL; stderr: ${stderr}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      // Both lines: the URL, then the data folder and "the queue is running".
      const m = /Direct Outbox \(headless host\): (http:\/\/127\.0\.0\.1:\d+\/)\n.*the queue is running/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`dev:host exited with ${code}; stderr: ${stderr}`)));
  });
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
  await peer?.close();
  await dns?.close();
  ca?.cleanup();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** One call over the host's WebSocket, exactly as test/host/shim.js makes it for the renderer. */
async function call(channel: string, payload: unknown): Promise<{ ok: boolean; value?: any; error?: any }> {
  const ws = new WebSocket(`${url.replace('http:', 'ws:')}__host/ws`);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  try {
    return await new Promise((resolve) => {
      ws.once('message', (raw) => resolve(JSON.parse(raw.toString()).result));
      ws.send(JSON.stringify({ id: 1, channel, payload }));
    });
  } finally {
    ws.close();
  }
}

test('prints the URL and the data folder, and serves the built renderer with the strict CSP', async () => {
  expect(stdout).toContain(`data in ${dataDir}; the queue is running`);
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const html = await res.text();
  expect(html).toContain('<script src="/__host/shim.js"></script>');
  expect(html).toMatch(/default-src 'none'/);
  const script = /<script[^>]+src="\.?\/?(assets\/[^"]+\.js)"/.exec(html)?.[1];
  expect(script).toBeTruthy();
  expect((await fetch(new URL(script!, url))).status).toBe(200);
  expect((await fetch(new URL('../../package.json', url))).status).toBe(404);
});

test('the renderer runs in Chromium against the real core behind dev:host', async () => {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(url);
    await expect.poll(() => page.getByRole('button', { name: 'Settings', exact: true }).isVisible(), { timeout: 30_000 }).toBe(true);
    const info = await page.evaluate(() => (window as unknown as { outbox: { invoke(c: string, p: unknown): Promise<{ value: { dataDir: string } }> } }).outbox.invoke('app.info', {}));
    expect(info.value.dataDir).toBe(dataDir);
    expect(errors.filter((e) => !/readiness/i.test(e))).toEqual([]);
  } finally {
    await browser.close();
  }
});

test('the queue is running: a message submitted through the host is delivered over verified STARTTLS', async () => {
  const before = peer.messages.length;
  const sent = await call('outbox.send', { from: 'Dev <me@sender.test>', to: ['friend@dev.test'], subject: 'through dev:host', text: 'hello' });
  expect(sent).toMatchObject({ ok: true });
  const id = sent.value.messageId as string;
  await expect.poll(async () => (await call('outbox.get', { id })).value?.recipients[0]?.state, { timeout: 60_000, interval: 250 }).toBe('delivered');
  const got = peer.messages.slice(before);
  expect(got.map((m) => m.rcptTo)).toEqual([['friend@dev.test']]);
  expect(got[0]!.secure).toBe(true);
  expect(got[0]!.body.toString()).toContain('Subject: through dev:host');
  const detail = (await call('outbox.get', { id })).value;
  // --ca-file is the trust the certificate was checked against (it names mx.dev.test).
  expect(detail.attempts.at(-1)).toMatchObject({ host: 'mx.dev.test', starttls: true, verification: 'pkix' });
});

test('Ctrl+C stops the host and the queue cleanly (exit 0)', async () => {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(stderr).not.toMatch(/Error|unhandled/i);
});
