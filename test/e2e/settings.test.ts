/**
 * Settings: identities with DKIM — add, generate a key, show the TXT record to publish, and
 * "Check DNS" against the test DNS before and after the record is published; the dark theme.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';

let env: Env;

beforeAll(async () => {
  env = await startEnv('settings');
  await env.page.goto(env.host.url);
  await env.page.getByRole('button', { name: 'Settings', exact: true }).click();
});
afterAll(() => env?.close());

test('an identity gets a DKIM key, its TXT record, and a DNS check that turns green once published', async () => {
  const { page } = env;
  const add = page.getByRole('form', { name: 'Add identity' });
  await add.getByLabel('Address').fill('me@bücher.example');
  await add.getByLabel('Name').fill('Me Myself');
  await add.getByRole('button', { name: 'Add identity' }).click();
  const card = page.getByTestId('identity').filter({ hasText: 'me@bücher.example' });
  await expect.poll(() => card.count()).toBe(1);
  // A new identity has an RSA and an Ed25519 key at once (RFC 8463 dual signing): two records.
  await expect.poll(() => card.getByTestId('dkim-name').count()).toBe(2);

  await card.getByLabel('Selector').fill('desk');
  await card.getByRole('button', { name: 'Replace DKIM key' }).click();
  // Replacing asks first, naming the keys that are lost; "Keep it" would change nothing.
  const ask = page.getByTestId('confirm-dialog');
  await expect.poll(() => ask.innerText()).toMatch(/rsa-sha256, selector .*ed25519-sha256, selector .*cannot be recovered/s);
  await ask.getByRole('button', { name: 'Replace key' }).click();
  await expect
    .poll(() => card.getByTestId('dkim-name').allInnerTexts())
    .toEqual(['desk-rsa._domainkey.xn--bcher-kva.example', 'desk-ed25519._domainkey.xn--bcher-kva.example']);
  const values = await card.getByTestId('dkim-value').allInnerTexts();
  expect(values[0]).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+$/);
  expect(values[1]).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/=]+$/);
  // The private key never reaches the page.
  expect(await page.content()).not.toContain('PRIVATE KEY');

  await card.getByRole('button', { name: 'Check DNS' }).click();
  await expect.poll(() => card.getByTestId('dns-check').innerText()).toMatch(/not|no /i);
  const rsa = values[0]!;
  env.dns.add('desk-rsa._domainkey.xn--bcher-kva.example', 'TXT', [[rsa.slice(0, 250), rsa.slice(250)]]);
  env.dns.add('desk-ed25519._domainkey.xn--bcher-kva.example', 'TXT', [values[1]!]);
  await card.getByRole('button', { name: 'Check DNS' }).click();
  await expect.poll(() => card.getByTestId('dns-check').getAttribute('class')).toContain('ok');
  await screenshot(page, 'settings-identity-dkim');
  expect(env.errors).toEqual([]);
});

test('the dark theme follows the OS and can be forced in Settings', async () => {
  const { page } = env;
  await page.emulateMedia({ colorScheme: 'dark' });
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const dark = await bg();
  await page.emulateMedia({ colorScheme: 'light' });
  const light = await bg();
  expect(dark).not.toBe(light);
  await page.getByLabel('Theme').selectOption('dark');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect.poll(bg).toBe(dark);
  await page.getByRole('button', { name: 'Outbox', exact: true }).click();
  await screenshot(page, 'dark-outbox');
  expect(env.errors).toEqual([]);
});
