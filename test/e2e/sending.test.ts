/**
 * Settings → Sending: add a submission transport (password into the keychain, never back on
 * the page), "Test this transport" against an in-process submission server (connect, TLS,
 * AUTH, QUIT), a route to it, a wrong password's clear failure; light and dark screenshots.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestCa, type TestCa } from '../helpers/certs';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';
import { LocalDraft as DraftSchema } from '../../shared/domain';

const PASSWORD = 'e2e-Relay-Secret-42';
let env: Env;
let ca: TestCa;
let peer: SmtpPeer;

beforeAll(async () => {
  ca = createTestCa();
  const leaf = ca.issue({ names: ['127.0.0.1'] });
  peer = await startSmtpPeer({
    tls: { key: leaf.keyPem, cert: leaf.chainPem },
    server: { authOptional: false, disabledCommands: [], authMethods: ['PLAIN', 'LOGIN', 'CRAM-MD5'], onAuth: (a, _s, cb) => (a.username === 'me' && (a.method === 'CRAM-MD5' ? a.validatePassword!(PASSWORD) : a.password === PASSWORD) ? cb(null, { user: 'me' }) : cb(new Error('Invalid username or password'))) },
  });
  env = await startEnv('sending', { extraCa: [ca.certPem] });
  await env.page.goto(env.host.url);
  await env.page.getByRole('button', { name: 'Settings', exact: true }).click();
});
afterAll(async () => {
  await env?.close();
  await peer?.close();
  ca?.cleanup();
});

test('add a submission transport, test it, route to it; the password never comes back', async () => {
  const { page } = env;
  const form = page.getByRole('form', { name: 'Add a transport' });
  await form.getByLabel('Name', { exact: true }).fill('provider');
  await form.getByLabel(/^Type/).selectOption('submission');
  await form.getByLabel('Server', { exact: true }).fill('127.0.0.1');
  await form.getByLabel('Port', { exact: true }).fill(String(peer.port));
  await form.getByLabel('User name', { exact: true }).fill('me');
  await form.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await form.getByRole('button', { name: 'Add transport' }).click();
  const card = page.locator('[data-transport="provider"]');
  await expect.poll(() => card.count()).toBe(1);
  await expect.poll(() => card.innerText()).toMatch(/password in the system keychain/);

  await card.getByRole('button', { name: 'Test this transport' }).click();
  await expect.poll(() => card.getByRole('status').innerText(), { timeout: 15_000 }).toMatch(/Works: connected to 127\.0\.0\.1.*certificate verified.*logged in with CRAM-MD5.*Nothing was sent/s);
  expect(peer.messages).toHaveLength(0);

  const route = page.getByRole('form', { name: 'Add a route' });
  await route.getByLabel(/^Transport/).selectOption('provider');
  await route.getByLabel('Recipient domain', { exact: true }).fill('Bücher.example');
  await route.getByLabel('From attempt', { exact: true }).fill('2');
  await route.getByRole('button', { name: 'Add route' }).click();
  await expect.poll(() => page.locator('[data-route]').first().innerText()).toMatch(/to xn--bcher-kva\.example \(and subdomains\), from attempt 2 on → provider/);

  // Bad input: a clear error where it happens, nothing stored.
  await form.getByLabel('Name', { exact: true }).fill('broken');
  await form.getByLabel(/^Type/).selectOption('smarthost');
  await form.getByRole('button', { name: 'Add transport' }).click();
  await expect.poll(() => form.getByRole('alert').innerText()).toMatch(/needs --host|needs/);
  expect(await page.locator('[data-transport="broken"]').count()).toBe(0);

  expect(await page.content()).not.toContain(PASSWORD);
  await page.getByRole('heading', { name: 'Transports' }).scrollIntoViewIfNeeded();
  await screenshot(page, 'settings-sending');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'settings-sending-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  expect(env.errors).toEqual([]);
});

test('a wrong password: the test says the server refused it, without the password', async () => {
  const { page } = env;
  const form = page.getByRole('form', { name: 'Add a transport' });
  await form.getByLabel('Name', { exact: true }).fill('wrongpw');
  await form.getByLabel(/^Type/).selectOption('submission');
  await form.getByLabel('Server', { exact: true }).fill('127.0.0.1');
  await form.getByLabel('Port', { exact: true }).fill(String(peer.port));
  await form.getByLabel('User name', { exact: true }).fill('me');
  await form.getByLabel('Password', { exact: true }).fill('Not-The-Password-9');
  await form.getByLabel(/^Login method/).selectOption('plain');
  await form.getByRole('button', { name: 'Add transport' }).click();
  const card = page.locator('[data-transport="wrongpw"]');
  await expect.poll(() => card.count()).toBe(1);
  await card.getByRole('button', { name: 'Test this transport' }).click();
  await expect.poll(() => card.getByRole('status').innerText(), { timeout: 15_000 }).toMatch(/Failed at auth: .*refused the user name or password of transport wrongpw/);
  expect(await page.content()).not.toContain('Not-The-Password-9');
  expect(env.errors).toEqual([]);
});

test('the log and the message detail say which transport and route carried an attempt', async () => {
  const { page, host } = env;
  const route = host.core.transports.addRoute({ transport: 'provider', recipientDomain: 'far.test' });
  if (!route.ok) throw new Error('route');
  const sent = await host.core.submit(DraftSchema.parse({ from: 'me@sender.test', to: ['someone@far.test'], subject: 'via the relay', text: 'hi' }));
  if (!sent.ok) throw new Error('submit');
  host.core.queue.start();
  await expect.poll(() => host.core.store.getMessage(sent.messageId)!.recipients[0]!.state, { timeout: 15_000 }).toBe('delivered');
  expect(peer.messages).toHaveLength(1);
  await page.getByRole('button', { name: 'Log', exact: true }).click();
  await expect.poll(() => page.getByTestId('log-transport').first().innerText(), { timeout: 10_000 }).toBe(`via provider (route #${route.value.id})`);
  await page.getByTitle(`Open message ${sent.messageId}`).click();
  await expect.poll(() => page.getByTestId('attempt-transport').first().innerText()).toMatch(new RegExp(`provider chosen by route #${route.value.id}`));
  await screenshot(page, 'detail-transport');
  expect(await page.content()).not.toContain(PASSWORD);
  expect(env.errors).toEqual([]);
});

test('the built-in direct transport: Edit sets its IP family (IPv4 only), the type stays direct, it cannot be removed', async () => {
  const { page, host } = env;
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const card = page.locator('[data-transport="direct"]');
  await expect.poll(() => card.count()).toBe(1);
  expect(await card.getByRole('button', { name: 'Remove transport direct' }).count()).toBe(0);
  await card.getByRole('button', { name: 'Edit transport direct' }).click();
  const form = page.getByRole('form', { name: 'Edit transport direct' });
  expect(await form.getByLabel(/^Type/).isDisabled()).toBe(true);
  await form.getByLabel(/^IP family/).selectOption('ipv4');
  await form.getByRole('button', { name: 'Save transport' }).click();
  await expect.poll(() => card.innerText()).toMatch(/IPv4 only/);
  expect(host.core.transports.get('direct')).toMatchObject({ type: 'direct', builtin: true, ipFamily: 'ipv4' });
  expect(env.errors).toEqual([]);
});
