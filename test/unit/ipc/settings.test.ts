/**
 * Issue 11 §2: settings are validated where they enter (IPC, CLI flags) with a field error,
 * and a stored value that is invalid anyway never stops start-up: that key gets its default
 * and the core says what it ignored. One schema (shared/settings.ts) for every key.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseServer } from '../../../src-main/core/dns/wire-query';
import { Outbox } from '../../../src-main/core/outbox';
import { Store } from '../../../src-main/core/store/store';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { dnsServerProblem, Settings, settingsShape } from '../../../shared/settings';
import { tmpDir } from '../../helpers/tmp';

/** For every key, values that must be refused. A key added to the schema must be added here. */
const BAD: Record<keyof typeof settingsShape, unknown[]> = {
  ehloName: ['bad host!', '-x.example', 'a..b', 'mail.example.org.', 'x'.repeat(64) + '.example', '192.0.2.1', 42],
  dnsServers: [['127.0.0.1#5353'], ['dns.example'], ['[127.0.0.1]:53'], ['1.2.3.4:0'], ['1.2.3.4:65536'], ['::1:99999'], ['[::1]:'], ['1.2.3.256'], 'x', Array(9).fill('127.0.0.1')],
  concurrency: [0, 65, 1.5, '8', null],
  perDomainConcurrency: [0, 65, -1],
  lifetimeHours: [0, 24 * 31, Number.NaN],
  delayNoticeHours: [0.1, 24 * 8],
  maxMessageBytes: [10, 2 * 1024 ** 3, 1.5],
  theme: ['blue', ''],
  historyDays: [0, 3651, 1.5],
  tlsReports: ['no', 0],
  dsnToSender: ['yes', 1],
  keepSendingInTray: ['true', 1, null],
  openAtLogin: ['yes', 0],
  trayExplained: ['no', 1],
  undoSendSeconds: [-1, 61, 1.5, '10', null],
};

const GOOD_DNS = ['127.0.0.1', '127.0.0.1:5353', '::1', '[::1]', '[::1]:53', '2001:db8::53', '[2001:db8::53]:5353', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8'];

let core: Outbox;
let table: HandlerTable;
let dir: string;
let cleanup: () => void;
beforeAll(() => {
  const t = tmpDir('outbox-settings-');
  dir = t.dir;
  cleanup = t.cleanup;
  core = new Outbox({ dataDir: dir });
  table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
});
afterAll(async () => {
  await core.close();
  cleanup();
});

const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;

test('every setting has refusal cases here', () => {
  expect(Object.keys(BAD).sort()).toEqual(Object.keys(settingsShape).sort());
});

test.each(Object.entries(BAD))('settings.set refuses a bad %s with a field error and changes nothing', async (key, values) => {
  const before = core.store.getSettings();
  for (const value of values) {
    const r = await call('settings.set', { [key]: value });
    expect(r.error?.code, `${key}=${JSON.stringify(value)}`).toBe('VALIDATION');
    expect(r.error.fields[0].path.split('.')[0]).toBe(key);
    expect(r.error.fields[0].message).not.toBe('');
  }
  expect(core.store.getSettings()).toEqual(before);
});

test('DNS servers: IPv4 and IPv6 literals with an optional port are accepted, and the resolver accepts each', async () => {
  const r = await call('settings.set', { dnsServers: GOOD_DNS.slice(0, 8) });
  expect(r.ok).toBe(true);
  for (const s of GOOD_DNS) {
    expect(dnsServerProblem(s), s).toBeNull();
    expect(() => parseServer(s), s).not.toThrow();
  }
  expect((await call('settings.set', { dnsServers: [] })).ok).toBe(true);
  expect((await call('settings.set', { ehloName: 'mail.example.org' })).value.ehloName).toBe('mail.example.org');
  expect((await call('settings.set', { ehloName: '' })).ok).toBe(true);
});

test.each(Object.entries(BAD))('a bad stored %s never stops start-up: default used, notice raised', async (key, values) => {
  const t = tmpDir('outbox-settings-stored-');
  try {
    const value = values[0];
    const store = Store.open(t.dir);
    // Written behind the schema's back, as an older version or a hand edit would.
    store.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?)').run(key, JSON.stringify(value) ?? 'null');
    store.db.prepare("INSERT INTO settings (key, value) VALUES ('theme', '\"dark\"') ON CONFLICT(key) DO NOTHING").run();
    store.close();
    const started = new Outbox({ dataDir: t.dir });
    try {
      const s = started.store.getSettings();
      expect(s[key as keyof typeof s]).toEqual(Settings.parse({})[key as keyof typeof s]);
      if (key !== 'theme') expect(s.theme).toBe('dark'); // the other keys keep their values
      expect(started.startupNotices).toHaveLength(1);
      expect(started.startupNotices[0]).toContain(`"${key}"`);
      expect(started.startupNotices[0]).toMatch(/ignored/);
      started.queue.start(); // the engine runs with the default
      const info = await dispatch(createHandlers(started, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} }), 'app.info', {});
      expect(info).toMatchObject({ ok: true, value: { startupNotices: started.startupNotices } });
    } finally {
      await started.close();
    }
  } finally {
    t.cleanup();
  }
});

test('a stored DNS server "127.0.0.1#5353" (accepted by earlier versions) no longer stops the app from opening', async () => {
  const t = tmpDir('outbox-settings-hash-');
  try {
    const store = Store.open(t.dir);
    store.db.prepare("INSERT INTO settings (key, value) VALUES ('dnsServers', '[\"127.0.0.1#5353\"]'), ('concurrency', 'not json')").run();
    store.close();
    const started = new Outbox({ dataDir: t.dir });
    expect(started.startupNotices.map((n) => n.slice(0, 40))).toEqual([expect.stringContaining('"dnsServers"'), expect.stringContaining('"concurrency"')]);
    expect(started.store.getSettings()).toMatchObject({ dnsServers: [], concurrency: 20 });
    await started.close();
  } finally {
    t.cleanup();
  }
});

test('a change to one setting leaves every other setting as it was (no defaults filled in)', async () => {
  const set = (patch: unknown) => dispatch(table, 'settings.set', patch) as Promise<{ ok: boolean; value?: any }>;
  expect((await set({ openAtLogin: true, historyDays: 30 })).ok).toBe(true);
  const r = await set({ keepSendingInTray: false });
  expect(r.value).toMatchObject({ openAtLogin: true, historyDays: 30, keepSendingInTray: false });
  expect(core.store.getSettings()).toMatchObject({ openAtLogin: true, historyDays: 30, keepSendingInTray: false });
  await set({ openAtLogin: false, historyDays: 90, keepSendingInTray: true });
});
