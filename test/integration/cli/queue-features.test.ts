/**
 * The queue-feature commands of the `outbox` CLI (issue 15) end to end under plain Node,
 * against an in-process SMTP peer and a fake DNS server on loopback: `export --dsn`,
 * `suppression`, `hold-rule`, `pause`/`unpause`, `history prune`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { Store } from '../../../src-main/core/store/store';
import { newMessageId } from '../../../src-main/core/submit';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../../unit/store/fixtures';
import { runCli } from '../../helpers/cli';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let dns: FakeDns;
let peer: SmtpPeer;
let connections = 0;
let cleanup: () => void;
let base: string;

const cli = runCli;
let n = 0;
/** A fresh data folder per test: tests never depend on each other. */
function freshDir(): string {
  const d = path.join(base, `d${++n}`);
  fs.mkdirSync(d);
  return d;
}
const common = (dir: string) => ['--data-dir', dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test'];
const send = (dir: string, to: string, extra: string[] = []) =>
  cli(['send', ...common(dir), '--from', 'me@sender.test', '--to', to, '--subject', 'Hi', '--text', '-', '--json', ...extra], 'Hello\n');

beforeAll(async () => {
  ({ dir: base, cleanup } = tmpDir('outbox-cli-features-'));
  dns = await startFakeDns();
  peer = await startSmtpPeer({
    rejectRcpt: { 'nobody@dest.test': 550 },
    server: {
      onConnect(_session, cb) {
        connections++;
        cb();
      },
    },
  });
  dns.add('dest.test', 'MX', [{ preference: 10, exchange: 'mx.dest.test' }]);
  dns.add('mx.dest.test', 'A', ['127.0.0.1']);
});
afterAll(async () => {
  await peer.close();
  await dns.close();
  cleanup();
});

test('export --dsn writes the RFC 3464 DSN of a failed message as .eml; a message without failures has none', async () => {
  const dir = freshDir();
  const sent = await send(dir, 'nobody@dest.test', ['--wait', '20']);
  expect(sent.code).toBe(1);
  const { messageId } = JSON.parse(sent.stdout) as { messageId: string };
  const out = path.join(dir, 'dsn.eml');
  const r = await cli(['export', '--dsn', messageId, '--out', out, ...common(dir)]);
  expect(r.code, r.stderr).toBe(0);
  const mail = await simpleParser(fs.readFileSync(out), { keepDeliveryStatus: true });
  const status = mail.attachments.find((a) => a.contentType === 'message/delivery-status')!.content.toString();
  expect(status).toContain('Reporting-MTA: dns; cli.outbox.test');
  expect(status).toContain('Final-Recipient: rfc822; nobody@dest.test');
  expect(status).toContain('Action: failed');
  expect(status).toMatch(/Status: 5\.1\.1/);
  expect(status).toMatch(/Diagnostic-Code: smtp; 550 5\.1\.1/);

  const ok = JSON.parse((await send(dir, 'someone@dest.test', ['--wait', '20'])).stdout) as { messageId: string };
  const none = await cli(['export', '--dsn', ok.messageId, '--out', path.join(dir, 'none.eml'), ...common(dir)]);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/no DSN/);
  expect(fs.existsSync(path.join(dir, 'none.eml'))).toBe(false);
  expect((await cli(['export', '--dsn', 'nope', ...common(dir)])).code).toBe(2);
}, 180_000);

test('suppression: a 550 5.1.1 suppresses; the next send exits 1 with status failed, attempts 0, the reason, and no connection', async () => {
  const dir = freshDir();
  expect((await send(dir, 'nobody@dest.test', ['--wait', '20'])).code).toBe(1);
  const list = JSON.parse((await cli(['suppression', 'list', '--json', ...common(dir)])).stdout) as { suppressions: { address: string; source: string; enhancedCode: string }[] };
  expect(list.suppressions).toMatchObject([{ address: 'nobody@dest.test', source: 'auto', enhancedCode: '5.1.1' }]);
  const before = connections;
  const again = await send(dir, 'nobody@dest.test', ['--wait', '20']);
  expect(again.code).toBe(1);
  expect(connections).toBe(before);
  const r = (JSON.parse(again.stdout) as { recipients: Record<string, unknown>[] }).recipients[0]!;
  expect(r).toMatchObject({ address: 'nobody@dest.test', status: 'failed', attempts: 0 });
  expect(r.reply).toMatch(/^suppressed: 5\.1\.1/);

  expect((await cli(['suppression', 'add', 'someone@dest.test', '--reason', 'unsubscribed', ...common(dir)])).code).toBe(0);
  const manual = JSON.parse((await send(dir, 'someone@dest.test', ['--wait', '20'])).stdout) as { recipients: { reply: string }[] };
  expect(manual.recipients[0]!.reply).toBe('suppressed: unsubscribed');
  expect((await cli(['suppression', 'remove', 'someone@dest.test', ...common(dir)])).code).toBe(0);
  expect((await send(dir, 'someone@dest.test', ['--wait', '20'])).code).toBe(0);
  expect((await cli(['suppression', 'add', 'not an address', ...common(dir)])).code).toBe(2);
}, 180_000);

test('hold-rule add/list/remove and pause/unpause; queue --json shows held recipients with the rule, across runs', async () => {
  const dir = freshDir();
  const add = await cli(['hold-rule', 'add', '--recipient', 'dest.test', '--json', ...common(dir)]);
  expect(add.code, add.stderr).toBe(0);
  const rule = JSON.parse(add.stdout) as { id: number };
  const queued = JSON.parse((await send(dir, 'x@dest.test')).stdout) as { messageId: string };
  const q = JSON.parse((await cli(['queue', '--json', ...common(dir)])).stdout) as { paused: boolean; messages: { id: string; recipients: Record<string, unknown>[] }[] };
  expect(q.paused).toBe(false);
  expect(q.messages.find((m) => m.id === queued.messageId)!.recipients[0]).toMatchObject({ state: 'held', holdRule: { id: rule.id, sender: null, recipient: 'dest.test' } });
  const before = connections;
  expect((await cli(['run', '--once', ...common(dir)])).code).toBe(0);
  expect(connections).toBe(before);
  expect(JSON.parse((await cli(['hold-rule', 'list', '--json', ...common(dir)])).stdout)).toMatchObject({ rules: [{ id: rule.id, held: 1 }] });
  expect((await cli(['hold-rule', 'remove', String(rule.id), ...common(dir)])).code).toBe(0);
  expect((await cli(['hold-rule', 'remove', String(rule.id), ...common(dir)])).code).toBe(2);

  expect((await cli(['pause', ...common(dir)])).code).toBe(0);
  const paused = JSON.parse((await cli(['queue', '--json', ...common(dir)])).stdout) as { paused: boolean; messages: { recipients: { state: string; holdRule: unknown }[] }[] };
  expect(paused.paused).toBe(true);
  expect(paused.messages[0]!.recipients[0]).toMatchObject({ state: 'held', holdRule: { sender: null, recipient: null } });
  expect((await cli(['run', '--once', ...common(dir)])).code).toBe(0);
  expect(connections).toBe(before);
  expect((await cli(['unpause', ...common(dir)])).code).toBe(0);
  expect((await cli(['run', '--once', ...common(dir)])).code).toBe(0);
  expect(connections).toBe(before + 1);
  const done = JSON.parse((await cli(['queue', '--json', ...common(dir)])).stdout) as { messages: { recipients: { state: string }[] }[] };
  expect(done.messages[0]!.recipients[0]!.state).toBe('delivered');
  expect((await cli(['hold-rule', 'add', '--sender', 'bad sender!', ...common(dir)])).code).toBe(2);
}, 180_000);

test('history prune removes finished messages older than --older-than days (default the setting); bad input exits 2', async () => {
  const dir = freshDir();
  const store = Store.open(dir);
  const old = newMessageId(Date.now() - 40 * 24 * 3600_000);
  store.insertMessage(newMessage(old, Date.now() - 40 * 24 * 3600_000));
  store.db.prepare("UPDATE recipients SET state = 'delivered'").run();
  fs.writeFileSync(store.absolutePath(`messages/${old}.eml`), 'Subject: old\r\n\r\n');
  store.close();
  const keep = await cli(['history', 'prune', '--json', ...common(dir)]);
  expect(JSON.parse(keep.stdout)).toMatchObject({ messages: 0 }); // 40 days < 90
  const r = await cli(['history', 'prune', '--older-than', '30', '--json', ...common(dir)]);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ messages: 1, files: 1 });
  expect(fs.existsSync(path.join(dir, 'messages', `${old}.eml`))).toBe(false);
  expect((await cli(['history', 'prune', '--older-than', 'soon', ...common(dir)])).code).toBe(2);
}, 180_000);
