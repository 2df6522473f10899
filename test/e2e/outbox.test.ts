/**
 * The outbox list over 100,000 messages (virtualized, paged on demand), keyboard navigation,
 * filters, hold/resume/retry/cancel on queued messages, the unencrypted mark, the message
 * detail with the plain-language explanation, and the delivery log's CSV export download.
 * Rows are inserted straight into the real store; no delivery runs.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AttemptRecord } from '../../src-main/core/delivery/types';
import { blankAttempt } from '../../src-main/core/delivery/record';
import type { NewMessage } from '../../src-main/core/store/store';
import { QueueRepo } from '../../src-main/core/store/queue-repo';
import { screenshot } from './browser';
import { startEnv, type Env } from './env';

const N = 100_000;
const BASE = Date.now() - N * 1000;
let env: Env;

const id = (i: number) => `m${String(i).padStart(6, '0')}`;
function message(i: number, recipients = [`user${i % 50}@dom${i % 7}.test`]): NewMessage {
  return {
    id: id(i),
    createdAt: BASE + i * 1000,
    mailFrom: 'me@client.test',
    fromHeader: 'Me <me@client.test>',
    subject: `subject ${id(i)}`,
    messageIdHeader: `<${id(i)}@client.test>`,
    size: 1234,
    rawPath: `messages/${id(i)}.eml`,
    tlsMode: 'default',
    eightBit: false,
    smtpUtf8: false,
    identityId: null,
    nextAttemptAt: BASE + i * 1000,
    recipients: recipients.map((address) => ({ address, envelope: address, domain: address.split('@')[1]!, kind: 'to' as const })),
  };
}

function attempt(over: Partial<AttemptRecord>): AttemptRecord {
  return {
    ...blankAttempt('mixed.test', Date.now() - 60_000),
    durationMs: 840,
    host: 'mx.mixed.test',
    ip: '127.0.0.1',
    port: 25,
    code: 250,
    enhancedCode: '2.0.0',
    reply: 'queued as 1234',
    transcript: [
      { at: Date.now() - 60_000, dir: 's', text: '220 mx.mixed.test ESMTP' },
      { at: Date.now() - 59_990, dir: 'c', text: 'EHLO client.test' },
    ],
    ...over,
  };
}

beforeAll(async () => {
  env = await startEnv('outbox');
  const { store } = env.host.core;
  // One transaction for all 100,000. insertMessage fsyncs each message (durability contract),
  // which nests in no outer transaction; so the same rows go in through its SQL, in bulk.
  const insMsg = store.db.prepare(`
    INSERT INTO messages (id, created_at, mail_from, from_header, subject, message_id_header, size, raw_path, tls_mode, eight_bit, smtputf8, identity_id)
    VALUES (@id, @createdAt, @mailFrom, @fromHeader, @subject, @messageIdHeader, @size, @rawPath, @tlsMode, 0, 0, NULL)`);
  const insRcpt = store.db.prepare(`
    INSERT INTO recipients (message_id, address, envelope, domain, kind, state, next_attempt_at, updated_at)
    VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)`);
  store.db.transaction(() => {
    for (let i = 0; i < N; i++) {
      const m = message(i);
      insMsg.run(m);
      for (const r of m.recipients) insRcpt.run(m.id, r.address, r.envelope, r.domain, r.kind, m.nextAttemptAt, m.createdAt);
    }
  })();
  // The newest message: one recipient refused for REQUIRETLS, one delivered in plain text.
  store.insertMessage({ ...message(N, ['ann@mixed.test', 'bob@mixed.test']), subject: 'Mixed results', tlsMode: 'requiretls' });
  const repo = new QueueRepo(store);
  const [ann, bob] = repo.recipientsOf(id(N));
  repo.claim([ann!, bob!].map((r) => ({ id: r.id, messageId: r.message_id, domain: r.domain })), Date.now());
  const now = Date.now();
  repo.recordOutcome(
    id(N),
    [
      attempt({
        stage: 'mail',
        starttls: true,
        tlsVersion: 'TLSv1.3',
        tlsCipher: 'TLS_AES_256_GCM_SHA384',
        verification: 'pkix',
        requiretls: true,
        code: 550,
        enhancedCode: '5.7.30',
        reply: 'REQUIRETLS not supported',
        errorCode: 'REQUIRETLS_UNSUPPORTED',
        permanent: true,
        results: [{ recipientId: ann!.id, status: 'failed', code: 550, enhancedCode: '5.7.30', reply: 'REQUIRETLS not supported' }],
      }),
      attempt({ plaintextFallback: true, results: [{ recipientId: bob!.id, status: 'delivered', code: 250, enhancedCode: '2.0.0', reply: 'queued as 1234' }] }),
    ],
    [
      { id: ann!.id, state: 'failed', nextAttemptAt: null, code: 550, enhancedCode: '5.7.30', reply: 'REQUIRETLS not supported', host: 'mx.mixed.test', errorCode: 'REQUIRETLS_UNSUPPORTED', countsAsAttempt: true },
      { id: bob!.id, state: 'delivered', nextAttemptAt: null, code: 250, enhancedCode: '2.0.0', reply: 'queued as 1234', host: 'mx.mixed.test', errorCode: null, countsAsAttempt: true },
    ],
    ['127.0.0.1'],
    now,
  );
});

afterAll(async () => {
  await env?.close();
});

const rows = () => env.page.getByTestId('message-row');

test('100,000 messages: first rows quickly, only a window of rows in the DOM, any place reachable by scrolling', async () => {
  const { page } = env;
  const t0 = Date.now();
  await page.goto(env.host.url);
  await rows().first().waitFor();
  console.log(`outbox with ${N + 1} messages: first rows visible after ${Date.now() - t0} ms`);
  await expect.poll(() => page.getByTestId('outbox-summary').innerText()).toContain('100,001 messages');
  const rendered = await page.locator('.vl-row').count();
  expect(rendered).toBeGreaterThan(5);
  expect(rendered).toBeLessThan(60);
  expect(await rows().first().innerText()).toContain('Mixed results');

  // Jump to the middle: rows there load on demand (page offset 50,000) and render.
  const t1 = Date.now();
  await page.locator('.vl').evaluate((el) => (el.scrollTop = 50_000 * 84));
  const middle = page.locator('.vl-row[aria-posinset="50001"]');
  await expect.poll(() => middle.getByTestId('message-row').count()).toBe(1);
  console.log(`scroll to row 50,000: rows visible after ${Date.now() - t1} ms`);
  // Newest first: index 50,000 is the 50,000th older than the newest (index 0 = message N).
  expect(await middle.innerText()).toContain(`subject ${id(N - 50_000)}`);
  expect(await page.locator('.vl-row').count()).toBeLessThan(60);

  // The very end.
  await page.locator('.vl').evaluate((el) => (el.scrollTop = el.scrollHeight));
  await expect.poll(() => page.locator('.vl-row[aria-posinset="100001"]').innerText()).toContain(`subject ${id(0)}`);
  await screenshot(page, 'outbox-100k-end');
});

test('the keyboard moves through rows; Enter opens a message; failures are explained in plain language', async () => {
  const { page } = env;
  await page.locator('.vl').evaluate((el) => (el.scrollTop = 0));
  await page.locator('[data-row-button="0"]').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-row-button'))).toBe('2');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-row-button'))).toBe('0');

  // The mixed message carries the unmistakable unencrypted mark.
  const first = rows().first();
  expect(await first.locator('.unenc').innerText()).toContain('Sent unencrypted');
  await screenshot(page, 'outbox-100k-top');

  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByRole('heading', { name: 'Mixed results' }).isVisible()).toBe(true);
  await expect.poll(() => page.getByTestId('unencrypted-banner').isVisible()).toBe(true);
  const ann = page.getByTestId('recipient-card').filter({ hasText: 'ann@mixed.test' });
  await expect.poll(() => ann.getByTestId('recipient-explanation').innerText()).toContain("don't support REQUIRETLS");
  expect(await ann.getByTestId('recipient-explanation').innerText()).toContain('Default TLS');
  expect(await ann.innerText()).toContain('TLSv1.3');
  expect(await ann.innerText()).toContain('PKIX');
  const bob = page.getByTestId('recipient-card').filter({ hasText: 'bob@mixed.test' });
  expect(await bob.innerText()).toContain('Sent without encryption');
  // The transcript is collapsed until asked for.
  const transcript = bob.locator('details.transcript');
  expect(await transcript.getAttribute('open')).toBeNull();
  await transcript.locator('summary').click();
  await expect.poll(() => transcript.locator('pre').innerText()).toContain('EHLO client.test');
  await screenshot(page, 'message-detail');

  await page.getByRole('button', { name: '← Back to outbox' }).click();
  await expect.poll(() => page.getByRole('heading', { name: 'Outbox', exact: true }).isVisible()).toBe(true);
});

test('filters and hold / resume / retry now / cancel on a queued message', async () => {
  const { page, host } = env;
  await page.getByLabel('Search messages').fill(id(123));
  await expect.poll(() => page.getByTestId('outbox-summary').innerText()).toContain('1 message match');
  const row = rows().first();
  expect(await row.innerText()).toContain(`subject ${id(123)}`);
  const state = () => host.core.store.listMessages({ text: id(123) }).items[0]!.recipients[0]!.state;

  await row.getByRole('button', { name: `Hold subject ${id(123)}` }).click();
  await expect.poll(state).toBe('held');
  await expect.poll(() => row.getByRole('button', { name: `Resume subject ${id(123)}` }).isVisible()).toBe(true);
  await screenshot(page, 'outbox-held');
  await row.getByRole('button', { name: `Resume subject ${id(123)}` }).click();
  await expect.poll(state).toBe('queued');
  await row.getByRole('button', { name: `Retry now: subject ${id(123)}` }).click();
  await expect.poll(() => host.core.store.getMessage(id(123))!.events.map((e) => e.kind)).toContain('retry');
  // Cancel asks first, naming who will not receive it; "Keep it" changes nothing.
  await row.getByRole('button', { name: `Cancel subject ${id(123)}` }).click();
  const ask = page.getByTestId('confirm-dialog');
  await expect.poll(() => ask.innerText()).toContain(`will not receive “subject ${id(123)}”`);
  expect(await ask.innerText()).toContain(host.core.store.getMessage(id(123))!.recipients[0]!.address);
  await ask.getByRole('button', { name: 'Keep it' }).click();
  await expect.poll(() => ask.isVisible()).toBe(false);
  expect(await state()).toBe('queued');
  await row.getByRole('button', { name: `Cancel subject ${id(123)}` }).click();
  await ask.getByRole('button', { name: 'Cancel delivery' }).click();
  await expect.poll(state).toBe('canceled');
  await expect.poll(() => row.getByRole('button').count()).toBe(1); // only the open button is left

  // Status filter: failed messages are only the mixed one.
  await page.getByLabel('Search messages').fill('');
  await page.getByLabel('Filter by status').selectOption('failed');
  await expect.poll(() => page.getByTestId('outbox-summary').innerText()).toContain('1 message match');
  expect(await rows().first().innerText()).toContain('Mixed results');
  // Oldest first. (The domain filter is tested on a small outbox in compose.test.ts: over
  // 100,000 rows the store's domain query is quadratic — reported to the lead.)
  await page.getByLabel('Filter by status').selectOption('');
  await page.getByLabel('Sort').selectOption('oldest');
  await expect.poll(() => rows().first().innerText()).toContain(`subject ${id(0)}`);
});

test('the log lists attempts and exports them as a CSV download', async () => {
  const { page } = env;
  await page.getByRole('button', { name: 'Log', exact: true }).click();
  await expect.poll(() => page.getByRole('table', { name: 'Attempts' }).locator('tbody tr').count()).toBe(2);
  await screenshot(page, 'logs');
  // One reply formatter (describeReply): the codes once, then the text; never "550 5.7.30 … 550 5.7.30".
  const results = await page.getByRole('table', { name: 'Attempts' }).locator('tbody tr td.res').allInnerTexts();
  expect(results.join('\n')).toMatch(/550 5\.7\.30 REQUIRETLS not supported/);
  for (const text of results) expect(text.match(/\b[245]\d\d\b/g)?.length ?? 0, text).toBeLessThanOrEqual(1);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV' }).click()]);
  expect(download.suggestedFilename()).toMatch(/^direct-outbox-log-\d{4}-\d{2}-\d{2}\.csv$/);
  const file = await download.path();
  const csv = fs.readFileSync(file, 'utf8');
  expect(csv.split(/\r?\n/).filter(Boolean).length).toBeGreaterThanOrEqual(3);
  expect(csv).toContain('5.7.30');
  await expect.poll(() => page.getByTestId('export-result').innerText()).toContain('Exported');

  // The host serves only plain names from exports/.
  for (const bad of ['..%2Foutbox.db', '%2E%2E%2Foutbox.db', 'nope.csv']) {
    const res = await page.request.get(`${env.host.url}__host/exports/${bad}`);
    expect(res.status()).toBe(404);
  }
  expect(env.errors).toEqual([]);
});
