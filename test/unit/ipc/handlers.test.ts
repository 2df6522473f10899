/** The IPC handlers on the real core: what the renderer gets back for drafts, identities, send, hints. */
import fs from 'node:fs';
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

test('identities: a new identity gets an RSA and an Ed25519 key; both records shown and checked', async () => {
  expect((await call('identities.create', { address: 'not an address' })).error).toMatchObject({ code: 'VALIDATION', fields: [{ path: 'address' }] });
  const created = await call('identities.create', { address: 'me@bücher.example', displayName: 'Me', selector: 'Desk2026' });
  expect(created.value).toMatchObject({
    address: 'me@bücher.example',
    displayName: 'Me',
    isDefault: true,
    dkimKeys: [
      { algorithm: 'rsa-sha256', selector: 'desk2026-rsa', record: { name: 'desk2026-rsa._domainkey.xn--bcher-kva.example', value: expect.stringMatching(/^v=DKIM1; k=rsa; p=MII/) } },
      { algorithm: 'ed25519-sha256', selector: 'desk2026-ed25519', record: { name: 'desk2026-ed25519._domainkey.xn--bcher-kva.example', value: expect.stringMatching(/^v=DKIM1; k=ed25519; p=/) } },
    ],
  });
  const id = created.value.id;
  // Private keys never cross to the renderer.
  expect(JSON.stringify(created.value)).not.toContain('PRIVATE KEY');
  expect(JSON.stringify((await call('identities.list', {})).value)).not.toContain('PRIVATE KEY');
  expect((await call('identities.dkimRecord', { id })).value.map((k: any) => k.record.name)).toEqual([
    'desk2026-rsa._domainkey.xn--bcher-kva.example',
    'desk2026-ed25519._domainkey.xn--bcher-kva.example',
  ]);

  expect((await call('identities.checkDns', { id })).value).toMatchObject({ published: false, matches: false });
  for (const k of created.value.dkimKeys) {
    const v = k.record.value as string;
    dns.add(k.record.name, 'TXT', [[v.slice(0, 200), v.slice(200)]]);
  }
  expect((await call('identities.checkDns', { id })).value).toMatchObject({ published: true, matches: true, keys: [{ matches: true }, { matches: true }] });

  // Replacing one algorithm's key keeps the other; replacing without an algorithm renews both.
  const ed = await call('identities.generateKey', { id, algorithm: 'ed25519-sha256', selector: 'ed2027' });
  expect(ed.value.identity.dkimKeys.map((k: any) => k.selector)).toEqual(['desk2026-rsa', 'ed2027']);
  expect(ed.value.identity.dkimKeys[0].publicKey).toBe(created.value.dkimKeys[0].publicKey);
  const both = await call('identities.generateKey', { id, selector: 'new' });
  expect(both.value.identity.dkimKeys.map((k: any) => k.selector)).toEqual(['new-rsa', 'new-ed25519']);
  expect((await call('identities.generateKey', { id, selector: 'a;b' })).error).toMatchObject({ code: 'VALIDATION', fields: [{ path: 'selector' }] });

  const bare = await call('identities.create', { address: 'plain@example.org', algorithms: [] });
  expect(bare.value.dkimKeys).toEqual([]);
  expect((await call('identities.dkimRecord', { id: bare.value.id })).error.code).toBe('CONFLICT');
});

test('a message from a dual-key identity carries two DKIM signatures, RSA and Ed25519', async () => {
  const created = await call('identities.create', { address: 'dual@example.org', selector: 'two' });
  const sent = await call('outbox.send', { identityId: created.value.id, to: ['x@example.net'], subject: 'dual', text: 'hi' });
  expect(sent.ok).toBe(true);
  const raw = fs.readFileSync(core.store.absolutePath(core.store.messageRow(sent.value.messageId)!.raw_path), 'utf8');
  const sigs = raw.slice(0, raw.indexOf('\r\n\r\n')).split(/\r\n(?=\S)/).filter((h) => h.startsWith('DKIM-Signature:'));
  expect(sigs).toHaveLength(2);
  expect(sigs.map((h) => /a=([a-z0-9-]+)/.exec(h)?.[1]).sort()).toEqual(['ed25519-sha256', 'rsa-sha256']);
  expect(sigs.map((h) => /s=([a-z0-9-]+)/.exec(h)?.[1]).sort()).toEqual(['two-ed25519', 'two-rsa']);
});

test('send: field errors point at the entry; a valid draft is queued durably', async () => {
  const before = core.store.listMessages({}).total;
  const bad = await call('outbox.send', { from: 'me@example.org', to: ['ok@example.net', 'broken@@example.net'], subject: 'x' });
  expect(bad.error.code).toBe('VALIDATION');
  expect(bad.error.fields).toEqual([{ path: 'to.1', message: expect.any(String) }]);
  expect(core.store.listMessages({}).total).toBe(before);

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
