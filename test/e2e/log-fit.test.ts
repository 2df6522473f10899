/**
 * The Log view's table fits the window at 900 px and at 1280 px and wider: no cell's content
 * runs out of its cell or out of the card (no horizontal scrolling), the outcome word of every
 * row is whole, a reply too long for its cell ends in an ellipsis with the full reply as its
 * tooltip (and in the DOM, for screen readers), and the time keeps its date and its seconds.
 * Attempts with the long parts real servers send (a multi-line DMARC refusal, a long MX name,
 * an IPv6 address, a long recipient domain, an error code beside the outcome, a proxy) go
 * straight into the real store (no delivery runs); axe and screenshots in both themes.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { describeReply, type AttemptRecord } from '../../shared/domain';
import { blankAttempt } from '../../src-main/core/delivery/record';
import { QueueRepo } from '../../src-main/core/store/queue-repo';
import { checkView } from './axe-view';
import { measureLogTable } from './log-table';
import { startEnv, type Env } from './env';

let env: Env;
// The shape core/submit.ts gives a message id: the time in base 36, then 12 random hex digits.
const ID = '0mx5ogh8x-3f9c2a71be04';
const LONG_DOMAIN = 'a-rather-long-subdomain-for-testing.departments.example-customer.test';
const DMARC =
  "550-5.7.26 Unauthenticated email from client.test is not accepted due to the domain's DMARC policy. Please contact the administrator of the client.test domain " +
  'if this was a legitimate mail. To learn about the DMARC initiative, go to https://support.example.test/mail/?p=dmarc-policy 4fb4d7f45d1cf-5f1a2b3c4d5e6si12345 - gsmtp';
const attempts: AttemptRecord[] = [];

function attempt(domain: string, at: number, over: Partial<AttemptRecord>): AttemptRecord {
  return {
    ...blankAttempt(domain, at),
    durationMs: 300,
    host: `mx.${domain}`,
    ip: '192.0.2.30',
    port: 25,
    starttls: true,
    tlsVersion: 'TLSv1.3',
    tlsCipher: 'TLS_AES_256_GCM_SHA384',
    verification: 'pkix',
    ...over,
  };
}

beforeAll(async () => {
  env = await startEnv('log-fit');
  const { store } = env.host.core;
  const t0 = Date.now() - 120_000;
  const domains = ['dmarc.test', 'badane.test', 'proxied.test', 'plain.test', LONG_DOMAIN];
  store.insertMessage({
    id: ID,
    createdAt: t0,
    mailFrom: 'me@client.test',
    fromHeader: 'Me <me@client.test>',
    subject: 'Log fit',
    messageIdHeader: '<log-fit@client.test>',
    size: 120,
    rawPath: `messages/${ID}.eml`,
    tlsMode: 'default',
    eightBit: false,
    smtpUtf8: false,
    identityId: null,
    nextAttemptAt: t0,
    recipients: domains.map((domain) => ({ address: `ann@${domain}`, envelope: `ann@${domain}`, domain, kind: 'to' as const })),
  });
  fs.writeFileSync(store.absolutePath(`messages/${ID}.eml`), 'From: Me <me@client.test>\r\nTo: ann@plain.test\r\nSubject: Log fit\r\n\r\nHello.\r\n');
  const repo = new QueueRepo(store);
  const rcpts = repo.recipientsOf(ID);
  const rid = (domain: string) => rcpts.find((r) => r.domain === domain)!.id;
  repo.claim(
    rcpts.map((r) => ({ id: r.id, messageId: r.message_id, domain: r.domain })),
    t0,
  );
  const result = (domain: string, status: 'delivered' | 'deferred' | 'failed', code: number | null, enhancedCode: string | null, reply: string) => ({
    code,
    enhancedCode,
    reply,
    results: [{ recipientId: rid(domain), status, code, enhancedCode, reply }],
  });
  // Oldest first; the view shows them newest first.
  attempts.push(
    attempt(LONG_DOMAIN, t0 + 1000, { host: `mx01.${LONG_DOMAIN}`, ...result(LONG_DOMAIN, 'delivered', 250, '2.0.0', '250 2.0.0 Ok: queued as 4dQk3m1Zxyz9') }),
    attempt('plain.test', t0 + 2000, {
      starttls: false,
      tlsVersion: null,
      tlsCipher: null,
      verification: null,
      plaintextFallback: true,
      ...result('plain.test', 'delivered', 250, null, '250 ok 1764684871 qp 12345'),
    }),
    attempt('proxied.test', t0 + 3000, {
      transport: 'socks',
      reusedSession: true,
      tlsResumed: true,
      errorCode: 'REQUIRETLS_UNSUPPORTED',
      ...result('proxied.test', 'deferred', null, null, 'mx.proxied.test does not offer REQUIRETLS (RFC 8689 §4.2), which this message requires'),
    }),
    attempt('badane.test', t0 + 4000, {
      verification: 'none',
      verificationReason: 'no TLSA record matches',
      dane: true,
      errorCode: 'CERT_INVALID',
      ...result('badane.test', 'deferred', 451, '4.7.5', 'certificate of mx.badane.test does not match any of its TLSA records (DANE-EE 3 1 1)'),
    }),
    attempt('dmarc.test', t0 + 5000, {
      host: 'alt4.gmail-smtp-in.l.google.test',
      ip: '2001:db8:4860:4864:20::1b',
      errorCode: 'SMTP_REPLY',
      permanent: true,
      ...result('dmarc.test', 'failed', 550, '5.7.26', DMARC),
    }),
  );
  repo.recordOutcome(
    ID,
    attempts,
    rcpts.map((r) => ({ id: r.id, state: 'delivered' as const, nextAttemptAt: null, code: 250, enhancedCode: null, reply: 'ok', host: null, errorCode: null, countsAsAttempt: true })),
    null,
    t0 + 6000,
  );
});

afterAll(async () => {
  await env?.close();
});

const nav = (name: string) => env.page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: new RegExp(`^${name}`) });

test('the Log table fits at 900 px and at 1280 px and wider: nothing runs out of its cell or the card, a long reply ends in an ellipsis with the full reply as its tooltip', async () => {
  const { page } = env;
  await page.goto(env.host.url);
  await nav('Log').click();
  const rows = page.getByRole('table', { name: 'Attempts' }).locator('tbody tr');
  await expect.poll(() => rows.count()).toBe(5);
  const newestFirst = [...attempts].reverse();
  const outcomes = ['failed', 'deferred', 'deferred', 'delivered', 'delivered'];
  const truncatedAt: Record<number, boolean[]> = {};
  for (const vp of [
    { width: 900, height: 700 },
    { width: 1280, height: 800 },
    { width: 1600, height: 900 },
  ]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(50);
    const m = await page.evaluate(measureLogTable);
    // In the page's own locale, as the view formats them.
    const formats = await page.evaluate(
      (ats) => ats.map((at) => [new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' }).format(at), new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' }).format(at)]),
      newestFirst.map((a) => a.startedAt),
    );
    expect(m.wrapScroll, `${vp.width} px: the table scrolls sideways in its card`).toBeLessThanOrEqual(m.wrapClient);
    expect(m.spills, `${vp.width} px`).toEqual([]);
    m.rows.forEach((row, i) => {
      const a = newestFirst[i]!;
      const where = `${vp.width} px, row ${i}`;
      // The id's random part (its time part is the Time column), the whole id in the tooltip.
      expect(row.id, where).toBe('71be04');
      expect(row.idTitle, where).toBe(`Open message ${ID}`);
      expect(row.status, where).toBe(outcomes[i]);
      expect(row.statusWhole, where).toBe(true);
      // The whole reply is in the cell's text and its tooltip; cut short only with an ellipsis.
      expect(row.reply, where).toBe(describeReply(a));
      expect(row.replyTitle, where).toBe(describeReply(a));
      if (row.replyTruncated) expect(row.replyEllipsis, where).toBe(true);
      // The date and the time to the second, and the instant for machines.
      const [date, time] = formats[i]!;
      expect(row.time, where).toContain(date);
      expect(row.time, where).toContain(time);
      expect(row.datetime, where).toBe(new Date(a.startedAt).toISOString());
    });
    truncatedAt[vp.width] = m.rows.map((r) => r.replyTruncated);
    // Where the cell is wide enough, the IPv6 address goes whole to the line below its host
    // rather than being broken after "[2001:" (at 900 px it is broken after a colon).
    const addrLines = await rows
      .nth(0)
      .locator('.addr')
      .evaluate((el) => Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)));
    expect(addrLines, `${vp.width} px`).toBe(vp.width === 900 ? 2 : 1);
  }
  // The test saw both cases: the DMARC refusal is cut at every width; a short reply at none, and
  // Postfix's usual one ("250 2.0.0 Ok: queued as …", 36 characters) only at 900 px.
  expect(truncatedAt[900]![0]).toBe(true);
  expect(truncatedAt[900]![3]).toBe(false);
  for (const w of [1280, 1600]) {
    expect(truncatedAt[w]![0], `${w} px`).toBe(true);
    expect(truncatedAt[w]!.slice(3), `${w} px`).toEqual([false, false]);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  expect(env.errors).toEqual([]);
});

test('the Log view with long replies and names: axe in light and dark, screenshots at 1280 and 900 px', async () => {
  await checkView(env.page, 'log-long');
  expect(env.errors).toEqual([]);
});
