/**
 * Settings → Sending over IPC: a password goes renderer → main into the keychain and never
 * comes back — not in list/save/test responses, not in errors, not in the log export, not in
 * the electron log folder's neighbour (the database file holds only the keychain's blob).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createStubResolver } from '../../../src-main/core/dns';
import { exportAttempts } from '../../../src-main/core/export/export';
import { Outbox } from '../../../src-main/core/outbox';
import type { SecretCipher } from '../../../src-main/core/sending/secrets';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { createTestCa, type TestCa } from '../../helpers/certs';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';

const PASSWORD = 'ipc-Secret-Pa55word-ü';
let core: Outbox;
let table: HandlerTable;
let dns: FakeDns;
let ca: TestCa;
let peer: SmtpPeer;
let dir: string;
let cleanup: () => void;
const responses: string[] = [];

// Stand-in for Electron's safeStorage: the blob does not contain the plain text.
const cipher: SecretCipher = {
  isAvailable: () => true,
  encrypt: (s) => Buffer.from(Buffer.from(s, 'utf8').map((b) => b ^ 0xa5)),
  decrypt: (b) => Buffer.from(b.map((x) => x ^ 0xa5)).toString('utf8'),
};

beforeAll(async () => {
  ({ dir, cleanup } = tmpDir('outbox-ipc-secrets-'));
  dns = await startFakeDns();
  ca = createTestCa();
  const leaf = ca.issue({ names: ['relay.ipc.test'] });
  peer = await startSmtpPeer({
    tls: { key: leaf.keyPem, cert: leaf.chainPem },
    server: { authOptional: false, disabledCommands: [], authMethods: ['PLAIN'], onAuth: (a, _s, cb) => (a.password === PASSWORD ? cb(null, { user: a.username }) : cb(new Error('Invalid username or password'))) },
  });
  dns.add('relay.ipc.test', 'A', ['127.0.0.1']);
  core = new Outbox({
    dataDir: dir,
    secretCipher: cipher,
    network: { resolver: createStubResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }), extraCa: [ca.certPem], ehloName: 'client.ipc.test', connectTimeoutMs: 2000 },
  });
  table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
});
afterAll(async () => {
  await core.close();
  await peer.close();
  await dns.close();
  ca.cleanup();
  cleanup();
});

const call = async (channel: string, payload: unknown) => {
  const r = (await dispatch(table, channel, payload)) as { ok: boolean; value?: any; error?: any };
  responses.push(JSON.stringify(r));
  return r;
};

test('save, list, test and errors never carry the password; the keychain blob does not contain it', async () => {
  const saved = await call('transports.save', { transport: { name: 'relay', type: 'submission', host: 'relay.ipc.test', port: peer.port, user: 'me', auth: 'plain' }, password: PASSWORD });
  expect(saved).toMatchObject({ ok: true, value: { name: 'relay', hasPassword: true, passwordSource: 'keychain' } });
  expect((await call('transports.list', {})).value.transports.map((t: { name: string }) => t.name)).toEqual(['direct', 'relay']);
  const tested = await call('transports.test', { name: 'relay' });
  expect(tested.value).toMatchObject({ ok: true, auth: 'PLAIN', verification: 'pkix' });
  // A wrong password: the error says so, without either password.
  await call('transports.save', { transport: { name: 'bad', type: 'submission', host: 'relay.ipc.test', port: peer.port, user: 'me', auth: 'plain' }, password: 'Wrong-Pa55' });
  const failed = await call('transports.test', { name: 'bad' });
  expect(failed.value).toMatchObject({ ok: false, stage: 'auth', error: expect.stringMatching(/refused the user name or password/) });
  // Invalid input: refused, nothing stored.
  expect((await call('transports.save', { transport: { name: 'smart', type: 'smarthost', host: 'relay.ipc.test' }, password: PASSWORD })).error).toMatchObject({ code: 'VALIDATION' });
  expect((await call('transports.list', {})).value.transports).toHaveLength(3);

  // Deliver through it, then look everywhere.
  expect((await call('routes.add', { transport: 'relay' })).ok).toBe(true);
  const sent = await call('outbox.send', { from: 'me@ipc.test', to: ['x@far.test'], subject: 's', text: 't' });
  core.queue.onlyMessage(sent.value.messageId);
  core.queue.start();
  await core.queue.firstAttemptsDone(sent.value.messageId);
  await core.queue.stop();
  const detail = await call('outbox.get', { id: sent.value.messageId });
  expect(detail.value.recipients[0].state).toBe('delivered');
  expect(detail.value.attempts[0]).toMatchObject({ transport: 'relay' });
  await call('attempts.list', {});
  const chunks: Buffer[] = [];
  for (const format of ['csv', 'json', 'ndjson'] as const) await exportAttempts(core.store, { format }, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  const everything = [...responses, Buffer.concat(chunks).toString('utf8')].join('\n');
  for (const secret of [PASSWORD, 'Wrong-Pa55', Buffer.from(PASSWORD).toString('base64'), Buffer.from(`\0me\0${PASSWORD}`).toString('base64')]) {
    expect(everything).not.toContain(secret);
  }
  core.store.db.pragma('wal_checkpoint(TRUNCATE)');
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('outbox.sqlite3'))) {
    expect(fs.readFileSync(path.join(dir, f)).includes(Buffer.from(PASSWORD))).toBe(false);
  }
});

test('the renderer cannot name a file or variable for main to read', async () => {
  const r = await call('transports.save', { transport: { name: 'f', type: 'submission', host: 'relay.ipc.test', user: 'me' }, passwordFile: '/etc/shadow' });
  expect(r.error).toMatchObject({ code: 'VALIDATION' });
});
