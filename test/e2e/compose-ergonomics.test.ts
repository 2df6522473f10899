/**
 * Compose ergonomics (issue 13 items 5-7) against the real core through the headless host:
 * address autocomplete from past recipients and identities, signatures per identity switched
 * with From, rich text delivered as multipart/alternative (checked in what the peer stored,
 * parsed with mailparser), focus order and Esc, the Desktop settings; screenshots light/dark.
 */
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LocalDraft } from '../../shared/domain';
import { createIdentity } from '../../src-main/core/identities';
import { createSelfSigned } from '../helpers/certs';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';

let env: Env;
let peer: SmtpPeer;
let cert: ReturnType<typeof createSelfSigned>;

beforeAll(async () => {
  cert = createSelfSigned({ names: ['mx.rich.test'] });
  peer = await startSmtpPeer({ tls: { key: cert.keyPem, cert: cert.chainPem } });
  env = await startEnv('ergonomics', { smtpPort: peer.port }, { width: 1280, height: 800 });
  env.dns.add('rich.test', 'MX', [{ preference: 10, exchange: 'mx.rich.test' }]);
  env.dns.add('mx.rich.test', 'A', ['127.0.0.1']);
  const { core } = env.host;
  const now = Date.now();
  createIdentity(core.store, now, { address: 'anna@rich.test', displayName: 'Anna Sender', algorithms: [], signature: 'Anna Sender\nRich Test Ltd' });
  createIdentity(core.store, now, { address: 'bob@rich.test', displayName: 'Bob Other', algorithms: [], signature: 'Bob\n(the other one)' });
  // Past recipients: mail already queued (the queue is not running yet, so none is delivered).
  for (let i = 0; i < 3; i++) await core.submit(LocalDraft.parse({ from: 'anna@rich.test', to: ['Annika Frequent <annika@rich.test>'], subject: `old ${i}`, text: 'x' }));
  await core.submit(LocalDraft.parse({ from: 'anna@rich.test', to: ['"Doe, Jane" <jane@rich.test>'], subject: 'old', text: 'x' }));
  core.store.db.prepare("UPDATE recipients SET state = 'delivered'").run();
  core.store.upsertDomainTls({ domain: 'rich.test', starttls: true, requiretls: false, mtaStsMode: null, dane: false, seenAt: now });
  env.host.core.queue.start();
  await env.page.goto(env.host.url);
});

afterAll(async () => {
  await env?.close();
  await peer?.close();
  cert?.cleanup();
});

const body = () => env.page.getByLabel('Message text');
/** A fresh composer: from another view, so its own state (Cc shown, …) starts anew. */
const openCompose = async () => {
  await env.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: /^Outbox/ }).click();
  await env.page.getByRole('button', { name: 'New message' }).click();
  await expect.poll(() => env.page.getByLabel('To', { exact: true }).count()).toBe(1);
};

test('signatures: inserted for the From identity, replaced when From changes, never duplicated', async () => {
  const { page } = env;
  await openCompose();
  await expect.poll(() => body().inputValue()).toBe('\n\n-- \nAnna Sender\nRich Test Ltd');
  await body().focus();
  await page.keyboard.press('Control+Home');
  await page.keyboard.type('Hello there,');
  await page.getByLabel('From').selectOption({ label: 'Bob Other <bob@rich.test> (no DKIM key)' });
  await expect.poll(() => body().inputValue()).toBe('Hello there,\n\n-- \nBob\n(the other one)');
  await page.getByLabel('From').selectOption({ label: 'Anna Sender <anna@rich.test> (no DKIM key)' });
  await expect.poll(() => body().inputValue()).toBe('Hello there,\n\n-- \nAnna Sender\nRich Test Ltd');
  expect((await body().inputValue()).split('-- \n')).toHaveLength(2);
  expect(env.errors).toEqual([]);
});

test('autocomplete: past recipients and identities as you type, by keyboard; Esc closes the list', async () => {
  const { page } = env;
  const to = page.getByLabel('To', { exact: true });
  await to.focus();
  await to.pressSequentially('ann');
  const list = page.getByRole('listbox', { name: 'Suggestions for To' });
  await expect.poll(() => list.getByRole('option').allInnerTexts()).toEqual([expect.stringContaining('annika@rich.test'), expect.stringContaining('anna@rich.test')]);
  expect(await to.getAttribute('aria-expanded')).toBe('true');
  await screenshot(page, 'compose-autocomplete');
  await to.press('ArrowDown');
  await expect.poll(() => to.getAttribute('aria-activedescendant')).toMatch(/.+/);
  await to.press('Escape');
  await expect.poll(() => list.count()).toBe(0);
  await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('rcpt-to');
  // Down reopens the list; Down again highlights the first; Enter takes it.
  await to.press('ArrowDown');
  await expect.poll(() => list.getByRole('option').count()).toBe(2);
  await to.press('ArrowDown');
  await expect.poll(() => list.getByRole('option', { selected: true }).innerText()).toContain('annika@rich.test');
  await to.press('Enter');
  const chips = page.getByTestId('recipients-to').getByTestId('chip');
  await expect.poll(() => chips.count()).toBe(1);
  await expect.poll(() => chips.first().innerText()).toContain('annika@rich.test');
  expect(await to.inputValue()).toBe('');
  // A name that needs quoting becomes one chip, with its name.
  await to.pressSequentially('jane');
  await expect.poll(() => list.getByRole('option').count()).toBe(1);
  await list.getByRole('option').first().click();
  await expect.poll(() => chips.count()).toBe(2);
  await expect.poll(() => chips.nth(1).innerText()).toContain('Doe, Jane');
  await expect.poll(() => page.getByTestId('recipients-to').locator('.chip.bad').count()).toBe(0);
  // What is already a chip is not offered again.
  await to.pressSequentially('annika');
  await page.waitForTimeout(400);
  expect(await list.count()).toBe(0);
  await to.fill('');
  expect(env.errors).toEqual([]);
});

test('pasting many addresses makes chips; invalid ones are flagged', async () => {
  const { page } = env;
  await page.getByRole('button', { name: 'Add Cc / Bcc' }).click();
  const cc = page.getByLabel('Cc', { exact: true });
  await cc.focus();
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.setData('text/plain', 'One <one@rich.test>; two@rich.test\nbroken@@rich.test, "Last, First" <lf@rich.test>');
    document.activeElement!.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  });
  const chips = page.getByTestId('recipients-cc').getByTestId('chip');
  await expect.poll(() => chips.count()).toBe(4);
  await expect.poll(() => page.getByTestId('recipients-cc').locator('.chip.bad').count()).toBe(1);
  await expect.poll(() => page.getByTestId('recipients-cc').locator('.chip.bad').innerText()).toContain('broken@@rich.test');
  await page.getByRole('button', { name: 'Remove broken@@rich.test' }).click();
  // Not sending to these: clear Cc again.
  while ((await chips.count()) > 0) await chips.first().getByRole('button', { name: /^Remove / }).click();
  expect(env.errors).toEqual([]);
});

test('rich text: sent as multipart/alternative with a text part generated from the sanitised HTML, as the peer stored it', async () => {
  const { page } = env;
  await page.getByRole('textbox', { name: 'Subject' }).fill('Rich hello');
  await page.getByRole('checkbox', { name: 'Rich text' }).check();
  const editor = page.getByRole('textbox', { name: 'Message text' });
  await expect.poll(() => editor.innerText()).toContain('Anna Sender');
  await editor.getByText('Hello there,').click();
  await page.keyboard.press('End');
  await page.keyboard.type(' I am ');
  await page.keyboard.press('Control+b');
  await page.keyboard.type('bold');
  await page.keyboard.press('Control+b');
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Bulleted list' }).click();
  await page.keyboard.type('first point');
  await screenshot(page, 'compose-rich-light-1280x800');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'compose-rich-dark-1280x800');
  await page.setViewportSize({ width: 900, height: 700 });
  await screenshot(page, 'compose-rich-dark-900x700');
  await page.emulateMedia({ colorScheme: 'light' });
  await screenshot(page, 'compose-rich-light-900x700');
  await page.setViewportSize({ width: 1280, height: 800 });

  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect.poll(() => peer.messages.filter((m) => m.rcptTo.includes('annika@rich.test')).length, { timeout: 30_000 }).toBe(1);
  const got = peer.messages.find((m) => m.rcptTo.includes('annika@rich.test'))!;
  const parsed = await simpleParser(got.body);
  expect(got.body.toString('latin1')).toMatch(/^Content-Type: multipart\/alternative;/m);
  expect(parsed.subject).toBe('Rich hello');
  expect(parsed.html).toMatch(/<p>Hello there, I am <strong>bold<\/strong><\/p><ul><li><p>first point<\/p><\/li><\/ul>/);
  expect(parsed.html).toContain('<p>--</p><p>Anna Sender<br />Rich Test Ltd</p>');
  expect(parsed.text?.trim()).toBe('Hello there, I am bold\n\n * first point\n\n-- \nAnna Sender\nRich Test Ltd');
  expect(env.errors).toEqual([]);
});

test('plain text stays the default: a new message is plain, sent as one text/plain part', async () => {
  const { page } = env;
  await openCompose();
  expect(await page.getByRole('checkbox', { name: 'Rich text' }).isChecked()).toBe(false);
  await page.getByLabel('To', { exact: true }).pressSequentially('plain@rich.test');
  await page.getByLabel('To', { exact: true }).press('Enter');
  await page.getByRole('textbox', { name: 'Subject' }).fill('Plain hello');
  await body().focus();
  await page.keyboard.press('Control+Home');
  await page.keyboard.type('Just text.');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect.poll(() => peer.messages.filter((m) => m.rcptTo.includes('plain@rich.test')).length, { timeout: 30_000 }).toBe(1);
  const got = peer.messages.find((m) => m.rcptTo.includes('plain@rich.test'))!;
  expect(got.body.toString('latin1')).toMatch(/^Content-Type: text\/plain; charset=utf-8\r$/m);
  expect((await simpleParser(got.body)).text?.trim()).toBe('Just text.\n\n-- \nAnna Sender\nRich Test Ltd');
});

test('keyboard: focus order through the composer, Esc closes the link popover and gives focus back', async () => {
  const { page } = env;
  await openCompose();
  await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('rcpt-to');
  const order: string[] = [];
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    order.push(
      await page.evaluate(() => {
        const el = document.activeElement as HTMLInputElement | null;
        return (el?.getAttribute('aria-label') || el?.labels?.[0]?.textContent || el?.textContent || el?.id || '').trim();
      }),
    );
  }
  expect(order.slice(0, 4)).toEqual(['Add Cc / Bcc', 'Subject', 'Rich text', 'Message text']);
  // Focus is visible on every stop (a ring, not clipped): the focused element has an outline or box shadow.
  const ring = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement!);
    return s.outlineStyle !== 'none' || s.boxShadow !== 'none';
  });
  expect(ring).toBe(true);

  await page.getByRole('checkbox', { name: 'Rich text' }).check();
  await page.getByRole('button', { name: 'Link' }).click();
  const url = page.getByLabel('Link address');
  await expect.poll(() => url.evaluate((el) => el === document.activeElement)).toBe(true);
  await url.press('Escape');
  await expect.poll(() => url.count()).toBe(0);
  await expect.poll(() => page.getByRole('textbox', { name: 'Message text' }).evaluate((el) => el === document.activeElement || el.contains(document.activeElement))).toBe(true);
  await page.getByRole('checkbox', { name: 'Rich text' }).uncheck();
  await expect.poll(() => body().inputValue()).toBe('\n\n-- \nAnna Sender\nRich Test Ltd');
  expect(env.errors).toEqual([]);
});

test('Settings → Desktop: keep sending in the tray and open at login, stored in the one settings schema', async () => {
  const { page, host } = env;
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const desktop = page.getByTestId('desktop-settings');
  const tray = desktop.getByRole('checkbox', { name: /Keep sending in the tray/ });
  const login = desktop.getByRole('checkbox', { name: 'Open at login (in the tray)' });
  await expect.poll(() => tray.isChecked()).toBe(true);
  expect(await login.isChecked()).toBe(false);
  await login.check();
  await expect.poll(() => host.core.store.getSettings().openAtLogin).toBe(true);
  await tray.uncheck();
  await expect.poll(() => host.core.store.getSettings().keepSendingInTray).toBe(false);
  await expect.poll(() => desktop.getByRole('status').innerText()).toContain('Saved');
  expect([await tray.isChecked(), await login.isChecked()]).toEqual([false, true]);
  await desktop.scrollIntoViewIfNeeded();
  for (const [scheme, w, h] of [['light', 1280, 800], ['dark', 1280, 800], ['dark', 900, 700], ['light', 900, 700]] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: w, height: h });
    await desktop.scrollIntoViewIfNeeded();
    await screenshot(page, `settings-desktop-${scheme}-${w}x${h}`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  expect(env.errors).toEqual([]);
});
