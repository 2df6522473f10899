/** The IPC handlers on the real core: what the renderer gets back for drafts, identities, send, hints. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createStubResolver } from '../../../src-main/core/dns';
import { Outbox } from '../../../src-main/core/outbox';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { tmpDir } from '../../helpers/tmp';

let core: Outbox;
let table: HandlerTable;
let dns: FakeDns;
let cleanup: () => void;

beforeAll(async () => {
  const t = tmpDir('outbox-handlers-');
  cleanup = t.cleanup;
  dns = await startFakeDns();
  core = new Outbox({ dataDir: t.dir, network: { resolver: createStubResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }) } });
  table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
});
afterAll(async () => {
  await core.close();
  await dns.close();
  cleanup();
});

const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;

test('drafts: save, list, load, delete', async () => {
  const saved = await call('drafts.save', { to: ['a@example.org'], subject: 'Draft one', text: 'hi' });
  expect(saved.ok).toBe(true);
  const id = saved.value.id;
  expect((await call('drafts.list', {})).value).toEqual([{ id, updatedAt: expect.any(Number), subject: 'Draft one', to: ['a@example.org'] }]);
  await call('drafts.save', { id, to: ['a@example.org', 'b@example.org'], subject: 'Draft one, edited' });
  expect((await call('drafts.load', { id })).value).toMatchObject({ id, subject: 'Draft one, edited', to: ['a@example.org', 'b@example.org'] });
  expect((await call('drafts.delete', { id })).ok).toBe(true);
  expect((await call('drafts.load', { id })).error.code).toBe('NOT_FOUND');
});

test('identities: create, generate a DKIM key, show the record, check DNS', async () => {
  expect((await call('identities.create', { address: 'not an address' })).error).toMatchObject({ code: 'VALIDATION', fields: [{ path: 'address' }] });
  const created = await call('identities.create', { address: 'me@bücher.example', displayName: 'Me' });
  expect(created.value).toMatchObject({ address: 'me@bücher.example', displayName: 'Me', isDefault: true, dkimSelector: null });
  const id = created.value.id;
  expect((await call('identities.dkimRecord', { id })).error.code).toBe('CONFLICT');
  const gen = await call('identities.generateKey', { id, algorithm: 'rsa-sha256', selector: 'Desk2026' });
  expect(gen.value.identity).toMatchObject({ dkimSelector: 'desk2026', dkimAlgorithm: 'rsa-sha256' });
  expect(gen.value.record.name).toBe('desk2026._domainkey.xn--bcher-kva.example');
  expect(gen.value.record.value).toMatch(/^v=DKIM1; k=rsa; p=MII/);
  // Private keys never cross to the renderer.
  expect(JSON.stringify(gen.value)).not.toContain('PRIVATE KEY');
  expect((await call('identities.list', {})).value[0]).not.toHaveProperty('dkimPrivateKey');

  expect((await call('identities.checkDns', { id })).value).toMatchObject({ published: false, matches: false });
  const v = gen.value.record.value as string;
  dns.add(gen.value.record.name, 'TXT', [[v.slice(0, 200), v.slice(200)]]);
  expect((await call('identities.checkDns', { id })).value).toMatchObject({ published: true, matches: true });
});

test('send: field errors point at the entry; a valid draft is queued durably', async () => {
  const bad = await call('outbox.send', { from: 'me@example.org', to: ['ok@example.net', 'broken@@example.net'], subject: 'x' });
  expect(bad.error.code).toBe('VALIDATION');
  expect(bad.error.fields).toEqual([{ path: 'to.1', message: expect.any(String) }]);
  expect(core.store.listMessages({}).total).toBe(0);

  const none = await call('outbox.send', { from: 'me@example.org', subject: 'x' });
  expect(none.error.code).toBe('VALIDATION');

  const good = await call('outbox.send', { from: 'Me <me@example.org>', to: ['ok@example.net'], bcc: ['hidden@example.com'], subject: 'Grüße', text: 'Hallo' });
  expect(good.ok).toBe(true);
  const m = core.store.getMessage(good.value.messageId)!;
  expect(m.recipients.map((r) => [r.address, r.kind, r.state])).toEqual([
    ['ok@example.net', 'to', 'queued'],
    ['hidden@example.com', 'bcc', 'queued'],
  ]);
  expect(m.subject).toBe('Grüße');
});

test('tls.hints: stored hints for the composer, and whether every domain supports REQUIRETLS', async () => {
  core.store.upsertDomainTls({ domain: 'a.example', starttls: true, requiretls: true, mtaStsMode: 'enforce', dane: false, seenAt: 1000 });
  core.store.upsertDomainTls({ domain: 'b.example', starttls: true, requiretls: false, mtaStsMode: null, dane: true, seenAt: 2000 });
  expect((await call('tls.hints', { domains: ['A.example'] })).value).toMatchObject({ allRequireTls: true, hints: [{ domain: 'a.example', requiretls: true }] });
  expect((await call('tls.hints', { domains: ['a.example', 'b.example'] })).value.allRequireTls).toBe(false);
  expect((await call('tls.hints', { domains: ['a.example', 'unknown.example'] })).value.allRequireTls).toBe(false);
  expect((await call('tls.hints', { domains: [] })).value.allRequireTls).toBe(false);
});

test('compose.checkAddresses: chips get display form, IDN in Unicode, or the reason', async () => {
  const r = (await call('compose.checkAddresses', { addresses: ['José <jose@xn--bcher-kva.example>', 'bad@', 'ünï@例え.テスト'] })).value;
  expect(r[0]).toMatchObject({ ok: true, domainUnicode: 'bücher.example', domainAscii: 'xn--bcher-kva.example' });
  expect(r[1]).toMatchObject({ ok: false, error: expect.any(String) });
  expect(r[2]).toMatchObject({ ok: true, needsSmtpUtf8: true });
});
