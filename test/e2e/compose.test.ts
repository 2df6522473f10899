/**
 * The composer against the real core: recipient chips and validation, IDN in Unicode, TLS
 * indicators from stored hints, the REQUIRETLS proposal and warning, field errors from a
 * refused send, automatic drafts, and a successful send with Ctrl+Enter. No delivery runs.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';

let env: Env;

beforeAll(async () => {
  env = await startEnv('compose');
  const seenAt = Date.now() - 3 * 3600_000;
  env.host.core.store.upsertDomainTls({ domain: 'secure.test', starttls: true, requiretls: true, mtaStsMode: 'enforce', dane: true, seenAt });
  env.host.core.store.upsertDomainTls({ domain: 'plain.test', starttls: true, requiretls: false, mtaStsMode: null, dane: false, seenAt });
  await env.page.goto(env.host.url);
  await env.page.getByRole('button', { name: 'New message' }).click();
});

afterAll(async () => {
  await env?.close();
});

const to = () => env.page.getByTestId('recipients-to');
const chips = () => to().getByTestId('chip');

test('pasting many addresses makes validated chips, with IDN domains shown in Unicode', async () => {
  const { page } = env;
  await page.getByLabel('To', { exact: true }).focus();
  // Paste as the OS would: a clipboard event with several separators, a quoted comma and an IDN.
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.setData('text/plain', 'ann@example.test, not an address; "Doe, Jane" <jane@xn--bcher-kva.test>\nzed@example.test');
    document.activeElement!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  });
  await expect.poll(() => chips().count()).toBe(4);
  await expect.poll(() => to().locator('.chip.bad').count()).toBe(1);
  await expect.poll(() => to().locator('.chip.bad').innerText()).toContain('not an address');
  await expect.poll(() => chips().nth(2).innerText()).toContain('jane@bücher.test');
  await expect.poll(() => chips().nth(2).innerText()).toContain('Doe, Jane');

  // Backspace in the empty field removes the last chip; the × button removes a given one.
  await page.getByLabel('To', { exact: true }).press('Backspace');
  await expect.poll(() => chips().count()).toBe(3);
  await page.getByRole('button', { name: 'Remove not an address' }).click();
  await expect.poll(() => chips().count()).toBe(2);
  await screenshot(page, 'compose-chips');
});

test('an address being typed is validated before it becomes a chip', async () => {
  const { page } = env;
  const field = page.getByLabel('To', { exact: true });
  await field.pressSequentially('bob@exa mple');
  await expect.poll(() => page.locator('#rcpt-to-msg .error').isVisible()).toBe(true);
  await expect.poll(() => field.getAttribute('aria-invalid')).toBe('true');
  await field.fill('');
  await field.pressSequentially('bob@example.test,');
  await expect.poll(() => chips().count()).toBe(3);
  await expect.poll(() => field.inputValue()).toBe('');
});

test('TLS indicators come from stored hints at once, with what they mean and when they were seen', async () => {
  const { page } = env;
  const field = page.getByLabel('To', { exact: true });
  await field.fill('');
  // Start from a clean recipient list.
  while ((await chips().count()) > 0) await field.press('Backspace');
  await field.pressSequentially('carol@secure.test');
  await field.press('Enter');
  const inds = page.locator('[data-testid="tls-indicators"][data-domain="secure.test"]');
  // The chip's verdict opens a popover with the domain's facts, each saying when it was seen.
  await inds.getByTestId('verdict').click();
  await expect.poll(() => inds.locator('[data-indicator="starttls"]').getAttribute('data-state')).toBe('yes');
  await expect.poll(() => inds.locator('[data-indicator="requiretls"]').getAttribute('data-state')).toBe('yes');
  await expect.poll(() => inds.locator('[data-indicator="mtasts"]').getAttribute('data-state')).toBe('yes');
  await expect.poll(() => inds.locator('[data-indicator="dane"]').getAttribute('data-state')).toBe('yes');
  expect(await inds.locator('[data-indicator="starttls"]').innerText()).toContain('last seen during delivery 3 h ago');
  expect(await inds.locator('[data-indicator="dane"]').getAttribute('title')).toContain('DNSSEC');
  await page.keyboard.press('Escape');

  // Every recipient domain supports REQUIRETLS: it is proposed (pre-selected, changeable).
  const require = page.getByRole('radio', { name: 'Require TLS (REQUIRETLS)' });
  await expect.poll(() => require.isChecked()).toBe(true);
  await expect.poll(() => page.getByText('Proposed: every recipient').isVisible()).toBe(true);
  await screenshot(page, 'compose-requiretls-proposed');

  // A domain without support withdraws the proposal…
  await field.pressSequentially('dave@plain.test');
  await field.press('Enter');
  await expect.poll(() => page.getByRole('radio', { name: 'Default (encrypt when possible)' }).isChecked()).toBe(true);
  const plain = page.locator('[data-testid="tls-indicators"][data-domain="plain.test"]');
  await plain.getByTestId('verdict').click();
  await expect.poll(() => plain.locator('[data-indicator="requiretls"]').getAttribute('data-state')).toBe('no');
  await page.keyboard.press('Escape');

  // …and choosing Require TLS anyway names the recipients it would fail for.
  await require.check();
  const warning = page.getByTestId('requiretls-warning');
  await expect.poll(() => warning.innerText()).toContain('dave@plain.test');
  expect(await warning.innerText()).not.toContain('carol@secure.test');
  await screenshot(page, 'compose-requiretls-warning');
});

test('a refused send shows each problem next to its field; drafts are saved automatically', async () => {
  const { page, host } = env;
  await page.getByRole('textbox', { name: 'Subject' }).fill('Quarterly numbers');
  await page.getByLabel('Message text').fill('Hello,\n\nthe numbers are attached.\n');
  // The draft is saved a moment after the last change, and listed.
  await expect.poll(() => host.core.store.listDrafts().map((d) => d.subject)).toEqual(['Quarterly numbers']);
  await expect.poll(() => page.getByRole('complementary').getByText('Quarterly numbers').isVisible()).toBe(true);

  // No From and no identity: main refuses with a field error placed under From.
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect.poll(() => page.locator('#from-msg .error').innerText()).not.toBe('');
  await expect.poll(() => page.getByLabel('From').getAttribute('aria-invalid')).toBe('true');
  await expect.poll(() => page.getByTestId('compose-error').isVisible()).toBe(true);
  await screenshot(page, 'compose-field-errors');
  expect(host.core.store.listMessages({}).total).toBe(0);
});

test('Ctrl+Enter sends: the message is queued, the draft removed, the outbox shows it', async () => {
  const { page, host } = env;
  await page.getByLabel('From').fill('Me <me@client.test>');
  await page.getByRole('radio', { name: 'Default (encrypt when possible)' }).check();
  await page.getByLabel('Message text').press('Control+Enter');
  // The fake DNS knows neither domain (NXDOMAIN): the confirmation names both; send anyway.
  const confirm = page.getByTestId('confirm-send');
  await expect.poll(() => confirm.isVisible()).toBe(true);
  expect(await confirm.getByTestId('confirm-recipient').count()).toBe(2);
  await confirm.getByRole('button', { name: 'Send anyway' }).click();
  await expect.poll(() => page.getByRole('heading', { name: 'Outbox', exact: true }).isVisible()).toBe(true);
  await expect.poll(() => page.getByTestId('message-row').count()).toBe(1);
  expect(await page.getByTestId('message-row').innerText()).toContain('Quarterly numbers');
  const { items } = host.core.store.listMessages({});
  expect(items[0]!.recipients.map((r) => r.address).sort()).toEqual(['carol@secure.test', 'dave@plain.test']);
  expect(items[0]!.tlsMode).toBe('default');
  await expect.poll(() => host.core.store.listDrafts().length).toBe(0);
  await screenshot(page, 'compose-sent-outbox');

  // Filtering by recipient domain.
  await page.getByLabel('Filter by recipient domain').fill('plain.test');
  await expect.poll(() => page.getByTestId('outbox-summary').innerText()).toContain('1 message match');
  await page.getByLabel('Filter by recipient domain').fill('elsewhere.test');
  await expect.poll(() => page.getByTestId('outbox-empty').innerText()).toContain('No message matches');
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await expect.poll(() => page.getByTestId('message-row').count()).toBe(1);
  expect(await page.getByLabel('Filter by recipient domain').inputValue()).toBe('');
  // The sidebar badge counts unsent messages only.
  expect(await page.getByTestId('unsent-badge').innerText()).toBe('1');
  expect(env.errors).toEqual([]);
});
