/**
 * What the core raises about the whole app, shown above every view: a stored setting it ignored
 * at start-up (issue 11 §2: the app starts with the default and says what was ignored) and the
 * queue pausing itself on a full disk and resuming (issue 10 item 6), both through the headless
 * host against the real core. The full disk is SQLite's SQLITE_FULL at the claim, injected into
 * the core's own connection (test/helpers/disk-full.ts), as the queue's unit tests do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { LocalDraft } from '../../shared/domain';
import { Store } from '../../src-main/core/store/store';
import { injectDiskFull } from '../helpers/disk-full';
import { startFakeDns } from '../helpers/fake-dns';
import { startHost } from '../host/host';
import { fileURLToPath } from 'node:url';
import { launchBrowser, screenshotDir, watchErrors } from './browser';
import { startEnv } from './env';

// DOCS_SCREENSHOTS=1 writes them to docs/screenshots/ for the README, as a11y.test.ts does.
const outDir = process.env.DOCS_SCREENSHOTS ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots') : screenshotDir;
async function screenshot(page: Page, name: string) {
  fs.mkdirSync(outDir, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.waitForTimeout(100);
  await page.screenshot({ path: path.join(outDir, `${name}-1280x800.png`) });
}

async function noSeriousAxe(page: Page) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  expect(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
}

test('a bad stored setting: the app starts, and a banner says which setting was ignored and that its default is used', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-e2e-notices-'));
  const dns = await startFakeDns();
  // Written behind the schema's back, as an older version or a hand edit would.
  const seeded = Store.open(dataDir);
  seeded.db.prepare("INSERT INTO settings (key, value) VALUES ('dnsServers', '[\"127.0.0.1#5353\"]')").run();
  seeded.close();
  const host = await startHost({ dataDir, network: { dnsServers: [dns.address], ehloName: 'client.test' } });
  const browser = await launchBrowser();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    const errors = watchErrors(page);
    await page.goto(host.url);
    const banner = page.getByTestId('startup-notices');
    await expect.poll(() => banner.isVisible()).toBe(true);
    expect(await banner.getByRole('heading').innerText()).toBe('A stored setting was ignored');
    const text = await banner.getByTestId('startup-notice').innerText();
    expect(text).toContain('"dnsServers"');
    expect(text).toContain('127.0.0.1#5353');
    expect(text).toMatch(/default is used/);
    await noSeriousAxe(page);
    for (const theme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: theme });
      await screenshot(page, `startup-notice-${theme}`);
    }
    // It names a fix: Settings opens (the banner stays until dismissed); Dismiss removes it.
    await banner.getByRole('button', { name: 'Open Settings' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Settings', exact: true }).isVisible()).toBe(true);
    await banner.getByRole('button', { name: 'Dismiss' }).click();
    await expect.poll(() => banner.count()).toBe(0);
    expect(errors).toEqual([]);
  } finally {
    await browser.close().catch(() => {});
    await host.close();
    await dns.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('disk full: an alert says sending is paused while the queue cannot record; it goes when sending resumes', async () => {
  const env = await startEnv('queue-state');
  try {
    const { page, host } = env;
    await page.goto(host.url);
    await expect.poll(() => page.getByRole('heading', { name: 'Outbox', exact: true }).isVisible()).toBe(true);
    expect(await page.getByTestId('queue-paused').count()).toBe(0);
    // No server answers for far.test: the claim is all that matters here.
    const full = injectDiskFull(host.core.store.db);
    full.on(/UPDATE recipients SET state = 'sending'/);
    host.core.queue.start();
    await host.core.submit(LocalDraft.parse({ from: 'me@client.test', to: ['someone@far.test'], subject: 'waits for space', text: 'hi' }));
    host.core.queue.pump();
    const paused = page.getByTestId('queue-paused');
    await expect.poll(() => paused.isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await paused.innerText()).toContain('disk full: sending paused');
    // An alert: announced at once by screen readers.
    expect(await paused.evaluate((el) => el.closest('[role="alert"]') !== null)).toBe(true);
    expect(full.hits).toBeGreaterThan(0);
    await noSeriousAxe(page);
    for (const theme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: theme });
      await screenshot(page, `queue-paused-${theme}`);
    }
    // A page opened while paused learns it from app.info, not only from the event.
    await page.reload();
    await expect.poll(() => page.getByTestId('queue-paused').isVisible(), { timeout: 20_000 }).toBe(true);
    full.off();
    // The queue's own probe finds the disk writable again and resumes.
    await expect.poll(() => host.core.queue.paused, { timeout: 30_000 }).toBe(false);
    await expect.poll(() => page.getByTestId('queue-paused').count(), { timeout: 20_000 }).toBe(0);
    const resumed = page.getByTestId('queue-resumed');
    await expect.poll(() => resumed.isVisible()).toBe(true);
    await resumed.getByRole('button', { name: 'Dismiss' }).click();
    await expect.poll(() => resumed.count()).toBe(0);
    await host.core.queue.stop();
    expect(env.errors).toEqual([]);
  } finally {
    await env.close();
  }
});
