/**
 * Real delivery through the renderer: the real engine, fake DNS pointing test domains at a
 * loopback smtp-server peer offering STARTTLS (self-signed: opportunistic TLS accepts it).
 * Compose → send → delivered; REQUIRETLS to a domain without it → failed with the plain-language
 * 5.7.30 explanation; the live probe turns the recipient's STARTTLS indicator on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createSelfSigned } from '../helpers/certs';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';

let env: Env;
let peer: SmtpPeer;
let cert: ReturnType<typeof createSelfSigned>;
/** What the (headless) "Attach files…" dialog returns. */
let picked: string[] = [];

beforeAll(async () => {
  cert = createSelfSigned({ names: ['mx.deliver.test'] });
  peer = await startSmtpPeer({ tls: { key: cert.keyPem, cert: cert.chainPem } });
  env = await startEnv('delivery', { smtpPort: peer.port }, undefined, { chooseFiles: () => picked });
  for (const d of ['deliver.test', 'norequire.test']) {
    env.dns.add(d, 'MX', [{ preference: 10, exchange: 'mx.deliver.test' }]);
  }
  env.dns.add('mx.deliver.test', 'A', ['127.0.0.1']);
  env.host.core.queue.start();
  await env.page.goto(env.host.url);
});

afterAll(async () => {
  await env?.close();
  await peer?.close();
  cert?.cleanup();
});

async function compose(to: string, subject: string) {
  const { page } = env;
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('From').fill('Me <me@client.test>');
  await page.getByLabel('To', { exact: true }).pressSequentially(to);
  await page.getByLabel('To', { exact: true }).press('Enter');
  await page.getByLabel('Subject').fill(subject);
  await page.getByLabel('Message text').fill('Hello over loopback.\n');
}

test('the live probe shows STARTTLS for the recipient; the message goes from queued to delivered', async () => {
  const { page } = env;
  await compose('bob@deliver.test', 'Loopback hello');
  // Self-signed certificate, no policy: encrypted, not verified — checked live.
  const chip = page.locator('[data-testid="tls-indicators"][data-domain="deliver.test"]');
  await expect.poll(() => chip.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('unverified');
  await chip.getByTestId('verdict').click();
  const ind = chip.locator('[data-indicator="starttls"]');
  expect(await ind.getAttribute('data-state')).toBe('yes');
  expect(await ind.innerText()).toContain('checked live');
  await screenshot(page, 'delivery-probe');
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const row = page.getByTestId('message-row').filter({ hasText: 'Loopback hello' });
  await expect.poll(() => row.locator('.status-delivered').count(), { timeout: 30_000 }).toBe(1);
  expect(peer.messages.some((m) => m.rcptTo.includes('bob@deliver.test') && m.secure)).toBe(true);
  await screenshot(page, 'delivery-delivered');
});

test('REQUIRETLS to a domain without support fails with the plain-language 5.7.30 explanation', async () => {
  const { page } = env;
  await compose('carl@norequire.test', 'Must be private');
  await page.getByRole('radio', { name: 'Require TLS (REQUIRETLS)' }).check();
  const chip = page.locator('[data-testid="tls-indicators"][data-domain="norequire.test"]');
  await expect.poll(() => chip.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('undeliverable');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  // The composer already knows: the confirmation says REQUIRETLS is impossible; send anyway.
  const confirm = page.getByTestId('confirm-send');
  await expect.poll(() => confirm.innerText(), { timeout: 20_000 }).toMatch(/REQUIRETLS is impossible/);
  await confirm.getByRole('button', { name: 'Send anyway' }).click();
  const row = page.getByTestId('message-row').filter({ hasText: 'Must be private' });
  await expect.poll(() => row.locator('.status-failed').count(), { timeout: 30_000 }).toBe(1);
  await row.getByRole('button', { name: /^Must be private/ }).click();
  await expect
    .poll(() => page.getByTestId('recipient-explanation').innerText(), { timeout: 10_000 })
    .toContain("don't support REQUIRETLS");
  await screenshot(page, 'delivery-requiretls-failed');
  expect(peer.messages.some((m) => m.rcptTo.includes('carl@norequire.test'))).toBe(false);
  expect(env.errors).toEqual([]);
});

test('an attachment chosen with "Attach files…" is listed with its size and delivered', async () => {
  const { page } = env;
  // The user's files live outside the app's data folder (whose files are never attachable).
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-e2e-home-'));
  const file = path.join(home, 'report-2026.pdf');
  fs.writeFileSync(file, Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(30_000, 0x41)]));
  picked = [file, path.join(home, 'missing.txt'), path.join(env.dataDir, 'outbox.sqlite3')];
  await compose('dana@deliver.test', 'With attachment');
  await page.getByRole('button', { name: 'Attach files…' }).click();
  const list = page.getByTestId('attachments');
  await expect.poll(() => list.innerText()).toContain('report-2026.pdf');
  expect(await list.innerText()).toMatch(/29\.\d KB|30\.\d KB|29 KB|30 KB/);
  expect(await list.innerText()).toContain('file not found');
  expect(await list.innerText()).toContain('belongs to the app');
  await screenshot(page, 'compose-attachment');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const row = page.getByTestId('message-row').filter({ hasText: 'With attachment' });
  await expect.poll(() => row.locator('.status-delivered').count(), { timeout: 30_000 }).toBe(1);
  const got = peer.messages.find((m) => m.rcptTo.includes('dana@deliver.test'))!;
  expect(got.body.toString()).toMatch(/filename="?report-2026\.pdf/);
  expect(env.errors).toEqual([]);
  fs.rmSync(home, { recursive: true, force: true });
});

test('the failure notice shows above the outbox and can be dismissed; a message saves as .eml', async () => {
  const { page } = env;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: /^Outbox/ }).click();
  const notices = page.getByTestId('notices');
  await expect.poll(() => notices.innerText(), { timeout: 10_000 }).toContain('carl@norequire.test');
  expect(await notices.innerText()).toContain('Not delivered');
  await screenshot(page, 'outbox-notices');
  await notices.getByRole('button', { name: 'Dismiss notice' }).first().click();
  await expect.poll(() => page.getByTestId('notices').count()).toBe(0);
  expect(env.host.core.store.listNotices(10, true)).toEqual([]);

  const row = page.getByTestId('message-row').filter({ hasText: 'Loopback hello' });
  await row.getByRole('button', { name: /^Loopback hello/ }).click();
  await page.getByRole('button', { name: 'Save as .eml…' }).click();
  await expect.poll(() => page.getByRole('status').filter({ hasText: 'Saved to' }).count()).toBe(1);
  const saved = fs.readdirSync(path.join(env.dataDir, 'exports')).find((f) => f.endsWith('.eml'))!;
  expect(fs.readFileSync(path.join(env.dataDir, 'exports', saved), 'utf8')).toMatch(/^Subject: Loopback hello/m);
  expect(env.errors).toEqual([]);
});
