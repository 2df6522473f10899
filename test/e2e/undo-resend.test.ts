/**
 * Undo send, Edit & resend and the body preview (issue 13 items 2–4) in the real renderer over
 * the real core (headless host) and an in-process SMTP peer that stores what it receives:
 * - Send with the window on: the outbox row counts down with Undo, a toast offers Undo too;
 *   Undo brings the exact message back to compose, and the peer never gets it.
 * - The window passing delivers the message; setting 0 (in Settings) sends at once.
 * - A recipient the peer refuses fails; the detail shows the body preview and "Edit & resend",
 *   which opens compose with the same message to that recipient only; sent again, the peer
 *   stores the same content (rich text and attachment).
 * axe runs on the new states in light and dark; screenshots at 1280×800 and 900×700
 * (DOCS_SCREENSHOTS=1 writes them to docs/screenshots/).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestCa, type TestCa } from '../helpers/certs';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer';
import { checkView as checkAxeView } from './axe-view';
import { startEnv, type Env } from './env';


let ca: TestCa;
let peer: SmtpPeer;
let env: Env;
let fileDir: string;
let attachment: string;
const rejectRcpt: Record<string, { code: number; text: string }> = {};

beforeAll(async () => {
  ca = createTestCa();
  const cert = ca.issue({ names: ['mx.undo.test'] });
  // A policy refusal (5.7.1), not one that puts the address on the suppression list.
  peer = await startSmtpPeer({ tls: { key: cert.keyPem, cert: cert.chainPem }, rejectRcpt });
  fileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-e2e-undo-files-'));
  attachment = path.join(fileDir, 'minutes.pdf');
  fs.writeFileSync(attachment, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256)));
  env = await startEnv('undo-resend', { smtpPort: peer.port, extraCa: [ca.certPem] }, { width: 1280, height: 800 }, { chooseFiles: () => [attachment], undoSendSeconds: 10 });
  env.dns.add('undo.test', 'MX', [{ preference: 10, exchange: 'mx.undo.test' }]);
  env.dns.add('mx.undo.test', 'A', ['127.0.0.1']);
  // The queue runs: "nothing reached the peer" after an Undo means something.
  env.host.core.queue.start();
  await env.page.goto(env.host.url);
});
afterAll(async () => {
  await env?.close();
  await peer?.close();
  ca?.cleanup();
  if (fileDir) fs.rmSync(fileDir, { recursive: true, force: true });
});

const nav = (name: string) => env.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: new RegExp(`^${name}`) });
const delivered = (address: string) => peer.messages.filter((m) => m.rcptTo.includes(address));

const checkView = (name: string) => checkAxeView(env.page, name);

/** A message written in compose: From, To chips, subject, body (rich text optionally), an attachment. */
async function write(opts: { to: string[]; subject: string; body: string; rich?: boolean; attach?: boolean }) {
  const { page } = env;
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('From').fill('Me <me@client.test>');
  const to = page.getByLabel('To', { exact: true });
  for (const a of opts.to) {
    await to.fill(a);
    await to.press('Enter');
  }
  await page.getByRole('textbox', { name: 'Subject' }).fill(opts.subject);
  if (opts.rich) {
    await page.getByRole('checkbox', { name: 'Rich text' }).check();
    const editor = page.getByRole('textbox', { name: 'Message text' });
    await editor.click();
    await page.keyboard.type(`${opts.body} `);
    await page.keyboard.press('Control+b');
    await page.keyboard.type('important');
    await page.keyboard.press('Control+b');
  } else {
    await page.getByLabel('Message text').fill(opts.body);
  }
  if (opts.attach) {
    await page.getByRole('button', { name: 'Attach files…' }).click();
    await expect.poll(() => page.locator('body').innerText()).toContain('minutes.pdf');
  }
  await expect.poll(() => page.getByTestId('chip').count()).toBe(opts.to.length);
}

/** Earlier tests' toasts would stand in the screenshots. */
async function dismissToasts() {
  const close = env.page.getByTestId('toast').getByRole('button', { name: 'Dismiss' });
  while ((await close.count()) > 0) await close.first().click();
}

async function send() {
  const { page } = env;
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  // A confirmation (the opportunistic peer is "encrypted, not verified": none expected; if the
  // verdict were unknown or worse it would ask) is answered so the test is about undo.
  const confirm = page.getByTestId('confirm-send');
  if (await confirm.isVisible().catch(() => false)) await confirm.getByRole('button', { name: /^Send/ }).click();
}

test('undo send: the row counts down with Undo, a toast offers it too; Undo returns the exact message to compose and the peer never gets it', async () => {
  const { page, host } = env;
  await write({ to: ['ann@undo.test'], subject: 'Second thoughts', body: 'Please find the minutes.\n', attach: true });
  await send();
  const row = page.getByTestId('message-row').filter({ hasText: 'Second thoughts' });
  await expect.poll(() => row.getByTestId('undo-countdown').innerText(), { timeout: 10_000 }).toMatch(/^Sending in \d+ s$/);
  // Beside "Sending in N s" the summary says what is true: nothing is on its way yet (not "1 queued").
  expect(await row.getByTestId('status-summary').innerText()).toBe('1 not sent yet');
  expect(await row.getByRole('button', { name: /^Second thoughts/ }).getAttribute('aria-label')).toMatch(/, 1 not sent yet$/);
  const toast = page.getByTestId('toast').filter({ hasText: 'Message queued.' });
  await expect.poll(() => toast.getByTestId('toast-countdown').innerText()).toMatch(/Sending in \d+ s/);
  const [m] = host.core.store.listMessages({}).items;
  expect(m!.undoUntil).not.toBeNull();
  expect(m!.recipients[0]!.nextAttemptAt).toBe(m!.undoUntil);
  // The countdown moves.
  const first = Number(/\d+/.exec(await row.getByTestId('undo-countdown').innerText())![0]);
  await expect.poll(async () => Number(/\d+/.exec(await row.getByTestId('undo-countdown').innerText())![0]), { timeout: 5000 }).toBeLessThan(first);

  // Keyboard: Undo is a button of the row's actions.
  await row.getByRole('button', { name: 'Undo send: Second thoughts' }).focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByRole('textbox', { name: 'Subject' }).inputValue()).toBe('Second thoughts');
  expect(await page.getByLabel('Message text').inputValue()).toBe('Please find the minutes.\n');
  expect(await page.getByLabel('From').inputValue()).toBe('Me <me@client.test>');
  await expect.poll(() => page.getByTestId('chip').innerText()).toContain('ann@undo.test');
  await expect.poll(() => page.locator('body').innerText()).toContain('minutes.pdf');
  expect(host.core.store.listMessages({}).total).toBe(0);
  // Past the end of the window: nothing reached the peer.
  await page.waitForTimeout(Math.max(0, m!.undoUntil! - Date.now()) + 1500);
  expect(delivered('ann@undo.test')).toEqual([]);
  // The composer's own draft is the restored message (one draft, not two).
  await expect.poll(() => host.core.store.listDrafts().map((d) => d.subject)).toEqual(['Second thoughts']);
  await page.getByRole('button', { name: 'Discard' }).click();
  expect(env.errors).toEqual([]);
});

test('the window passing with no Undo: delivered at its end; the countdown and the kept draft copy are gone', async () => {
  const { page, host } = env;
  host.core.store.setSettings({ undoSendSeconds: 3 });
  await write({ to: ['bea@undo.test'], subject: 'Goes out', body: 'On its way.\n' });
  await send();
  const row = page.getByTestId('message-row').filter({ hasText: 'Goes out' });
  await expect.poll(() => row.getByTestId('undo-countdown').count(), { timeout: 10_000 }).toBe(1);
  expect(delivered('bea@undo.test')).toEqual([]);
  await expect.poll(() => delivered('bea@undo.test').length, { timeout: 30_000 }).toBe(1);
  await expect.poll(() => row.getByTestId('undo-countdown').count()).toBe(0);
  await expect.poll(() => row.getByTestId('status-summary').innerText()).toContain('1 delivered');
  // The copy goes by its own timer at the window's end (UndoWindows), not with the delivery: it
  // may fire a moment after a fast delivery on a busy machine.
  await expect.poll(() => host.core.store.db.prepare('SELECT count(*) AS n FROM drafts WHERE message_id IS NOT NULL').get()).toEqual({ n: 0 });
  expect(env.errors).toEqual([]);
});

test('setting 0 in Settings: Send goes out at once, no countdown', async () => {
  const { page, host } = env;
  await nav('Settings').click();
  const field = page.getByLabel('Undo send (seconds)');
  expect(await field.inputValue()).toBe('3');
  await field.fill('0');
  await page.getByRole('button', { name: 'Save' }).first().click();
  await expect.poll(() => host.core.store.getSettings().undoSendSeconds).toBe(0);
  await write({ to: ['cy@undo.test'], subject: 'At once', body: 'Now.\n' });
  await send();
  await expect.poll(() => delivered('cy@undo.test').length, { timeout: 30_000 }).toBe(1);
  const row = page.getByTestId('message-row').filter({ hasText: 'At once' });
  expect(await row.getByTestId('undo-countdown').count()).toBe(0);
  expect(host.core.store.listMessages({ text: 'At once' }).items[0]!.undoUntil).toBeNull();
  expect(env.errors).toEqual([]);
});

test('a countdown row and its detail pass axe in light and dark (screenshots)', async () => {
  const { page, host } = env;
  host.core.store.setSettings({ undoSendSeconds: 60 });
  await dismissToasts();
  await write({ to: ['dee@undo.test'], subject: 'Waiting to go', body: 'Held for a minute so it can be undone.\n' });
  await send();
  const row = page.getByTestId('message-row').filter({ hasText: 'Waiting to go' });
  await expect.poll(() => row.getByTestId('undo-countdown').count(), { timeout: 10_000 }).toBe(1);
  await checkView('outbox-undo');
  await row.getByRole('button', { name: /^Waiting to go/ }).click();
  await expect.poll(() => page.getByTestId('detail-undo').innerText()).toMatch(/Sending in \d+ s/);
  expect(await page.getByTestId('detail-summary').innerText()).toBe('1 not sent yet');
  await expect.poll(() => page.getByTestId('body-preview').innerText()).toContain('Held for a minute');
  await checkView('message-detail-undo');
  await page.getByTestId('detail-undo').getByRole('button', { name: 'Undo send' }).click();
  await expect.poll(() => page.getByRole('textbox', { name: 'Subject' }).inputValue()).toBe('Waiting to go');
  await page.getByRole('button', { name: 'Discard' }).click();
  host.core.store.setSettings({ undoSendSeconds: 0 });
  expect(env.errors).toEqual([]);
});

test('edit & resend: a recipient the peer refuses fails; the detail previews the body and offers Edit & resend, which sends the same content to that recipient only', async () => {
  const { page, host } = env;
  host.core.store.setSettings({ undoSendSeconds: 0 });
  rejectRcpt['flo@undo.test'] = { code: 550, text: '5.7.1 <flo@undo.test> not accepted here by policy' };
  await write({ to: ['eli@undo.test', 'flo@undo.test'], subject: 'Board minutes', body: 'The minutes are attached, with one', rich: true, attach: true });
  await send();
  const row = page.getByTestId('message-row').filter({ hasText: 'Board minutes' });
  await expect.poll(() => row.getByTestId('status-summary').innerText(), { timeout: 30_000 }).toMatch(/1 delivered.*1 failed|1 failed.*1 delivered/);
  const original = delivered('eli@undo.test')[0]!;
  expect(delivered('flo@undo.test')).toEqual([]);

  await dismissToasts();
  await row.getByRole('button', { name: /^Board minutes/ }).click();
  const preview = page.getByTestId('body-preview');
  await expect.poll(() => preview.innerText()).toContain('The minutes are attached, with one important');
  expect(await preview.innerHTML()).not.toContain('<strong>');
  await expect.poll(() => preview.getByRole('list', { name: 'Attachments' }).innerText()).toMatch(/minutes\.pdf\s+4(\.0)? KB|minutes\.pdf/);
  await expect.poll(() => page.getByTestId('edit-resend').innerText()).toBe('Edit & resend to 1 failed');
  await checkView('message-detail-resend');

  await page.getByTestId('edit-resend').click();
  await expect.poll(() => page.getByRole('textbox', { name: 'Subject' }).inputValue()).toBe('Board minutes');
  await expect.poll(() => page.getByTestId('chip').allInnerTexts()).toEqual([expect.stringContaining('flo@undo.test')]);
  expect(await page.getByRole('checkbox', { name: 'Rich text' }).isChecked()).toBe(true);
  await expect.poll(() => page.getByRole('textbox', { name: 'Message text' }).innerHTML()).toContain('<strong>important</strong>');
  await expect.poll(() => page.locator('body').innerText()).toContain('minutes.pdf');

  delete rejectRcpt['flo@undo.test'];
  await send();
  await expect.poll(() => delivered('flo@undo.test').length, { timeout: 30_000 }).toBe(1);
  const again = delivered('flo@undo.test')[0]!;
  expect(again.rcptTo).toEqual(['flo@undo.test']);
  const [a, b] = await Promise.all([simpleParser(original.body), simpleParser(again.body)]);
  expect(b.subject).toBe(a.subject);
  expect(b.html).toBe(a.html);
  expect(b.text).toBe(a.text);
  expect(b.attachments.map((x) => [x.filename, x.contentType])).toEqual([['minutes.pdf', 'application/pdf']]);
  expect(b.attachments[0]!.content.equals(fs.readFileSync(attachment))).toBe(true);
  expect(host.core.store.listMessages({ text: 'Board minutes' }).total).toBe(2);
  expect(env.errors).toEqual([]);
});
