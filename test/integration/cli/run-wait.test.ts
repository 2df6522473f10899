/**
 * Issue 10 item 5: `outbox run` is a long-running queue runner (it keeps running while nothing
 * is due and performs each retry at its time), `run --once` does what is due and exits, and
 * `send --wait N` keeps its deadline even when a server never answers.
 */
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { spawnCli } from '../../helpers/cli';
import { tmpDir } from '../../helpers/tmp';

let dns: FakeDns;
let peer: SmtpPeer;
let silent: net.Server;
const silentSockets = new Set<net.Socket>();

const cli = (args: string[]) => spawnCli(args).done;

beforeAll(async () => {
  dns = await startFakeDns();
  peer = await startSmtpPeer();
  // Accepts the TCP connection and never sends a greeting (a tarpit).
  silent = net.createServer((s) => {
    silentSockets.add(s);
    s.on('close', () => silentSockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  dns.add('dest.test', 'MX', [{ preference: 10, exchange: 'mx.dest.test' }]);
  dns.add('mx.dest.test', 'A', ['127.0.0.1']);
});
afterAll(async () => {
  for (const s of silentSockets) s.destroy();
  await new Promise((r) => silent.close(r));
  await peer.close();
  await dns.close();
});

test('outbox run keeps running when nothing is due and performs a deferred retry at its time', async () => {
  const t = tmpDir('outbox-run-');
  try {
    const common = ['--data-dir', t.dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test'];
    const queued = await cli(['send', '--from', 'me@sender.test', '--to', 'later@dest.test', '--subject', 'retry later', '--json', ...common]);
    expect(queued.code).toBe(0);
    const { messageId } = JSON.parse(queued.stdout) as { messageId: string };
    // As if the first attempt had been deferred: the retry is due in 3 s.
    const dueAt = Date.now() + 3000;
    const db = new Database(path.join(t.dir, 'outbox.sqlite3'));
    db.prepare("UPDATE recipients SET state = 'deferred', attempts = 1, next_attempt_at = ? WHERE message_id = ?").run(dueAt, messageId);
    db.close();

    const before = peer.messages.length;
    const run = spawnCli(['run', ...common]);
    let exited = false;
    void run.done.then(() => (exited = true));
    // Still running while nothing is due (today: exit 13 within 0.4 s).
    await new Promise((r) => setTimeout(r, 1000));
    expect(exited).toBe(false);
    expect(peer.messages.length).toBe(before);
    // The retry happens at its time, without any other trigger.
    const deadline = Date.now() + 15_000;
    while (peer.messages.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(peer.messages.length).toBe(before + 1);
    expect(Date.now()).toBeGreaterThanOrEqual(dueAt - 50);
    expect(peer.messages.at(-1)!.rcptTo).toEqual(['later@dest.test']);
    expect(exited).toBe(false);
    run.child.kill('SIGINT');
    const out = await run.done;
    expect(out.code).toBe(0);

    const q = JSON.parse((await cli(['queue', '--json', ...common])).stdout) as { messages: { id: string; recipients: { state: string }[] }[] };
    expect(q.messages.find((m) => m.id === messageId)!.recipients.map((r) => r.state)).toEqual(['delivered']);
  } finally {
    t.cleanup();
  }
}, 60_000);

test('outbox run --once does what is due and exits', async () => {
  const t = tmpDir('outbox-run-once-');
  try {
    const common = ['--data-dir', t.dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test'];
    expect((await cli(['send', '--from', 'me@sender.test', '--to', 'once@dest.test', ...common])).code).toBe(0);
    const before = peer.messages.length;
    const out = await cli(['run', '--once', ...common]);
    expect(out.code).toBe(0);
    expect(peer.messages.length).toBe(before + 1);
  } finally {
    t.cleanup();
  }
});

test('send --wait N returns after at most N seconds plus a small margin when the server never answers', async () => {
  const t = tmpDir('outbox-wait-');
  try {
    const common = ['--data-dir', t.dir, '--dns', dns.address, '--smtp-port', String((silent.address() as net.AddressInfo).port), '--ehlo', 'cli.outbox.test'];
    const started = Date.now();
    const out = await cli(['send', '--from', 'me@sender.test', '--to', 'tarpit@dest.test', '--wait', '3', '--json', ...common]);
    const elapsed = Date.now() - started;
    // 3 s plus the margin of starting Node and tsx (today: the 5-minute greeting timeout).
    expect(elapsed).toBeLessThan(3000 + 6000);
    expect(out.code).toBe(1);
    const sent = JSON.parse(out.stdout) as { recipients: { status: string }[] };
    expect(sent.recipients[0]!.status).toBe('deferred');
    // Nothing is left "sending": the recipient waits for its retry.
    const q = JSON.parse((await cli(['queue', '--json', ...common])).stdout) as { messages: { recipients: { state: string }[] }[] };
    expect(q.messages[0]!.recipients[0]!.state).toBe('deferred');
  } finally {
    t.cleanup();
  }
}, 60_000);

test('outbox tls-mode ID optional|default switches a queued message: TLS-Required: No is sent, or not; a bad mode is exit 2', async () => {
  const t = tmpDir('outbox-tls-mode-');
  try {
    const common = ['--data-dir', t.dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test'];
    const { messageId } = JSON.parse((await cli(['send', '--from', 'me@sender.test', '--to', 'opt@dest.test', '--json', ...common])).stdout) as { messageId: string };
    const bad = await cli(['tls-mode', messageId, 'sometimes', ...common]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/default, require or optional/);
    expect((await cli(['tls-mode', 'no-such-id', 'optional', ...common])).code).toBe(2);
    expect((await cli(['tls-mode', messageId, 'optional', ...common])).code).toBe(0);
    expect((await cli(['run', '--once', ...common])).code).toBe(0);
    expect(peer.messages.at(-1)!.rcptTo).toEqual(['opt@dest.test']);
    expect(peer.messages.at(-1)!.body.toString()).toMatch(/^TLS-Required: No\r\n/);

    const second = JSON.parse((await cli(['send', '--from', 'me@sender.test', '--to', 'back@dest.test', '--tls-optional', '--json', ...common])).stdout) as { messageId: string };
    expect((await cli(['tls-mode', second.messageId, 'default', ...common])).code).toBe(0);
    expect((await cli(['run', '--once', ...common])).code).toBe(0);
    expect(peer.messages.at(-1)!.rcptTo).toEqual(['back@dest.test']);
    expect(peer.messages.at(-1)!.body.toString()).not.toMatch(/TLS-Required/i);
  } finally {
    t.cleanup();
  }
}, 120_000);
