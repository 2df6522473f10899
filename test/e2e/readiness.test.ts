/**
 * The readiness panel in the browser, against the real core through the headless host: on
 * first run it appears above the outbox and runs by itself; in Settings it shows the same
 * report and runs again on demand; compose warns before sending when port 25 is blocked.
 * Every target is loopback: a scripted MX on 127.0.0.1 and the fake DNS.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startScriptedPeer, type ScriptedPeer } from '../helpers/smtp-peer';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';

let env: Env;
let mx: ScriptedPeer;

beforeAll(async () => {
  mx = await startScriptedPeer(async (c) => {
    c.write('220 mx.big.test ESMTP\r\n');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      if (/^EHLO/i.test(line)) c.write('250-mx.big.test at your service, [198.51.100.7]\r\n250 8BITMIME\r\n');
      else if (/^QUIT/i.test(line)) return c.write('221 bye\r\n'), c.end();
    }
  });
  env = await startEnv(
    'readiness',
    {
      readinessTargets: {
        port25: [{ host: '127.0.0.1', port: mx.port }],
        myIp: [{ name: 'myip.test', server: undefined }],
        dnsbl: ['bl.test'],
        dnssecSigned: 'signed.test',
        dnssecBogus: 'bogus.test',
      },
    },
    { width: 1280, height: 1000 },
    { firstRun: true },
  );
  const { dns } = env;
  dns.add('myip.test', 'A', ['198.51.100.7']).add('myip.test', 'AAAA', []);
  dns.add('7.100.51.198.in-addr.arpa', 'PTR', ['mail.sender.test']).add('mail.sender.test', 'A', ['198.51.100.7']);
  dns.add('7.100.51.198.bl.test', 'A', ['127.0.0.11']);
  dns.add('signed.test', 'A', ['198.51.100.1'], { ad: true }).servfail('bogus.test', 'A');
});
afterAll(async () => {
  await env?.close();
  await mx?.close();
});

const statuses = (scope: import('playwright-core').Locator) =>
  scope.getByTestId('readiness-check').evaluateAll((els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-check'), e.getAttribute('data-status')])));

test('first run: the panel appears by itself, runs, and shows each verdict with what to do', async () => {
  const { page } = env;
  await page.goto(env.host.url);
  const first = page.getByTestId('readiness-first-run');
  await expect.poll(() => first.getByTestId('readiness-check').count(), { timeout: 20_000 }).toBe(10);
  expect(await statuses(first)).toEqual({
    port25: 'pass',
    'public-ip': 'pass',
    ptr: 'warn',
    dnsbl: 'fail',
    spf: 'unknown',
    dmarc: 'unknown',
    dkim: 'unknown',
    mx: 'unknown',
    'resolver-dnssec': 'pass',
    ipv6: 'pass',
  });
  await expect.poll(() => first.getByTestId('readiness-tally').innerText()).toMatch(/1 to fix.*1 warning.*4 unknown.*4 passed/s);
  // The fix sentences are there: the confirmed PTR name as EHLO name, the PBL → relay.
  await expect.poll(() => first.locator('[data-check="ptr"] .fix').innerText()).toContain('Use mail.sender.test as the EHLO name');
  await expect.poll(() => first.locator('[data-check="dnsbl"] .fix').innerText()).toMatch(/relay/);
  await page.emulateMedia({ colorScheme: 'light' });
  await screenshot(page, 'readiness-first-run-light');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'readiness-first-run-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await first.getByRole('button', { name: 'Close' }).click();
  await expect.poll(() => first.count()).toBe(0);
  // Run once: a reload does not show it again.
  await page.reload();
  await expect.poll(() => page.getByRole('heading', { name: 'Outbox' }).count()).toBeGreaterThan(0);
  expect(await page.getByTestId('readiness-first-run').count()).toBe(0);
  expect(env.errors).toEqual([]);
});

test('Settings: the same report, and "Run again" shows what changed', async () => {
  const { page } = env;
  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  const panel = page.getByTestId('readiness-panel');
  await expect.poll(() => panel.getByTestId('readiness-check').count()).toBe(10);
  expect((await statuses(panel)).dnsbl).toBe('fail');
  env.dns.remove('7.100.51.198.bl.test'); // delisted: NXDOMAIN
  await panel.getByRole('button', { name: 'Run again' }).click();
  await expect.poll(() => statuses(panel).then((s) => s.dnsbl), { timeout: 20_000 }).toBe('pass');
  await panel.scrollIntoViewIfNeeded();
  await screenshot(page, 'readiness-settings-light');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'readiness-settings-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  expect(env.errors).toEqual([]);
});

test('compose: port 25 blocked and no route → a warning before sending, with a link to set up a transport', async () => {
  const { page } = env;
  await mx.close(); // port 25 now refused
  const panel = page.getByTestId('readiness-panel');
  await panel.getByRole('button', { name: 'Run again' }).click();
  await expect.poll(() => statuses(panel).then((s) => s.port25), { timeout: 20_000 }).toBe('fail');

  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('From').fill('me@sender.test');
  const to = page.getByLabel('To', { exact: true });
  await to.fill('you@example.org');
  await to.press('Enter');
  const notice = page.getByTestId('send-block');
  await expect.poll(() => notice.count()).toBe(1);
  expect(await notice.innerText()).toMatch(/port 25 is blocked/i);
  await screenshot(page, 'readiness-compose-blocked-light');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'readiness-compose-blocked-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await notice.getByRole('button', { name: 'Set up a transport' }).click();
  await expect.poll(() => page.getByRole('heading', { name: 'Settings' }).count()).toBe(1);
  expect(env.errors).toEqual([]);
});

test('compose: a route that carries the recipient domain around port 25 → no warning; a domain it does not carry still warns', async () => {
  const { page, host } = env;
  // Port 25 is still blocked (the previous test closed the MX and ran the check).
  expect(host.core.transports.save({ name: 'provider', type: 'smarthost', host: 'relay.example.test' }, null).ok).toBe(true);
  expect(host.core.transports.addRoute({ transport: 'provider', recipientDomain: 'example.org' }).ok).toBe(true);
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('From').fill('me@sender.test');
  const to = page.getByLabel('To', { exact: true });
  await to.fill('them@other.test');
  await to.press('Enter');
  await expect.poll(() => page.getByTestId('send-block').count()).toBe(1);
  // Replace the uncarried recipient with one the route carries: the warning goes.
  await page.getByRole('button', { name: 'Remove them@other.test' }).click();
  await to.fill('you@example.org');
  await to.press('Enter');
  await expect.poll(() => page.getByTestId('send-block').count()).toBe(0);
  // Both together: one domain still goes direct, so the warning is back.
  await to.fill('them@other.test');
  await to.press('Enter');
  await expect.poll(() => page.getByTestId('send-block').count()).toBe(1);
  expect(env.errors).toEqual([]);
});
