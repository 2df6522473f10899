import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startHost, type Host } from '../host/host';
import { launchBrowser, screenshot, watchErrors } from './browser';

let host: Host;
let browser: Browser;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-e2e-shell-'));

beforeAll(async () => {
  host = await startHost({ dataDir });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await host?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the renderer loads through the headless host and shows the app shell', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  const errors = watchErrors(page);
  await page.goto(host.url);
  await expect.poll(() => page.getByRole('navigation', { name: 'Main' }).isVisible()).toBe(true);
  await expect.poll(() => page.getByRole('heading', { name: 'Outbox', exact: true }).isVisible()).toBe(true);
  // The shell asked the real core for app info and the (empty) outbox over the contract.
  await expect.poll(() => page.getByTestId('outbox-empty').isVisible()).toBe(true);
  await expect.poll(() => page.locator('.sidebar-footer').innerText()).toContain('vtest-host');
  await screenshot(page, 'shell-outbox');

  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  await page.getByLabel('EHLO name').fill('desk.example.org');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect.poll(() => page.getByRole('status').filter({ hasText: 'Saved' }).isVisible()).toBe(true);
  expect(host.core.store.getSettings().ehloName).toBe('desk.example.org');

  // A bad value is refused by main's validation and shown where it happened; nothing is stored.
  await page.getByLabel('EHLO name').fill('bad name with spaces');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect.poll(() => page.getByRole('alert').innerText()).toContain('EHLO name: must be a host name');
  expect(host.core.store.getSettings().ehloName).toBe('desk.example.org');
  await screenshot(page, 'shell-settings');
  expect(errors).toEqual([]);
});

test('native menu commands switch views and send from the composer', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  const errors = watchErrors(page);
  await page.goto(host.url);
  await expect.poll(() => page.getByRole('navigation', { name: 'Main' }).isVisible()).toBe(true);
  host.menuCommand('settings');
  await expect.poll(() => page.getByRole('heading', { name: 'Settings', exact: true }).isVisible()).toBe(true);
  host.menuCommand('logs');
  await expect.poll(() => page.getByRole('button', { name: 'Log', exact: true }).getAttribute('aria-current')).toBe('page');
  host.menuCommand('compose');
  await expect.poll(() => page.getByRole('heading', { name: 'New message' }).isVisible()).toBe(true);
  // "Send" with an empty draft is refused where it happened, and nothing is queued.
  host.menuCommand('send');
  await expect.poll(() => page.getByRole('alert').count()).toBeGreaterThan(0);
  expect(host.core.store.listMessages({}).total).toBe(0);
  expect(errors).toEqual([]);
});
