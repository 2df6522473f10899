/**
 * The message detail says how each attempt's session was made (issue 14 items 2 and 3): a
 * connection kept from an earlier message, a TLS session resumed from a ticket — beside the
 * attempt's TLS facts, with the why as a tooltip — and nothing of the kind for a new session
 * with a full handshake, nor for an attempt recorded before reuse and resumption existed. The
 * Log view says the same in one word per fact ("reused", "resumed"), the sentence as the
 * marker's accessible name and tooltip, without making its rows taller.
 * Rows go straight into the real store (no delivery runs); axe and screenshots in both themes.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AttemptRecord } from '../../shared/domain';
import { blankAttempt } from '../../src-main/core/delivery/record';
import { QueueRepo } from '../../src-main/core/store/queue-repo';
import { checkView } from './axe-view';
import { startEnv, type Env } from './env';
import { measureLogTable } from './log-table';

let env: Env;
const REUSED = 'Reused connection (opened for an earlier message)';
const RESUMED = 'TLS session resumed — certificate verified in the full handshake that established it';
const RESUMED_UNVERIFIED = 'TLS session resumed — the full handshake that established it did not verify the certificate';

function delivered(recipientId: number, at: number, over: Partial<AttemptRecord>): AttemptRecord {
  return {
    ...blankAttempt('reuse.test', at),
    durationMs: 120,
    host: 'mx.reuse.test',
    ip: '192.0.2.25',
    port: 25,
    starttls: true,
    tlsVersion: 'TLSv1.3',
    tlsCipher: 'TLS_AES_256_GCM_SHA384',
    certFingerprint: 'AB:CD:EF',
    verification: 'pkix',
    mtaStsMode: 'enforce',
    tlsrptPolicy: 'sts',
    code: 250,
    enhancedCode: '2.0.0',
    reply: '250 2.0.0 queued as 1234',
    results: [{ recipientId, status: 'delivered', code: 250, enhancedCode: '2.0.0', reply: '250 2.0.0 queued as 1234' }],
    ...over,
  };
}

beforeAll(async () => {
  env = await startEnv('attempt-session');
  const { store } = env.host.core;
  const t0 = Date.now() - 60_000;
  // Shown in this order: the reused and resumed ones first, so the screenshots show them.
  const rcpts = ['bob', 'cat', 'ann', 'dan'].map((n) => `${n}@reuse.test`);
  store.insertMessage({
    id: 'session-facts',
    createdAt: t0,
    mailFrom: 'me@client.test',
    fromHeader: 'Me <me@client.test>',
    subject: 'Session facts',
    messageIdHeader: '<session-facts@client.test>',
    size: 120,
    rawPath: 'messages/session-facts.eml',
    tlsMode: 'default',
    eightBit: false,
    smtpUtf8: false,
    identityId: null,
    nextAttemptAt: t0,
    recipients: rcpts.map((address) => ({ address, envelope: address, domain: 'reuse.test', kind: 'to' as const })),
  });
  fs.writeFileSync(store.absolutePath('messages/session-facts.eml'), 'From: Me <me@client.test>\r\nTo: ann@reuse.test\r\nSubject: Session facts\r\n\r\nHello.\r\n');
  const repo = new QueueRepo(store);
  const of = (name: string) => repo.recipientsOf('session-facts').find((r) => r.address === `${name}@reuse.test`)!;
  const [ann, bob, cat, dan] = [of('ann'), of('bob'), of('cat'), of('dan')];
  repo.claim([ann!, bob!, cat!, dan!].map((r) => ({ id: r.id, messageId: r.message_id, domain: r.domain })), t0);
  const done = (id: number) => ({ id, state: 'delivered' as const, nextAttemptAt: null, code: 250, enhancedCode: '2.0.0', reply: '250 2.0.0 queued as 1234', host: 'mx.reuse.test', errorCode: null, countsAsAttempt: true });
  repo.recordOutcome(
    'session-facts',
    [
      // A new session with a full handshake; the next one kept and reused, its TLS session resumed
      // earlier; one resumed on a new connection after an unverified (opportunistic) handshake.
      delivered(ann!.id, t0 + 1000, { reusedSession: false, tlsResumed: false }),
      delivered(bob!.id, t0 + 2000, { reusedSession: true, tlsResumed: true }),
      delivered(cat!.id, t0 + 3000, { tlsResumed: true, verification: 'none', verificationReason: 'self-signed certificate', mtaStsMode: null, tlsrptPolicy: 'no-policy-found' }),
    ],
    [done(ann!.id), done(bob!.id), done(cat!.id)],
    ['192.0.2.25'],
    t0 + 3500,
  );
  // An attempt as recorded before reuse and resumption were (no reused_session, tls_resumed).
  const old = store.db
    .prepare(
      `INSERT INTO attempts (message_id, started_at, duration_ms, domain, host, ip, port, starttls, tls_version, tls_cipher, verification,
         mta_sts_mode, tlsrpt_policy, dane, requiretls, plaintext_fallback, code, enhanced_code, reply, permanent, transcript, transport)
       VALUES ('session-facts', ?, 130, 'reuse.test', 'mx.reuse.test', '192.0.2.25', 25, 1, 'TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384', 'pkix',
         'enforce', 'sts', 0, 0, 0, 250, '2.0.0', '250 2.0.0 queued as 5678', 0, '[]', 'direct')`,
    )
    .run(t0 + 4000);
  store.db.prepare("INSERT INTO attempt_results (attempt_id, recipient_id, status, code, enhanced_code, reply) VALUES (?, ?, 'delivered', 250, '2.0.0', '250 2.0.0 queued as 5678')").run(old.lastInsertRowid, dan!.id);
  store.db.prepare("UPDATE recipients SET state = 'delivered', attempts = 1, last_attempt_at = ?, last_code = 250 WHERE id = ?").run(t0 + 4000, dan!.id);
});

afterAll(async () => {
  await env?.close();
});

const nav = (name: string) => env.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: new RegExp(`^${name}`) });
const card = (address: string) => env.page.getByTestId('recipient-card').filter({ hasText: address });

test('each attempt says how its session was made, beside its TLS facts, and older records say nothing of it', async () => {
  const { page } = env;
  await page.goto(env.host.url);
  await page.getByTestId('message-row').filter({ hasText: 'Session facts' }).getByRole('button', { name: /^Session facts/ }).click();
  await expect.poll(() => page.getByTestId('recipient-card').count()).toBe(4);

  const facts = async (address: string) => (await card(address).locator('[data-testid="reused-session"], [data-testid="tls-resumed"]').allInnerTexts()).map((s) => s.trim());
  // New session, full handshake; the record made before the flags existed: neither.
  expect(await facts('ann@reuse.test')).toEqual([]);
  expect(await facts('dan@reuse.test')).toEqual([]);
  for (const a of ['ann@reuse.test', 'dan@reuse.test']) {
    const text = await card(a).innerText();
    expect(text).not.toMatch(/Reused connection|TLS session resumed/);
    expect(text).toMatch(/TLSv1\.[23]/);
  }
  // Reused connection whose TLS session had been resumed: both, connection first.
  expect(await facts('bob@reuse.test')).toEqual([REUSED, RESUMED]);
  // Resumed after a handshake that did not verify: never claims a verification.
  expect(await facts('cat@reuse.test')).toEqual([RESUMED_UNVERIFIED]);

  // Where the TLS facts are: in the Encryption entry, below the version and cipher.
  const bob = card('bob@reuse.test');
  const enc = bob.locator('dt', { hasText: 'Encryption' }).locator('xpath=following-sibling::dd[1]');
  expect(await enc.innerText()).toMatch(/^TLSv1\.3 TLS_AES_256_GCM_SHA384\s+Reused connection \(opened for an earlier message\)\s+TLS session resumed/);
  // The server and its address as two words (a block's leading space is dropped by Svelte).
  expect(await bob.innerText()).toContain('mx.reuse.test [192.0.2.25]:25');
  // The why, as a tooltip.
  expect(await bob.getByTestId('reused-session').getAttribute('title')).toMatch(/kept open after an earlier message to the same server/);
  expect(await bob.getByTestId('tls-resumed').getAttribute('title')).toMatch(/sent no certificate this time/);
  expect(env.errors).toEqual([]);
});

test('axe in light and dark, screenshots at 1280 and 900 px', async () => {
  // The recipients at the top of the window (checkView keeps that scroll position at 900 px).
  await checkView(env.page, 'message-detail-session', async () => {
    await env.page.getByRole('heading', { name: /^Recipients/ }).evaluate((el) => el.scrollIntoView({ block: 'start' }));
  });
  expect(env.errors).toEqual([]);
});

test('the Log view marks a reused connection and a resumed TLS session in one word each, named by the sentence; a new session and an older record show none', async () => {
  const { page } = env;
  await page.goto(env.host.url);
  await nav('Log').click();
  const rows = page.getByRole('table', { name: 'Attempts' }).locator('tbody tr');
  await expect.poll(() => rows.count()).toBe(4);
  // Newest first: the older record (TLSv1.2), cat (resumed, unverified), bob (reused + resumed), ann (new).
  const tls = async (i: number) => (await rows.nth(i).locator('td').nth(3).innerText()).replace(/\s+/g, ' ').trim();
  const markers = async (i: number) => {
    const imgs = rows.nth(i).getByRole('img');
    const out: Array<[string, string | null]> = [];
    for (let k = 0; k < (await imgs.count()); k++) out.push([(await imgs.nth(k).innerText()).trim(), await imgs.nth(k).getAttribute('aria-label')]);
    return out;
  };
  const check = async () => {
    expect(await tls(0)).toBe('TLSv1.2 pkix');
    expect(await markers(0)).toEqual([]);
    expect(await tls(1)).toBe('TLSv1.3 none resumed');
    expect(await markers(1)).toEqual([['resumed', RESUMED_UNVERIFIED]]);
    expect(await tls(2)).toBe('TLSv1.3 pkix reused resumed');
    expect(await markers(2)).toEqual([
      ['reused', REUSED],
      ['resumed', RESUMED],
    ]);
    expect(await tls(3)).toBe('TLSv1.3 pkix');
    expect(await markers(3)).toEqual([]);
  };
  await check();
  // The accessible name is what a screen reader finds (role and name, not only the attribute).
  expect(await rows.nth(2).getByRole('img', { name: REUSED, exact: true }).count()).toBe(1);
  expect(await rows.nth(2).getByRole('img', { name: RESUMED, exact: true }).count()).toBe(1);
  // The tooltip: the sentence, then the why.
  expect(await rows.nth(2).getByTestId('log-reused-session').getAttribute('title')).toMatch(/^Reused connection \(opened for an earlier message\)\. This message went over a connection kept open/);
  expect(await rows.nth(1).getByTestId('log-tls-resumed').getAttribute('title')).toMatch(/^TLS session resumed — the full handshake that established it did not verify the certificate\. The server resumed/);

  // Density: a row with markers is no taller than one without, at both widths (rows 1 and 2
  // against the older record's row 0; the last row is left out: it has no bottom border).
  for (const vp of [{ width: 1280, height: 800 }, { width: 900, height: 700 }]) {
    await page.setViewportSize(vp);
    const heights = await rows.evaluateAll((trs) => trs.slice(0, 3).map((tr) => tr.getBoundingClientRect().height));
    expect(new Set(heights).size, `${vp.width} px: ${heights.join(', ')}`).toBe(1);
    // And the table fits its card: nothing runs out of its cell, no reply is cut ("250 2.0.0 queued as 1234").
    const fit = await page.evaluate(measureLogTable);
    expect(fit.wrapScroll, `${vp.width} px`).toBeLessThanOrEqual(fit.wrapClient);
    expect(fit.spills, `${vp.width} px`).toEqual([]);
    expect(fit.rows.map((r) => r.replyTruncated), `${vp.width} px`).toEqual([false, false, false, false]);
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // The filters still work around them: another message's id matches nothing, this one all four.
  const filters = page.getByRole('form', { name: 'Filter attempts' });
  await filters.getByLabel('Message').fill('no-such-message');
  await filters.getByRole('button', { name: 'Apply' }).click();
  await expect.poll(() => page.getByText('No delivery attempts match these filters.').isVisible()).toBe(true);
  await filters.getByLabel('Message').fill('session-facts');
  await filters.getByRole('button', { name: 'Apply' }).click();
  await expect.poll(() => rows.count()).toBe(4);
  await check();
  expect(env.errors).toEqual([]);
});

test('the Log view: axe in light and dark, screenshots at 1280 and 900 px', async () => {
  await checkView(env.page, 'log-session');
  expect(env.errors).toEqual([]);
});
