/**
 * One security verdict per recipient (shared/verdict.ts), end to end: the real core through
 * the headless host, a validating fake DNS (AD bit, TLSA), an MTA-STS HTTPS server and
 * in-process SMTP peers on loopback (the TLS-policy harness). Each verdict on its chip — DANE
 * verified, DANE mismatch, MTA-STS verified, not verified, unencrypted, null MX, no such domain,
 * REQUIRETLS impossible — its keyboard popover (Esc closes, focus returns), the confirmation
 * before sending (remove, require TLS, send anyway; empty subject asked once), and the same
 * words on the outbox rows after delivery.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestCa, type TestCa } from '../helpers/certs';
import { startHost, type Host } from '../host/host';
import { mx, plainPeer, startHarness, stsPolicy, tlsaData, tlsPeer, type Harness } from '../integration/tls-policy/harness';
import { launchBrowser, screenshot, watchErrors } from './browser';

let ca: TestCa;
let h: Harness;
let host: Host;
let browser: Browser;
let page: Page;
let errors: string[];
let exportsDir: string;

beforeAll(async () => {
  ca = createTestCa();
  h = await startHarness({ ca });
  // DANE, matching: the TLSA record pins the peer's key.
  const daneCert = ca.issue({ names: ['mx.dane.test'] });
  h.dns.add('dane.test', 'MX', [{ preference: 10, exchange: 'mx.dane.test' }], { ad: true });
  h.dns.add('mx.dane.test', 'A', ['127.0.1.1'], { ad: true });
  h.dns.add('_25._tcp.mx.dane.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: tlsaData(daneCert.certPem, 1, 1) }], { ad: true });
  h.routes.set('127.0.1.1', (await tlsPeer(h, daneCert)).port);
  // DANE, NOT matching: the same kind of record, for another key.
  h.dns.add('badane.test', 'MX', [{ preference: 10, exchange: 'mx.badane.test' }], { ad: true });
  h.dns.add('mx.badane.test', 'A', ['127.0.1.2'], { ad: true });
  h.dns.add('_25._tcp.mx.badane.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 7) }], { ad: true });
  h.routes.set('127.0.1.2', (await tlsPeer(h, ca.issue({ names: ['mx.badane.test'] }))).port);
  // MTA-STS enforce with a valid certificate.
  mx(h.dns, 'sts.test', [[10, 'mx.sts.test', '127.0.1.3']]);
  stsPolicy(h, 'sts.test', { id: 's1', mode: 'enforce', mx: ['mx.sts.test'] });
  h.routes.set('127.0.1.3', (await tlsPeer(h, ca.issue({ names: ['mx.sts.test'] }))).port);
  // Opportunistic STARTTLS, no policy.
  mx(h.dns, 'opp.test', [[10, 'mx.opp.test', '127.0.1.4']]);
  h.routes.set('127.0.1.4', (await tlsPeer(h, ca.issue({ names: ['mx.opp.test'] }))).port);
  // No STARTTLS at all.
  mx(h.dns, 'plain.test', [[10, 'mx.plain.test', '127.0.1.5']]);
  h.routes.set('127.0.1.5', (await plainPeer(h)).port);
  // RFC 7505 null MX; nosuch.test has no records at all (NXDOMAIN).
  h.dns.add('nullmx.test', 'MX', [{ preference: 0, exchange: '' }]);

  exportsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-e2e-verdict-'));
  host = await startHost({ dataDir: exportsDir, core: h.core });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  errors = watchErrors(page);
  await page.goto(host.url);
  await page.getByRole('button', { name: 'New message' }).click();
});

afterAll(async () => {
  await browser?.close().catch(() => {});
  await host?.close();
  await h?.close();
  ca?.cleanup();
  if (exportsDir) fs.rmSync(exportsDir, { recursive: true, force: true });
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
