/**
 * One security verdict per recipient (shared/verdict.ts), end to end: the real core through
 * the headless host, a validating fake DNS (AD bit, TLSA), an MTA-STS HTTPS server and
 * in-process SMTP peers on loopback (the TLS-policy harness). Each verdict on its chip — DANE
 * verified, DANE mismatch, MTA-STS verified, not verified, unencrypted, null MX, no such domain,
 * REQUIRETLS impossible — its keyboard popover (Esc closes, focus returns), the confirmation
 * before sending (remove, require TLS, send anyway; empty subject asked once), and the same
 * words on the outbox rows after delivery.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Harness } from '../integration/tls-policy/harness';
import { screenshot } from './browser';
import { startWorld, type World } from './world';

let world: World;
let h: Harness;
let page: Page;
let errors: string[];

beforeAll(async () => {
  world = await startWorld();
  ({ h, page, errors } = world);
  await page.goto(world.host.url);
  await page.getByRole('button', { name: 'New message' }).click();
});

afterAll(async () => {
  await world?.close();
});

const chipFor = (domain: string) => page.locator(`[data-testid="tls-indicators"][data-domain="${domain}"]`);
const verdictOf = (domain: string) => chipFor(domain).getAttribute('data-verdict');

async function addRecipients(text: string) {
  const field = page.getByLabel('To', { exact: true });
  await field.fill(text);
  await field.press('Enter');
}

test('each recipient gets one verdict from the probe of its mail servers', async () => {
  await page.getByLabel('From').fill('Me <me@client.test>');
  await addRecipients('ann@dane.test, bob@badane.test, cat@sts.test, dan@opp.test, eve@plain.test, fay@nullmx.test, gus@nosuch.test');
  const want: Record<string, [string, string]> = {
    'dane.test': ['dane', 'Encrypted and verified (DANE)'],
    'badane.test': ['undeliverable', 'Will not be delivered: the server’s certificate does not match its DANE record'],
    'sts.test': ['mta-sts', 'Encrypted and verified (MTA-STS)'],
    'opp.test': ['unverified', 'Encrypted, not verified'],
    'plain.test': ['unencrypted', 'Will be sent unencrypted'],
    'nullmx.test': ['undeliverable', 'Will not be delivered: the domain does not accept mail (null MX)'],
    'nosuch.test': ['undeliverable', 'Will not be delivered: the domain does not exist'],
  };
  for (const [domain, [kind, label]] of Object.entries(want)) {
    await expect.poll(() => verdictOf(domain), { timeout: 20_000 }).toBe(kind);
    const badge = chipFor(domain).getByTestId('verdict');
    expect(await badge.getAttribute('title')).toBe(label);
    // An icon and a word, not colour alone.
    expect((await badge.innerText()).trim()).not.toBe('');
    expect(await badge.locator('svg').count()).toBe(1);
  }
  await screenshot(page, 'verdict-chips');
});

test('the popover is reached by keyboard, lists each server and what was found, and Esc closes it', async () => {
  const badge = chipFor('badane.test').getByTestId('verdict');
  await badge.focus();
  await page.keyboard.press('Enter');
  const pop = page.getByTestId('verdict-popover');
  await expect.poll(() => pop.isVisible()).toBe(true);
  const text = await pop.innerText();
  expect(text).toContain('mx.badane.test');
  expect(text).toContain('DANE: DNSSEC-signed TLSA record');
  expect(text).toMatch(/certificate not verified/);
  expect(text).toContain('Checked live');
  expect(await badge.getAttribute('aria-expanded')).toBe('true');
  await screenshot(page, 'verdict-popover');
  await page.keyboard.press('Escape');
  await expect.poll(() => pop.count()).toBe(0);
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('verdict');
  expect(await badge.getAttribute('aria-expanded')).toBe('false');
});

test('with REQUIRETLS chosen, hosts without DANE/MTA-STS or without the extension make it impossible', async () => {
  await page.getByRole('radio', { name: 'Require TLS (REQUIRETLS)' }).check();
  await expect.poll(() => verdictOf('opp.test')).toBe('undeliverable');
  expect(await chipFor('opp.test').getByTestId('verdict').getAttribute('title')).toMatch(/REQUIRETLS is impossible/);
  // dane.test is protected by DANE but smtp-server does not announce REQUIRETLS.
  expect(await chipFor('dane.test').getByTestId('verdict').getAttribute('title')).toMatch(/does not support REQUIRETLS/);
  await page.getByRole('radio', { name: 'Default (encrypt when possible)' }).check();
  await expect.poll(() => verdictOf('opp.test')).toBe('unverified');
});

test('sending asks first, naming unencrypted and undeliverable recipients; Remove fixes, Esc returns to the message', async () => {
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const dialog = page.getByTestId('confirm-send');
  await expect.poll(() => dialog.isVisible()).toBe(true);
  const rows = dialog.getByTestId('confirm-recipient');
  expect(await rows.count()).toBe(4);
  const text = await dialog.innerText();
  expect(text).toContain('bob@badane.test');
  expect(text).toContain('does not match its DANE record');
  expect(text).toContain('eve@plain.test');
  expect(text).toContain('The subject and the message text are empty.');
  expect(text).not.toContain('ann@dane.test');
  await screenshot(page, 'confirm-send');
  // Esc closes the dialog; nothing was sent.
  await page.keyboard.press('Escape');
  await expect.poll(() => dialog.isVisible()).toBe(false);
  expect(h.core.store.listMessages({}).total).toBe(0);

  await page.getByRole('button', { name: 'Send', exact: true }).click();
  for (const a of ['bob@badane.test', 'fay@nullmx.test', 'gus@nosuch.test']) await dialog.getByRole('button', { name: `Remove ${a}` }).click();
  await expect.poll(() => rows.count()).toBe(1);
  expect(await page.getByTestId('chip').count()).toBe(4);
});

test('"Send anyway" sends; the outbox rows say how each copy travelled, in the same words', async () => {
  const dialog = page.getByTestId('confirm-send');
  await dialog.getByRole('button', { name: 'Send anyway' }).click();
  await expect.poll(() => page.getByRole('heading', { name: 'Outbox', exact: true }).isVisible()).toBe(true);
  const [m] = h.core.store.listMessages({}).items;
  expect(m!.recipients.map((r) => r.address).sort()).toEqual(['ann@dane.test', 'cat@sts.test', 'dan@opp.test', 'eve@plain.test']);
  h.core.queue.start();
  const row = page.getByTestId('message-row');
  await expect.poll(() => row.getByTestId('status-summary').innerText(), { timeout: 30_000 }).toBe('4 delivered');
  const verdicts = await row.getByTestId('verdict').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
  // Problem-first order has nothing to lift here; three are shown, the fourth is "+1 more".
  expect(verdicts).toHaveLength(3);
  await row.getByRole('button', { name: /^\(no subject\)/ }).click();
  const cards = page.getByTestId('recipient-card');
  await expect.poll(() => cards.count()).toBe(4);
  const labels = await page.locator('[data-testid="recipient-card"] [data-testid="verdict"]').evaluateAll((els) => els.map((e) => e.getAttribute('title')));
  expect(labels.sort()).toEqual(['Encrypted and verified (DANE)', 'Encrypted and verified (MTA-STS)', 'Encrypted, not verified', 'Sent unencrypted']);
  await screenshot(page, 'verdict-detail');
  await h.core.queue.stop();
  expect(errors).toEqual([]);
});
