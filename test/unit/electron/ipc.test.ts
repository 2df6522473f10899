/**
 * The Electron layer under a fake `electron` module (as Electron Fiddle tests its main code):
 * every handler checks its sender, and events wait until the renderer says it is ready.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';

type Handler = (event: unknown, payload: unknown) => unknown;
const handlers = new Map<string, Handler>();
const listeners = new Map<string, (event: unknown) => void>();

vi.mock('electron', () => ({
  ipcMain: {
    handle: (name: string, fn: Handler) => handlers.set(name, fn),
    removeHandler: (name: string) => handlers.delete(name),
    on: (name: string, fn: (event: unknown) => void) => listeners.set(name, fn),
    removeListener: (name: string) => listeners.delete(name),
  },
}));

const { registerIpc } = await import('../../../src-main/ipc');
const { channelNames, DROP_CHANNEL, INVOKE_PREFIX, READY_CHANNEL, EVENT_PREFIX } = await import('../../../shared/contract');
const { Outbox } = await import('../../../src-main/core/outbox');
const { tmpDir } = await import('../../helpers/tmp');

const appUrl = 'file:///opt/direct-outbox/resources/app.asar/dist/renderer';
const mainFrame = { url: `${appUrl}/index.html` };
const sent: [string, unknown][] = [];
const win = { webContents: { mainFrame, send: (ch: string, payload: unknown) => sent.push([ch, payload]) } };
let core: InstanceType<typeof Outbox>;
let cleanup: () => void;
let unregister: () => void;
const confirmations: string[][] = [];
let confirmAnswer = false;

beforeAll(() => {
  const t = tmpDir('outbox-electron-');
  cleanup = t.cleanup;
  core = new Outbox({ dataDir: t.dir, version: '9.9.9' });
  unregister = registerIpc(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {}, confirmDrop: async (files) => (confirmations.push(files.map((f) => f.path)), confirmAnswer) }, () => win as never, appUrl);
});
afterAll(async () => {
  unregister();
  await core.close();
  cleanup();
});

test('every contract channel is registered, and the preload\'s drop channel', () => {
  expect([...handlers.keys()].sort()).toEqual([...channelNames.map((c) => INVOKE_PREFIX + c), DROP_CHANNEL].sort());
});

test('the sender check compares the app\'s location exactly, not as a string prefix', async () => {
  const call = handlers.get(`${INVOKE_PREFIX}app.info`)!;
  const original = mainFrame.url;
  try {
    for (const url of [`${appUrl}-evil/index.html`, `${appUrl}.evil/x.html`, appUrl.replace('file://', 'file://evil.host'), `https://x${appUrl.slice(7)}/index.html`, 'not a url']) {
      mainFrame.url = url;
      expect(await call({ senderFrame: mainFrame }, {}), url).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    }
    mainFrame.url = `${appUrl}/index.html#/outbox`;
    expect(await call({ senderFrame: mainFrame }, {})).toMatchObject({ ok: true });
  } finally {
    mainFrame.url = original;
  }
});

test('dropped files come through the drop channel from our frame only, and are granted by main', async () => {
  const drop = handlers.get(DROP_CHANNEL)!;
  expect(await drop({ senderFrame: { url: 'https://evil.example/' } }, ['/etc/hostname'])).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  const r = (await drop({ senderFrame: mainFrame }, [null, core.dataDir + '/outbox.sqlite3'])) as { ok: true; value: { token: string | null }[] };
  expect(r.ok).toBe(true);
  expect(r.value.map((v) => v.token)).toEqual([null, null]);
  expect(await drop({ senderFrame: mainFrame }, 'not a list')).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
  // An ordinary file: granted only when main's confirmation (the platform's dialog) says so.
  const file = `${core.dataDir}/../dropped-${process.pid}.txt`;
  fs.writeFileSync(file, 'dropped\n');
  try {
    expect(await drop({ senderFrame: mainFrame }, [file])).toMatchObject({ ok: true, value: [{ token: null, error: expect.stringMatching(/not confirmed/) }] });
    confirmAnswer = true;
    expect(await drop({ senderFrame: mainFrame }, [file])).toMatchObject({ ok: true, value: [{ token: expect.any(String), error: null }] });
    expect(confirmations).toEqual([[fs.realpathSync(file)], [fs.realpathSync(file)]]);
  } finally {
    fs.rmSync(file);
  }
});

test('calls from our window\'s main frame are served', async () => {
  const r = await handlers.get(`${INVOKE_PREFIX}app.info`)!({ senderFrame: mainFrame }, {});
  expect(r).toMatchObject({ ok: true, value: { version: '9.9.9' } });
});

test('calls from another frame, another page or no frame are refused before validation', async () => {
  const call = handlers.get(`${INVOKE_PREFIX}settings.set`)!;
  const subframe = { url: mainFrame.url }; // same page, but not our window's main frame
  for (const senderFrame of [subframe, { url: 'https://evil.example/' }, null]) {
    const r = await call({ senderFrame }, { ehloName: 'evil.example' });
    expect(r).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  }
  expect(core.store.getSettings().ehloName).toBe('');
});

test('events are held until the renderer is ready, then delivered in order', () => {
  core.events.emit({ type: 'message-added', messageId: 'a' });
  core.events.flush();
  expect(sent).toEqual([]);
  // A ready signal from an untrusted frame changes nothing.
  listeners.get(READY_CHANNEL)!({ senderFrame: { url: 'https://evil.example/' } });
  expect(sent).toEqual([]);
  listeners.get(READY_CHANNEL)!({ senderFrame: mainFrame });
  expect(sent).toEqual([[`${EVENT_PREFIX}outbox.events`, [{ type: 'message-added', messageId: 'a' }]]]);
  core.events.emit({ type: 'message-added', messageId: 'b' });
  core.events.flush();
  expect(sent).toHaveLength(2);
});
