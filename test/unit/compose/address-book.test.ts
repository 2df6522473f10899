/**
 * Address suggestions (issue 13 item 5): past recipients and identities, ranked by how often
 * and how recently mail went to them, over the real IPC handler table and a real store.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { frecency } from '../../../src-main/core/address-book';
import { parseMailbox } from '../../../src-main/core/compose/address';
import { openDb } from '../../../src-main/core/store/db';
import { Outbox } from '../../../src-main/core/outbox';
import { createHandlers, dispatch } from '../../../src-main/ipc-handlers';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../store/fixtures';

const DAY = 24 * 3600 * 1000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(dir?: string) {
  const t = dir ? { dir, cleanup: () => {} } : tmpDir('outbox-suggest-');
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const core = new Outbox({ dataDir: t.dir, clock });
  const table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
  cleanups.push(t.cleanup, () => core.close());
  const call = async (channel: string, payload: unknown) => {
    const r = (await dispatch(table, channel, payload)) as { ok: boolean; value?: any; error?: any };
    if (!r.ok) throw new Error(`${channel}: ${JSON.stringify(r.error)}`);
    return r.value;
  };
  const send = (to: string[], cc: string[] = []) => call('outbox.send', { from: 'me@example.org', to, cc, subject: 's', text: 't' });
  return { core, clock, call, send, dir: t.dir };
}

describe('frecency', () => {
  test('halves every 30 days: often long ago loses to sometimes lately', () => {
    const now = 1e12;
    expect(frecency(4, now, now)).toBe(4);
    expect(frecency(4, now - 30 * DAY, now)).toBeCloseTo(2);
    expect(frecency(20, now - 365 * DAY, now)).toBeLessThan(frecency(1, now - 7 * DAY, now));
  });
});

describe('compose.suggestAddresses', () => {
  test('past recipients by prefix of address, domain or name, ranked by frequency and recency', async () => {
    const { clock, call, send } = setup();
    for (let i = 0; i < 5; i++) await send(['Anna Old <anna.old@example.com>']);
    clock.advance(200 * DAY);
    await send(['Annika New <annika@example.net>']);
    await send(['Bob Builder <bob@anvil.example>']);

    const byA = await call('compose.suggestAddresses', { query: 'ann' });
    expect(byA.map((s: any) => s.address)).toEqual(['annika@example.net', 'anna.old@example.com']);
    expect(byA[1]).toMatchObject({ name: 'Anna Old', mailbox: 'Anna Old <anna.old@example.com>', source: 'recent', uses: 5 });
    // A word of the name, and the domain, match too; case does not matter.
    expect((await call('compose.suggestAddresses', { query: 'BUILD' })).map((s: any) => s.address)).toEqual(['bob@anvil.example']);
    expect((await call('compose.suggestAddresses', { query: 'anvil' })).map((s: any) => s.address)).toEqual(['bob@anvil.example']);
    // What is already in the field is not offered again; nothing matches nothing.
    expect((await call('compose.suggestAddresses', { query: 'ann', exclude: ['Annika <annika@EXAMPLE.net>'] })).map((s: any) => s.address)).toEqual(['anna.old@example.com']);
    expect(await call('compose.suggestAddresses', { query: '   ' })).toEqual([]);
    expect(await call('compose.suggestAddresses', { query: 'zz' })).toEqual([]);
    // LIKE wildcards in the query are literal.
    expect(await call('compose.suggestAddresses', { query: '%' })).toEqual([]);
    expect(await call('compose.suggestAddresses', { query: 'a', limit: 1 })).toHaveLength(1);
  });

  test('names that need quoting come back as a mailbox that parses to the same name and address', async () => {
    const { call, send } = setup();
    await send(['"Doe, Jane" <jane@example.org>', '"Q \\"the\\" Man" <q@example.org>']);
    for (const query of ['jane', 'q@']) {
      const [s] = await call('compose.suggestAddresses', { query });
      const parsed = parseMailbox(s.mailbox);
      expect(parsed.ok && { name: parsed.value.name, address: parsed.value.display }).toEqual({ name: s.name, address: s.address });
    }
    expect((await call('compose.suggestAddresses', { query: 'jane' }))[0].mailbox).toBe('"Doe, Jane" <jane@example.org>');
  });

  test('identities are suggested too, once, with the name of the identity', async () => {
    const { call, send } = setup();
    await call('identities.create', { address: 'me@example.org', displayName: 'Mé Myself', algorithms: [] });
    expect(await call('compose.suggestAddresses', { query: 'my' })).toEqual([
      { address: 'me@example.org', name: 'Mé Myself', mailbox: 'Mé Myself <me@example.org>', source: 'identity', uses: 0, lastUsed: null },
    ]);
    await send(['me@example.org']);
    const again = await call('compose.suggestAddresses', { query: 'me' });
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ source: 'identity', uses: 1 });
  });

  test('bcc recipients are remembered; forgetting one removes it until mail goes to it again', async () => {
    const { call } = setup();
    await call('outbox.send', { from: 'me@example.org', to: ['a@example.org'], bcc: ['Secret <hidden@example.org>'], subject: 's', text: 't' });
    expect((await call('compose.suggestAddresses', { query: 'hidden' }))[0]).toMatchObject({ name: 'Secret' });
    expect(await call('compose.forgetAddress', { address: 'HIDDEN@example.org' })).toEqual({ removed: true });
    expect(await call('compose.suggestAddresses', { query: 'hidden' })).toEqual([]);
    expect(await call('compose.forgetAddress', { address: 'not an address' })).toEqual({ removed: false });
  });

  test('history retention removes messages but not the people they went to', async () => {
    const { core, clock, call, send } = setup();
    await send(['kept@example.org']);
    core.store.db.prepare("UPDATE recipients SET state = 'delivered'").run();
    clock.advance(400 * DAY);
    await core.retention.run();
    expect(core.store.db.prepare('SELECT count(*) FROM messages').pluck().get()).toBe(0);
    expect((await call('compose.suggestAddresses', { query: 'kept' })).map((s: any) => s.address)).toEqual(['kept@example.org']);
  });

  test('the migration seeds the suggestions from the messages already queued', async () => {
    const t = tmpDir('outbox-suggest-migrate-');
    cleanups.push(t.cleanup);
    const v9 = openDb(t.dir, { migrateTo: 11 });
    const insert = (m: ReturnType<typeof newMessage>) => {
      v9.prepare(`INSERT INTO messages (id, created_at, mail_from, from_header, subject, size, raw_path) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(m.id, m.createdAt, m.mailFrom, m.fromHeader, m.subject, m.size, m.rawPath);
      for (const r of m.recipients) {
        v9.prepare(`INSERT INTO recipients (message_id, address, envelope, domain, kind, state, updated_at) VALUES (?, ?, ?, ?, 'to', 'delivered', ?)`).run(m.id, r.address, r.envelope, r.domain, m.createdAt);
      }
    };
    insert(newMessage('m1', 1000, ['old@example.org', 'Twice@Example.org']));
    insert(newMessage('m2', 5000, ['twice@example.org']));
    v9.close();
    const { call } = setup(t.dir);
    expect(await call('compose.suggestAddresses', { query: 'twice' })).toEqual([
      { address: 'twice@example.org', name: null, mailbox: 'twice@example.org', source: 'recent', uses: 2, lastUsed: 5000 },
    ]);
    expect((await call('compose.suggestAddresses', { query: 'old' })).map((s: any) => s.uses)).toEqual([1]);
  });
});
