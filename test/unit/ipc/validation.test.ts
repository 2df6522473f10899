import { afterAll, beforeAll, expect, test } from 'vitest';
import { channelNames, type ChannelName } from '../../../shared/contract';
import { Outbox } from '../../../src-main/core/outbox';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../store/fixtures';

let core: Outbox;
let table: HandlerTable;
let cleanup: () => void;

beforeAll(() => {
  const t = tmpDir('outbox-ipc-');
  cleanup = t.cleanup;
  core = new Outbox({ dataDir: t.dir, version: '1.2.3' });
  core.store.insertMessage(newMessage('m1', 1000));
  table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
});
afterAll(async () => {
  await core.close();
  cleanup();
});

/** Every table's full content: "writes nothing" means this is unchanged. */
function snapshot(): string {
  const tables = (core.store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
  return JSON.stringify(tables.map((t) => [t, core.store.db.prepare(`SELECT * FROM "${t}"`).all()]));
}

const generic: unknown[] = [null, 42, 'text', [], [1, 2], true, { __proto__: { admin: true } , unexpected: 1 }];

/** Payloads that are wrong for each channel specifically; every channel must be listed. */
const specific: Record<ChannelName, unknown[]> = {
  'app.info': [{ x: 1 }],
  'settings.get': [{ key: 'ehloName' }],
  'settings.set': [{ concurrency: 0 }, { ehloName: 'a b' }, { ehloName: 'x\r\nBcc: evil@x' }, { theme: 'neon' }, { unknownSetting: 1 }],
  'outbox.list': [{ limit: 0 }, { limit: 100000 }, { offset: -1 }, { status: 'exploded' }, { sort: 'random' }],
  'outbox.get': [{}, { id: 5 }, { id: '' }, { id: 'x'.repeat(65) }],
  'attempts.list': [{ limit: -5 }, { messageId: 7 }, { since: 'yesterday' }],
  'drafts.save': [
    { to: ['a@example.org\r\nBcc: evil@example.org'] },
    { subject: 'hi\nX-Injected: 1' },
    { from: 'me@example.org\0' },
    { tlsMode: 'none' },
    { attachments: [{ path: '' }] },
    { attachments: [{ path: '/etc/passwd' }] },
    { attachments: [{ token: 'short' }] },
    { to: 'a@example.org' },
  ],
  'drafts.list': [{ all: true }],
  'drafts.load': [{}, { id: 1 }],
  'drafts.delete': [{ id: null }],
  'identities.list': [{ id: 1 }],
  'outbox.send': [{ to: ['a@example.org\nBcc: x@example.org'] }, { subject: 'x\r\n' }, { tlsMode: 'yes' }, { attachments: 'x' }, { extra: 1 }],
  'outbox.preview': [{}, { messageId: 5 }, { messageId: '' }, { messageId: 'x'.repeat(65) }, { messageId: 'm', path: '/etc/passwd' }],
  'outbox.editAndResend': [{}, { messageId: null }, { messageId: 'x'.repeat(65) }, { messageId: 'm', attachments: ['/etc/passwd'] }],
  'outbox.undoSend': [{}, { messageId: 5 }, { messageId: '' }, { messageId: 'x'.repeat(65) }, { messageId: 'm', draft: {} }],
  'outbox.action': [{ messageId: 'm1', action: 'delete' }, { messageId: 'm1' }, { action: 'hold' }, { messageId: 'm1', action: 'hold', recipientId: 'a' }],
  'outbox.setTlsMode': [{ messageId: 'm1', tlsMode: 'none' }, { messageId: 'm1' }],
  'compose.checkAddresses': [{ addresses: 'a@b' }, { addresses: [1] }],
  'compose.suggestAddresses': [{}, { query: 5 }, { query: 'a', limit: 0 }, { query: 'a', limit: 1000 }, { query: 'x'.repeat(321) }, { query: 'a', exclude: 'b' }],
  'compose.forgetAddress': [{}, { address: '' }, { address: 1 }],
  'compose.pickAttachments': [{ dir: '/' }],
  'compose.statAttachments': [{ paths: '/etc/passwd' }, { paths: [''] }],
  'notices.markSeen': [{ ids: [] }, { ids: 'all' }, { ids: [1.5] }],
  'notices.list': [{ limit: 0 }, { limit: 'all' }],
  'identities.create': [{ address: 'me@example.org\r\nBcc: x' }, { address: 'me@example.org', displayName: 'A\nB' }, { displayName: 'x' }],
  'identities.update': [{ id: 'one' }, { id: 1, displayName: 'x\r\ny' }, { id: 1, signature: 'a\r\nb' }, { id: 1, signature: 'evil\u202eexe' }, { id: 1, signature: 'x'.repeat(4001) }],
  'identities.delete': [{ id: '1' }],
  'identities.generateKey': [{ id: 1, algorithm: 'dsa', selector: 's1' }, { id: 1, algorithm: 'rsa-sha256', selector: 'bad selector' }, { id: 1, algorithm: 'rsa-sha256', selector: 'a._domainkey' }],
  'identities.dkimRecord': [{}],
  'identities.checkDns': [{ id: null }],
  'tls.probe': [{ domain: '' }, { domain: 5 }],
  'logs.export': [{ format: 'xlsx' }, { format: 'csv', since: 'today' }],
  'logs.openFolder': [{ path: '/' }],
  'outbox.exportEml': [{}, { messageId: 3 }, { messageId: 'm1', path: '/etc/passwd' }],
  'transports.list': [{ all: true }],
  'transports.save': [
    {},
    { transport: { name: 'x', type: 'teleport' } },
    { transport: { name: 'bad name', type: 'direct' } },
    { transport: { name: 'r', type: 'smarthost', host: 'h.example\r\nRCPT' } },
    { transport: { name: 'r', type: 'smarthost', host: 'h.example', port: 70000 } },
    { transport: { name: 'r', type: 'submission', host: 'h.example', user: 'u' }, password: 'a\nb' },
    // The renderer never names a file or variable for main to read.
    { transport: { name: 'r', type: 'submission', host: 'h.example', user: 'u' }, passwordFile: '/etc/shadow' },
    { transport: { name: 'r', type: 'submission', host: 'h.example', user: 'u', secretRef: 'file:/etc/shadow' } },
  ],
  'transports.remove': [{}, { name: '' }, { name: '../x' }],
  'transports.test': [{}, { name: 5 }, { name: 'x', domain: '' }],
  'routes.add': [{}, { transport: 'x', fromAttempt: 0 }, { transport: 'x', recipientDomain: 'y'.repeat(300) }, { transport: 'x', extra: 1 }],
  'routes.remove': [{}, { id: 'one' }],
  'routes.move': [{ id: 1 }, { id: 1, before: 'x' }],
  'routes.match': [{}, { sender: 'a@b.example' }, { sender: 'a@b.example', domains: [''] }],
  'tls.hints': [{}, { domains: 'example.org' }, { domains: [''] }],
  'suppression.list': [{ all: 1 }],
  'suppression.add': [{}, { address: 'a@b.example\r\nBcc: x' }, { address: 'a@b.example', identityId: 'one' }, { address: 'a@b.example', reason: 'x'.repeat(501) }],
  'suppression.remove': [{}, { address: 5 }],
  'holdRules.list': [{ x: 1 }],
  'holdRules.add': [{ sender: 'a\nb' }, { recipient: 7 }, { other: 'x' }],
  'holdRules.remove': [{}, { id: 'one' }],
  'queue.pause': [{ now: true }],
  'queue.resume': [{ all: true }],
  'tlsReports.build': [{}, { date: 'yesterday' }, { date: '2026-1-1' }],
  'dsn.get': [{}, { messageId: 3 }, { messageId: 'x'.repeat(65) }],
  'dsn.save': [{}, { messageId: 'm1', path: '/etc/passwd' }],
  'readiness.run': [{ from: 5 }, { from: '' }, { targets: { port25: ['203.0.113.1'] } }, { from: 'x'.repeat(999) }],
  'readiness.last': [{ all: true }],
  'readiness.sendBlock': [{}, { from: 'a@b.test' }, { from: 'a@b.test', recipientDomains: 'b.test' }, { from: 'a@b.test', recipientDomains: [], route: 'x' }],
};

test('every channel has malformed-payload cases', () => {
  expect(Object.keys(specific).sort()).toEqual([...channelNames].sort());
});

test.each(channelNames)('%s rejects malformed payloads with a typed validation error and writes nothing', async (channel) => {
  for (const payload of [...generic, ...specific[channel]]) {
    // Channels whose request is an object with only optional fields accept {} — not in `generic`.
    const before = snapshot();
    const result = await dispatch(table, channel, payload);
    expect(result, `${channel} accepted ${JSON.stringify(payload)}`).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    if (!result.ok) expect(result.error.fields?.length).toBeGreaterThan(0);
    expect(snapshot()).toBe(before);
  }
});

test('an unknown channel is refused', async () => {
  expect(await dispatch(table, 'fs.readFile', { path: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
  expect(await dispatch(table, '__proto__', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
  expect(await dispatch(table, 'toString', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
});

test('valid requests pass through to the real core', async () => {
  expect(await dispatch(table, 'app.info', {})).toMatchObject({ ok: true, value: { version: '1.2.3' } });
  const list = await dispatch(table, 'outbox.list', {});
  expect(list).toMatchObject({ ok: true, value: { total: 1 } });
  const saved = await dispatch(table, 'drafts.save', { to: ['a@example.org'], subject: 'hello' });
  expect(saved.ok).toBe(true);
  const id = (saved as { value: { id: string } }).value.id;
  expect(await dispatch(table, 'drafts.load', { id })).toMatchObject({ ok: true, value: { subject: 'hello', to: ['a@example.org'] } });
  expect(await dispatch(table, 'outbox.get', { id: 'nope' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
});
