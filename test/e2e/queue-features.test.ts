/**
 * The queue features in the renderer (issue 15), on the real core: a loopback smtp-server peer
 * refuses one address with 550 5.1.1. The failure's notice opens its DSN; the address lands on
 * the suppression list (Settings), and the composer's chip says so before sending; hold rules
 * and "Pause sending" hold mail and release it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';

let env: Env;
let peer: SmtpPeer;

beforeAll(async () => {
  peer = await startSmtpPeer({ rejectRcpt: { 'nobody@features.test': 550 } });
  env = await startEnv('features', { smtpPort: peer.port });
  env.dns.add('features.test', 'MX', [{ preference: 10, exchange: 'mx.features.test' }]);
  env.dns.add('mx.features.test', 'A', ['127.0.0.1']);
  env.host.core.queue.start();
  await env.page.goto(env.host.url);
});
afterAll(async () => {
  await env?.close();
  await peer?.close();
});

async function compose(to: string, subject: string) {
  const { page } = env;
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('From').fill('Me <me@client.test>');
  await page.getByLabel('To', { exact: true }).pressSequentially(to);
  await page.getByLabel('To', { exact: true }).press('Enter');
  await page.getByRole('textbox', { name: 'Subject' }).fill(subject);
  await page.getByLabel('Message text').fill('Hello.\n');
  // The peer offers no STARTTLS: once the probe has answered, sending asks first (issue 13).
  const chip = page.locator('[data-testid="tls-indicators"][data-domain="features.test"]').last();
  await expect.poll(() => chip.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('unencrypted');
}

/** Send, confirming "Will be sent unencrypted" with Send anyway. */
async function send() {
  const { page } = env;
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByTestId('confirm-send').getByRole('button', { name: 'Send anyway' }).click();
}

test('a 5.1.1 failure: its notice opens the DSN, which saves as .eml; the address is suppressed on the chip and in Settings', async () => {
  const { page } = env;
  await compose('nobody@features.test', 'Will bounce');
  await send();
  const notice = page.getByTestId('notices').locator('li').filter({ hasText: 'nobody@features.test' });
  await expect.poll(() => notice.count(), { timeout: 30_000 }).toBe(1);
  await notice.getByRole('button', { name: 'DSN' }).click();
  const viewer = page.getByTestId('dsn-viewer');
  await expect.poll(() => viewer.getByLabel('DSN source').inputValue()).toContain('Final-Recipient: rfc822; nobody@features.test');
  const raw = await viewer.getByLabel('DSN source').inputValue();
  expect(raw).toContain('Content-Type: multipart/report; report-type=delivery-status');
  expect(raw).toMatch(/Status: 5\.1\.1/);
  await screenshot(page, 'features-dsn');
  await viewer.getByRole('button', { name: 'Save as .eml' }).click();
  await expect.poll(() => viewer.getByRole('status').innerText()).toMatch(/Saved to .*delivery-status-.*\.eml/);
  const saved = (await viewer.getByRole('status').innerText()).replace(/^Saved to /, '');
  expect(fs.readFileSync(saved, 'utf8')).toContain('Action: failed');
  expect(path.dirname(saved)).toBe(path.join(env.dataDir, 'exports'));
  await viewer.getByRole('button', { name: 'Close' }).click();

  // The composer warns before sending again.
  await compose('nobody@features.test', 'Again');
  const chip = page.getByTestId('chip').filter({ hasText: 'nobody@features.test' });
  await expect.poll(() => chip.getByTestId('chip-suppressed').count()).toBe(1);
  expect(await chip.getAttribute('title')).toMatch(/suppression list/);
  await screenshot(page, 'features-chip-suppressed');

  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const list = page.getByTestId('suppression-list');
  await expect.poll(() => list.locator('li').filter({ hasText: 'nobody@features.test' }).count()).toBe(1);
  expect(await list.innerText()).toMatch(/automatic/);
  const add = page.getByRole('form', { name: 'Suppress an address' });
  await add.getByLabel('Address').fill('quiet@features.test');
  await add.getByLabel('Reason').fill('asked not to be mailed');
  await add.getByRole('button', { name: 'Suppress' }).click();
  await expect.poll(() => list.locator('li').filter({ hasText: 'asked not to be mailed' }).count()).toBe(1);
  await screenshot(page, 'features-suppression-list');
  await list.getByRole('button', { name: 'Remove nobody@features.test from the suppression list' }).click();
  await expect.poll(() => list.locator('li').filter({ hasText: 'nobody@features.test' }).count()).toBe(0);
  expect(env.host.core.features.suppressionOf('nobody@features.test')).toBeNull();
  expect(env.errors).toEqual([]);
});

test('Pause sending holds new mail across the outbox; Resume sends it; a hold rule in Settings holds and releases', async () => {
  const { page } = env;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: /^Outbox/ }).click();
  await page.getByTestId('pause-control').getByRole('button', { name: 'Pause sending' }).click();
  await expect.poll(() => page.getByTestId('pause-control').innerText()).toMatch(/Sending is paused/);
  await compose('paused@features.test', 'While paused');
  await send();
  const row = page.getByTestId('message-row').filter({ hasText: 'While paused' });
  await expect.poll(() => row.locator('.status-held').count(), { timeout: 20_000 }).toBeGreaterThan(0);
  await screenshot(page, 'features-paused');
  expect(peer.messages.some((m) => m.rcptTo.includes('paused@features.test'))).toBe(false);
  await page.getByTestId('pause-control').getByRole('button', { name: 'Resume sending' }).click();
  await expect.poll(() => row.locator('.status-delivered').count(), { timeout: 30_000 }).toBeGreaterThan(0);

  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const form = page.getByRole('form', { name: 'Add a hold rule' });
  await form.getByLabel('Recipient (address or domain)').fill('features.test');
  await form.getByRole('button', { name: 'Add rule' }).click();
  const rules = page.getByTestId('hold-rules');
  await expect.poll(() => rules.locator('li').filter({ hasText: 'features.test' }).count()).toBe(1);
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'features-hold-rules-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await compose('held@features.test', 'Held by rule');
  await send();
  const held = page.getByTestId('message-row').filter({ hasText: 'Held by rule' });
  await expect.poll(() => held.locator('.status-held').count(), { timeout: 20_000 }).toBeGreaterThan(0);
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const ruleId = env.host.core.features.listHoldRules()[0]!.id;
  await expect.poll(() => rules.locator('li').first().innerText()).toMatch(/holds 1/);
  await rules.getByRole('button', { name: `Remove hold rule ${ruleId}` }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: /^Outbox/ }).click();
  await expect.poll(() => held.locator('.status-delivered').count(), { timeout: 30_000 }).toBeGreaterThan(0);
  expect(env.errors).toEqual([]);
});

test('Settings: TLS reports are off by default and start when switched on; history days and DSN-to-sender are kept', async () => {
  const { page } = env;
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const tlsrpt = page.getByLabel('Send daily TLS reports (RFC 8460) to the domains that ask for them');
  expect(await tlsrpt.isChecked()).toBe(false);
  expect(env.host.core.tlsReports.running).toBe(false);
  await tlsrpt.check();
  await page.getByLabel('Send delivery status notifications (DSN) to my own address').check();
  await page.getByLabel('Keep history (days)').fill('30');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect.poll(() => env.host.core.store.getSettings()).toMatchObject({ tlsReports: true, dsnToSender: true, historyDays: 30 });
  expect(env.host.core.tlsReports.running).toBe(true);
  await screenshot(page, 'features-settings-reports');
  await tlsrpt.uncheck();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect.poll(() => env.host.core.tlsReports.running).toBe(false);
  expect(env.errors).toEqual([]);
});
