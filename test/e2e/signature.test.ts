/**
 * Signatures per identity, edited in Settings (issue 13 item 5) against the real core through
 * the headless host: the editor refuses what the contract refuses (length, control and bidi
 * characters; shared/compose-body.ts SignatureText) with the reason, says "Saved"; compose
 * picks the new signature up — a message already being written keeps its text and gets the
 * new signature in place of the old one — switching From swaps it, and the peer's stored
 * message carries it. Screenshots of the editor light/dark at 1280x800 and 900x700
 * (DOCS_SCREENSHOTS=1 writes them to docs/screenshots/).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createIdentity } from '../../src-main/core/identities';
import { createSelfSigned } from '../helpers/certs';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer';
import { screenshotDir } from './browser';
import { startEnv, type Env } from './env';

const docsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const outDir = process.env.DOCS_SCREENSHOTS ? docsDir : screenshotDir;

let env: Env;
let peer: SmtpPeer;
let cert: ReturnType<typeof createSelfSigned>;
let annaId: number;

beforeAll(async () => {
  cert = createSelfSigned({ names: ['mx.sig.test'] });
  peer = await startSmtpPeer({ tls: { key: cert.keyPem, cert: cert.chainPem } });
  env = await startEnv('signature', { smtpPort: peer.port }, { width: 1280, height: 800 });
  env.dns.add('sig.test', 'MX', [{ preference: 10, exchange: 'mx.sig.test' }]);
  env.dns.add('mx.sig.test', 'A', ['127.0.0.1']);
  const { core } = env.host;
  const now = Date.now();
  annaId = createIdentity(core.store, now, { address: 'anna@sig.test', displayName: 'Anna Sender', algorithms: [], signature: 'Anna\nOld Ltd' }).id;
  createIdentity(core.store, now, { address: 'bob@sig.test', displayName: 'Bob Other', algorithms: [], signature: 'Bob' });
  core.store.upsertDomainTls({ domain: 'sig.test', starttls: true, requiretls: false, mtaStsMode: null, dane: false, seenAt: now });
  core.queue.start();
  await env.page.goto(env.host.url);
});

afterAll(async () => {
  await env?.close();
  await peer?.close();
  cert?.cleanup();
});

const nav = (name: string) => env.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: new RegExp(`^${name}`) });
const body = () => env.page.getByLabel('Message text');

test('a signature edited in Settings is refused with the reason when unsafe, saved, picked up by compose, swapped with From and delivered', async () => {
  const { page, host } = env;
  // A message being written, with the old signature.
  await page.getByRole('button', { name: 'New message' }).click();
  await expect.poll(() => body().inputValue()).toBe('\n\n-- \nAnna\nOld Ltd');
  await body().focus();
  await page.keyboard.press('Control+Home');
  await page.keyboard.type('Hello Sig,');

  await nav('Settings').click();
  const card = page.getByTestId('identity').filter({ hasText: 'anna@sig.test' });
  const field = card.getByRole('textbox', { name: 'Signature' });
  await expect.poll(() => field.inputValue()).toBe('Anna\nOld Ltd');
  const save = card.getByRole('button', { name: 'Save signature' });
  // Unchanged: nothing to save.
  expect(await save.isDisabled()).toBe(true);

  // What the contract refuses is refused here, with its reason, and nothing is stored.
  for (const [bad, reason] of [
    ['Anna\ninvoice\u202efdp.exe', 'signature contains a bidirectional control character'],
    ['Anna\u0007', 'signature contains a control character'],
    ['x'.repeat(4001), 'a signature has at most 4000 characters'],
  ] as const) {
    await field.fill(bad);
    await expect.poll(() => card.getByRole('alert').innerText()).toBe(reason);
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await save.isDisabled()).toBe(true);
  }
  await field.fill('Anna Lee\nSales \u202eanna@sig.test');
  await expect.poll(() => card.getByRole('alert').innerText()).toBe('signature contains a bidirectional control character');
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(outDir, 'settings-signature-error-light-1280x800.png') });
  expect(host.core.store.getIdentity(annaId)!.signature).toBe('Anna\nOld Ltd');

  await field.fill('Anna Lee\n\tNew Ltd\n\n');
  expect(await field.getAttribute('aria-invalid')).toBeNull();
  expect(await card.getByRole('alert').count()).toBe(0);
  await save.click();
  await expect.poll(() => card.getByTestId('signature-status').innerText()).toBe('Saved');
  expect(host.core.store.getIdentity(annaId)!.signature).toBe('Anna Lee\n\tNew Ltd');
  // The stored form (trailing blank lines dropped) is what the field shows.
  expect(await field.inputValue()).toBe('Anna Lee\n\tNew Ltd');
  expect(await save.isDisabled()).toBe(true);
  fs.mkdirSync(outDir, { recursive: true });
  for (const [scheme, w, h] of [['light', 1280, 800], ['dark', 1280, 800], ['dark', 900, 700], ['light', 900, 700]] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: w, height: h });
    await card.scrollIntoViewIfNeeded();
    await page.waitForTimeout(100);
    await page.screenshot({ path: path.join(outDir, `settings-signature-${scheme}-${w}x${h}.png`) });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
  // Typing again: no longer "Saved"; back to the stored text: nothing to save.
  await field.press('Control+End');
  await field.pressSequentially('!');
  await expect.poll(() => card.getByTestId('signature-status').innerText()).toBe('');
  expect(await field.inputValue()).toBe('Anna Lee\n\tNew Ltd!');
  expect(await save.isDisabled()).toBe(false);
  await field.press('Backspace');
  await expect.poll(() => save.isDisabled()).toBe(true);

  // Back in compose: the text typed stays, the old (unedited) signature became the new one.
  await page.getByRole('button', { name: 'New message' }).click();
  await expect.poll(() => body().inputValue()).toBe('Hello Sig,\n\n-- \nAnna Lee\n\tNew Ltd');
  await page.getByLabel('From').selectOption({ label: 'Bob Other <bob@sig.test> (no DKIM key)' });
  await expect.poll(() => body().inputValue()).toBe('Hello Sig,\n\n-- \nBob');
  await page.getByLabel('From').selectOption({ label: 'Anna Sender <anna@sig.test> (no DKIM key)' });
  await expect.poll(() => body().inputValue()).toBe('Hello Sig,\n\n-- \nAnna Lee\n\tNew Ltd');

  const to = page.getByLabel('To', { exact: true });
  await to.pressSequentially('carol@sig.test');
  await to.press('Enter');
  await page.getByRole('textbox', { name: 'Subject' }).fill('Signed off');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect.poll(() => peer.messages.filter((m) => m.rcptTo.includes('carol@sig.test')).length, { timeout: 30_000 }).toBe(1);
  const got = peer.messages.find((m) => m.rcptTo.includes('carol@sig.test'))!;
  expect((await simpleParser(got.body)).text?.trim()).toBe('Hello Sig,\n\n-- \nAnna Lee\n\tNew Ltd');
  expect(env.errors).toEqual([]);
});

test('a signature the user changed in the message is kept when the stored one changes', async () => {
  const { page } = env;
  await page.getByRole('button', { name: 'New message' }).click();
  await expect.poll(() => body().inputValue()).toBe('\n\n-- \nAnna Lee\n\tNew Ltd');
  await body().fill('Hi,\n\n-- \nAnna (on holiday)');
  await nav('Settings').click();
  const card = page.getByTestId('identity').filter({ hasText: 'anna@sig.test' });
  await card.getByRole('textbox', { name: 'Signature' }).fill('Anna L.');
  await card.getByRole('button', { name: 'Save signature' }).click();
  await expect.poll(() => card.getByTestId('signature-status').innerText()).toBe('Saved');
  await page.getByRole('button', { name: 'New message' }).click();
  await expect.poll(() => body().count()).toBe(1);
  await page.waitForTimeout(300);
  expect(await body().inputValue()).toBe('Hi,\n\n-- \nAnna (on holiday)');
  // Choosing the identity again applies its signature.
  await page.getByLabel('From').selectOption({ label: 'Bob Other <bob@sig.test> (no DKIM key)' });
  await page.getByLabel('From').selectOption({ label: 'Anna Sender <anna@sig.test> (no DKIM key)' });
  await expect.poll(() => body().inputValue()).toBe('Hi,\n\n-- \nAnna L.');
  expect(env.errors).toEqual([]);
});
