/**
 * Issue 10 items 7 and 12, through the real engine against an in-process SMTP peer:
 * - the queued file is the message: size and SHA-256 stored at enqueue and verified while it
 *   streams; a replaced, truncated or missing file fails the message with a clear reason and
 *   is never sent (the DATA is aborted before the final dot); temporary files of an
 *   interrupted enqueue are removed at start-up;
 * - the TLS mode changed after queueing takes full effect: `TLS-Required: No` is added above
 *   the stored header at delivery time (outside the DKIM signature) and removed again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { LocalDraft as DraftSchema, type DraftInput } from '../../../shared/domain';
import { createIdentity } from '../../../src-main/core/identities';
import { Outbox } from '../../../src-main/core/outbox';
import { startScriptedPeer, startSmtpPeer, type ScriptedPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { startHarness, type Harness } from './harness';

let peer: SmtpPeer;
let h: Harness;

beforeAll(async () => {
  peer = await startSmtpPeer();
});
afterAll(async () => {
  await peer.close();
});
beforeEach(async () => {
  h = await startHarness();
  h.dns.add('dest.test', 'MX', [{ preference: 10, exchange: 'mx.dest.test' }]);
  h.dns.add('mx.dest.test', 'A', ['127.0.1.10']);
  h.routes.set('127.0.1.10', peer.port);
});
afterEach(async () => {
  await h.close();
});

async function queue(input: DraftInput = {}): Promise<{ id: string; file: string }> {
  const r = await h.core.submit(DraftSchema.parse({ from: 'sender@outbox.test', to: ['rcpt@dest.test'], subject: 'file', text: 'The queued body.\n', ...input }));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { id: r.messageId, file: path.join(h.core.store.messagesDir, `${r.messageId}.eml`) };
}

async function runOnce(id: string): Promise<void> {
  h.core.queue.onlyMessage(id);
  h.core.queue.start();
  await h.core.queue.firstAttemptsDone(id);
  await h.core.queue.stop();
}

const recipient = (id: string) => h.core.store.getMessage(id)!.recipients[0]!;

test('a queued file replaced by other bytes of the same size is not sent: DATA aborted before the final dot, the message fails with the reason', async () => {
  const { id, file } = await queue();
  const original = fs.readFileSync(file);
  fs.writeFileSync(file, Buffer.from(original.toString('latin1').replace('The queued body.', 'A forged body!!!'), 'latin1'));
  expect(fs.statSync(file).size).toBe(original.length);
  const before = peer.messages.length;
  await runOnce(id);
  expect(peer.messages.length).toBe(before);
  const r = recipient(id);
  expect(r).toMatchObject({ state: 'failed', lastErrorCode: 'MESSAGE_FILE', nextAttemptAt: null });
  expect(r.lastReply).toMatch(/was changed: its SHA-256 does not match/);
  // The attempt got to DATA and was dropped there (the dial happened; no dot was written).
  expect(h.dialed).toEqual(['127.0.1.10']);
  const attempt = h.core.store.getMessage(id)!.attempts.at(-1)!;
  expect(attempt).toMatchObject({ stage: 'data', errorCode: 'MESSAGE_FILE', permanent: true });
  expect(attempt.transcript.some((l) => l.dir === 'c' && l.text === '.')).toBe(false);
});

test('a truncated queued file fails the message before anything is dialed, with the reason', async () => {
  const { id, file } = await queue();
  const size = fs.statSync(file).size;
  fs.truncateSync(file, size - 10);
  await runOnce(id);
  expect(h.dialed).toEqual([]);
  expect(recipient(id)).toMatchObject({ state: 'failed', lastErrorCode: 'MESSAGE_FILE', attempts: 1 });
  expect(recipient(id).lastReply).toContain(`${size - 10} bytes instead of ${size}`);
});

test('a missing queued file fails the message permanently at once with that reason (not retried as INTERNAL)', async () => {
  const { id, file } = await queue();
  fs.rmSync(file);
  await runOnce(id);
  expect(h.dialed).toEqual([]);
  const r = recipient(id);
  expect(r).toMatchObject({ state: 'failed', lastErrorCode: 'MESSAGE_FILE', nextAttemptAt: null });
  expect(r.lastReply).toMatch(/queued message file messages\/.+\.eml is missing/);
  expect(h.core.store.listNotices(10).some((n) => n.messageId === id && n.kind === 'failure' && /is missing/.test(n.text))).toBe(true);
});

test('a file that grows while it is sent is cut off before the final dot', async () => {
  // A scripted peer that appends to the queued file once the data has started.
  const { id, file } = await queue({ text: 'x'.repeat(200_000) });
  let grown = false;
  const slow: ScriptedPeer = await startScriptedPeer(async (c) => {
    c.write('220 slow.test ESMTP\r\n');
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      if (/^EHLO/i.test(line)) c.write('250-slow.test\r\n250 8BITMIME\r\n');
      else if (/^(MAIL|RCPT)/i.test(line)) c.write('250 ok\r\n');
      else if (/^DATA/i.test(line)) {
        c.write('354 go\r\n');
        fs.appendFileSync(file, 'appended\r\n');
        grown = true;
        for (;;) {
          const l = await c.readLine();
          if (l === null) return;
          if (l === '.') return void c.write('250 accepted a message that was changed\r\n');
        }
      } else if (/^QUIT/i.test(line)) return void c.write('221 bye\r\n');
    }
  });
  try {
    h.routes.set('127.0.1.10', slow.port);
    await runOnce(id);
    expect(grown).toBe(true);
    expect(recipient(id)).toMatchObject({ state: 'failed', lastErrorCode: 'MESSAGE_FILE' });
  } finally {
    await slow.close();
  }
});

test('temporary files of an interrupted enqueue are removed at start-up; a queued file and its envelope stay', async () => {
  const { id } = await queue();
  const dir = h.core.store.messagesDir;
  const leftovers = [`.${id}x.eml.0123456789ab.tmp`, `.${id}x.eml.0123456789ab.unsigned`, `${id}y.eml.tmp`, `${id}y.json.tmp`];
  for (const f of leftovers) fs.writeFileSync(path.join(dir, f), 'partial');
  // An .eml + envelope whose database commit never happened (never acknowledged).
  fs.writeFileSync(path.join(dir, '0000000zz-0123456789ab.eml'), 'x');
  fs.copyFileSync(path.join(dir, `${id}.json`), path.join(dir, '0000000zz-0123456789ab.json'));
  const dataDir = h.core.dataDir;
  h.core.store.close();
  const again = new Outbox({ dataDir });
  try {
    expect(fs.readdirSync(dir).sort()).toEqual([`${id}.eml`, `${id}.json`]);
  } finally {
    again.store.close();
  }
  // The harness closes its own core; give it a store to close.
  (h.core as { store: unknown }).store = new Outbox({ dataDir }).store;
});

test('switching a queued message to TLS optional sends TLS-Required: No above the stored, DKIM-signed header; switching back removes it', async () => {
  createIdentity(h.core.store, 0, { address: 'sender@outbox.test', displayName: 'Sender', algorithms: ['ed25519-sha256'] });
  const { id, file } = await queue();
  const stored = fs.readFileSync(file);
  expect(stored.toString()).toMatch(/^DKIM-Signature:/);
  expect(stored.toString()).not.toMatch(/^TLS-Required:/im);
  // The signature does not cover TLS-Required (covering an absent field asserts its absence).
  expect(/h=([^;]+)/.exec(stored.toString().replace(/\r\n[ \t]+/g, ''))![1]!.toLowerCase()).not.toContain('tls-required');

  expect(h.core.queue.setTlsMode(id, 'tls-optional')).toBe(true);
  await runOnce(id);
  const sent = peer.messages.at(-1)!.body;
  expect(sent.subarray(0, 18).toString()).toBe('TLS-Required: No\r\n');
  expect(sent.subarray(18).equals(stored)).toBe(true);

  // A message queued as TLS optional and switched back goes out exactly as stored.
  const second = await queue({ tlsMode: 'tls-optional' });
  const stored2 = fs.readFileSync(second.file);
  expect(stored2.toString()).not.toMatch(/TLS-Required/i);
  expect(h.core.queue.setTlsMode(second.id, 'default')).toBe(true);
  await runOnce(second.id);
  expect(peer.messages.at(-1)!.body.equals(stored2)).toBe(true);
});

test('a message failed by REQUIRETLS can be switched to TLS optional and re-queued: it is delivered with TLS-Required: No', async () => {
  const { id, file } = await queue({ tlsMode: 'requiretls' });
  await runOnce(id);
  expect(recipient(id).state).toBe('failed');
  expect(h.core.queue.setTlsMode(id, 'tls-optional')).toBe(true);
  expect(h.core.queue.act('retry', id)).toHaveLength(1);
  await runOnce(id);
  expect(recipient(id).state).toBe('delivered');
  const sent = peer.messages.at(-1)!.body;
  expect(sent.subarray(0, 18).toString()).toBe('TLS-Required: No\r\n');
  expect(sent.subarray(18).equals(fs.readFileSync(file))).toBe(true);
});
