/**
 * Safe actions (issue 13 §3): Discard really discards — the saved draft is deleted — and an
 * Undo toast brings the message back; deleting a draft from the list likewise; the Undo is
 * reachable by keyboard. Delete identity asks first, naming the DKIM keys that are lost.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startEnv, type Env } from './env';

let env: Env;

beforeAll(async () => {
  env = await startEnv('safe-actions');
  await env.page.goto(env.host.url);
});
afterAll(() => env?.close());

test('Discard deletes the saved draft; Undo in the toast brings the message back', async () => {
  const { page, host } = env;
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('From').fill('Me <me@client.test>');
  await page.getByLabel('To', { exact: true }).fill('ann@example.test');
  await page.getByLabel('To', { exact: true }).press('Enter');
  await page.getByRole('textbox', { name: 'Subject' }).fill('Second thoughts');
  await page.getByLabel('Message text').fill('Maybe not.\n');
  await expect.poll(() => host.core.store.listDrafts().map((d) => d.subject)).toEqual(['Second thoughts']);

  await page.getByRole('button', { name: 'Discard' }).click();
  await expect.poll(() => host.core.store.listDrafts().length).toBe(0);
  expect(await page.getByRole('textbox', { name: 'Subject' }).inputValue()).toBe('');
  expect(await page.getByTestId('chip').count()).toBe(0);
  const toast = page.getByTestId('toast');
  await expect.poll(() => toast.innerText()).toContain('Message discarded.');
  // Keyboard: the toast's Undo is a button in the tab order.
  await toast.getByRole('button', { name: 'Undo' }).focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByRole('textbox', { name: 'Subject' }).inputValue()).toBe('Second thoughts');
  expect(await page.getByLabel('Message text').inputValue()).toBe('Maybe not.\n');
  await expect.poll(() => page.getByTestId('chip').innerText()).toContain('ann@example.test');
  await expect.poll(() => host.core.store.listDrafts().map((d) => d.subject)).toEqual(['Second thoughts']);
});

test('deleting a draft from the list offers Undo too', async () => {
  const { page, host } = env;
  await page.getByRole('button', { name: 'Delete draft Second thoughts' }).click();
  await expect.poll(() => host.core.store.listDrafts().length).toBe(0);
  await page.getByTestId('toast').filter({ hasText: 'deleted' }).getByRole('button', { name: 'Undo' }).click();
  await expect.poll(() => host.core.store.listDrafts().map((d) => d.subject)).toEqual(['Second thoughts']);
  expect(env.errors).toEqual([]);
});

test('Delete identity asks first, naming the DKIM keys that are lost; Keep it keeps it', async () => {
  const { page, host } = env;
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const add = page.getByRole('form', { name: 'Add identity' });
  await add.getByLabel('Address').fill('me@client.test');
  await add.getByRole('button', { name: 'Add identity' }).click();
  const card = page.getByTestId('identity').filter({ hasText: 'me@client.test' });
  await expect.poll(() => card.getByTestId('dkim-name').count()).toBe(2);
  await card.getByRole('button', { name: 'Delete identity me@client.test' }).click();
  const ask = page.getByTestId('confirm-dialog');
  await expect.poll(() => ask.innerText()).toMatch(/DKIM private keys \(rsa-sha256, selector .*ed25519-sha256, selector .*cannot be recovered/s);
  await page.keyboard.press('Escape');
  await expect.poll(() => ask.isVisible()).toBe(false);
  expect(host.core.store.listIdentities().length).toBe(1);
  await card.getByRole('button', { name: 'Delete identity me@client.test' }).click();
  await ask.getByRole('button', { name: 'Delete identity' }).click();
  await expect.poll(() => host.core.store.listIdentities().length).toBe(0);
  expect(env.errors).toEqual([]);
});
