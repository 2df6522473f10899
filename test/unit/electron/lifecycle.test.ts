/**
 * Issue 13 item 7, "keeps sending": what closing the window does, whether quitting asks, what
 * the tray menu shows, and "open at login (in the tray)" — decided in src-main/lifecycle.ts
 * and src-main/autostart.ts (no Electron), carried out by main.ts and tray.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { autostartEntry, autostartPath, configHome, execArgument, setLinuxAutostart } from '../../../src-main/autostart';
import {
  affectsTrayState,
  decideClose,
  loginItemSettings,
  quitAnswer,
  quitPrompt,
  startsHidden,
  trayExplanation,
  trayMenu,
  trayTooltip,
  type CloseContext,
} from '../../../src-main/lifecycle';
import { Settings } from '../../../shared/settings';
import { Store } from '../../../src-main/core/store/store';
import { Outbox } from '../../../src-main/core/outbox';
import { createHandlers, dispatch } from '../../../src-main/ipc-handlers';
import type { OutboxEvent } from '../../../shared/contract';
import { newMessage } from '../store/fixtures';
import { tmpDir } from '../../helpers/tmp';

const base: CloseContext = { unsent: 2, keepSendingInTray: true, trayAvailable: true, platform: 'linux', explained: false };

describe('closing the window', () => {
  test('with mail unsent it goes to the tray, explained the first time only', () => {
    expect(decideClose(base)).toEqual({ action: 'hide', explain: true });
    expect(decideClose({ ...base, explained: true })).toEqual({ action: 'hide', explain: false });
    expect(decideClose({ ...base, platform: 'win32' })).toEqual({ action: 'hide', explain: true });
  });

  test('with nothing unsent, the setting off, or no tray, closing the last window quits (which asks when mail is unsent)', () => {
    expect(decideClose({ ...base, unsent: 0 })).toEqual({ action: 'quit' });
    expect(decideClose({ ...base, keepSendingInTray: false })).toEqual({ action: 'quit' });
    expect(decideClose({ ...base, trayAvailable: false })).toEqual({ action: 'quit' });
  });

  test('macOS keeps the app running when its window closes (its convention)', () => {
    expect(decideClose({ ...base, platform: 'darwin' })).toEqual({ action: 'close' });
  });

  test('the explanation says how many and where to change it', () => {
    expect(trayExplanation(1).body).toMatch(/^1 message is not sent yet.*tray.*Settings/);
    expect(trayExplanation(3).body).toMatch(/^3 messages are not sent yet/);
  });

  test('the settings exist in the one schema with their defaults', () => {
    expect(Settings.parse({})).toMatchObject({ keepSendingInTray: true, openAtLogin: false, trayExplained: false });
  });
});

describe('quitting', () => {
  test('with nothing unsent it does not ask', () => {
    expect(quitPrompt({ unsent: 0, trayAvailable: true, openAtLogin: false })).toBeNull();
  });

  test('with mail unsent it asks: keep sending in the tray (default), quit anyway, cancel', () => {
    const p = quitPrompt({ unsent: 3, trayAvailable: true, openAtLogin: false })!;
    expect(p.message).toBe('3 messages are not sent yet');
    expect(p.detail).toMatch(/nothing is delivered or retried until Direct Outbox runs again.*Open at login/);
    expect(p.buttons.map((b) => b.label)).toEqual(['Keep sending in the tray', 'Quit anyway', 'Cancel']);
    expect([quitAnswer(p, p.defaultId), quitAnswer(p, 1), quitAnswer(p, p.cancelId)]).toEqual(['tray', 'quit', 'cancel']);
    // A dialog closed without a button (Esc) is Cancel.
    expect(quitAnswer(p, -1)).toBe('cancel');
    expect(quitAnswer(p, 7)).toBe('cancel');
  });

  test('without a tray there is no "keep sending" button', () => {
    const p = quitPrompt({ unsent: 1, trayAvailable: false, openAtLogin: true })!;
    expect(p.message).toBe('1 message is not sent yet');
    expect(p.detail).toMatch(/opens at login/);
    expect(p.buttons.map((b) => b.answer)).toEqual(['quit', 'cancel']);
    expect(quitAnswer(p, p.cancelId)).toBe('cancel');
  });
});

describe('the tray menu', () => {
  test('shows the unsent and failed counts, Show, Pause sending (checked while paused) and Quit', () => {
    expect(trayMenu({ unsent: 3, failed: 1, paused: false })).toEqual([
      { kind: 'status', label: '3 unsent · 1 failed' },
      { kind: 'separator' },
      { kind: 'action', action: 'show', label: 'Show Direct Outbox' },
      { kind: 'action', action: 'toggle-pause', label: 'Pause sending', checked: false },
      { kind: 'separator' },
      { kind: 'action', action: 'quit', label: 'Quit Direct Outbox' },
    ]);
    const paused = trayMenu({ unsent: 0, failed: 0, paused: true });
    expect(paused[0]).toEqual({ kind: 'status', label: 'All sent · sending paused' });
    expect(paused.find((i) => i.kind === 'action' && i.action === 'toggle-pause')).toMatchObject({ checked: true });
    expect(trayTooltip({ unsent: 0, failed: 2, paused: false })).toBe('Direct Outbox — 2 failed');
  });
});

test('the tray counts: unsent messages, and failed messages whose failure was not seen yet', () => {
  const t = tmpDir('outbox-tray-counts-');
  const store = Store.open(t.dir);
  try {
    store.insertMessage(newMessage('m1', 1000));
    store.insertMessage(newMessage('m2', 2000));
    store.db.prepare("UPDATE recipients SET state = 'failed' WHERE message_id = 'm2'").run();
    for (const id of ['m2', 'm2']) store.db.prepare("INSERT INTO notices (message_id, kind, at, text) VALUES (?, 'failure', 3000, 'x')").run(id);
    expect([store.countUnsentMessages(), store.countUnseenFailedMessages()]).toEqual([1, 1]);
    store.markNoticesSeen(store.listNotices(10).map((n) => n.id));
    expect(store.countUnseenFailedMessages()).toBe(0);
  } finally {
    store.close();
    t.cleanup();
  }
});

test('the tray recounts on the events that change its counts, and not on progress', () => {
  expect(affectsTrayState([{ type: 'progress', messageId: 'm1', bytesSent: 1, size: 2 }])).toBe(false);
  expect(affectsTrayState([{ type: 'readiness', ranAt: 1 }])).toBe(false);
  expect(affectsTrayState([{ type: 'message-added', messageId: 'm4' }])).toBe(true);
  expect(affectsTrayState([{ type: 'recipient-state', messageId: 'm4', recipientId: 1, state: 'failed' }])).toBe(true);
  expect(affectsTrayState([{ type: 'notice', messageId: 'm4', kind: 'failure', text: 'x' }])).toBe(true);
  expect(affectsTrayState([{ type: 'queue-state', paused: true, text: 'disk full' }])).toBe(true);
});

test('failures dismissed in the outbox update the tray\'s failed count at once, not at the next queue event', async () => {
  const t = tmpDir('outbox-tray-seen-');
  const core = new Outbox({ dataDir: t.dir });
  try {
    const { store } = core;
    store.insertMessage(newMessage('m2', 2000));
    store.db.prepare("UPDATE recipients SET state = 'failed' WHERE message_id = 'm2'").run();
    store.db.prepare("INSERT INTO notices (message_id, kind, at, text) VALUES ('m2', 'failure', 3000, 'x')").run();
    const batches: OutboxEvent[][] = [];
    const off = core.events.subscribe((b) => batches.push(b));
    const table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
    const ids = store.listNotices(10).map((n) => n.id);
    expect(await dispatch(table, 'notices.markSeen', { ids })).toMatchObject({ ok: true });
    core.events.flush();
    off();
    // What tray.ts does with each batch: recount when affectsTrayState says so.
    expect(batches.some((b) => affectsTrayState(b))).toBe(true);
    expect(store.countUnseenFailedMessages()).toBe(0);
    // Unknown ids change nothing, so nothing is announced.
    batches.length = 0;
    const off2 = core.events.subscribe((b) => batches.push(b));
    await dispatch(table, 'notices.markSeen', { ids: [987654] });
    core.events.flush();
    off2();
    expect(batches).toEqual([]);
  } finally {
    await core.close();
    t.cleanup();
  }
});

describe('open at login (in the tray)', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  test('the login item starts hidden; a start at login shows only the tray', () => {
    expect(loginItemSettings(true)).toEqual({ openAtLogin: true, openAsHidden: true, args: ['--hidden'] });
    expect(loginItemSettings(false)).toEqual({ openAtLogin: false, openAsHidden: true, args: [] });
    expect(startsHidden(['/opt/app', '--hidden'], false, true)).toBe(true);
    expect(startsHidden(['/opt/app'], true, true)).toBe(true);
    expect(startsHidden(['/opt/app'], false, true)).toBe(false);
    // Without a tray a hidden start would be invisible: the window shows.
    expect(startsHidden(['/opt/app', '--hidden'], true, false)).toBe(false);
  });

  test('Linux: an XDG autostart entry is written and removed, its Exec quoted', () => {
    const t = tmpDir('outbox-autostart-');
    cleanups.push(t.cleanup);
    expect(configHome({ XDG_CONFIG_HOME: t.dir })).toBe(t.dir);
    expect(configHome({ XDG_CONFIG_HOME: 'relative' })).toMatch(/\.config$/);
    const exec = ['/home/a b/Direct Outbox.AppImage', '--hidden'];
    expect(setLinuxAutostart(true, { config: t.dir, exec })).toBe(true);
    const file = autostartPath(t.dir);
    expect(file).toBe(path.join(t.dir, 'autostart', 'direct-outbox.desktop'));
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('[Desktop Entry]\nType=Application\nName=Direct Outbox\n');
    expect(text).toContain('Exec="/home/a b/Direct Outbox.AppImage" --hidden\n');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['direct-outbox.desktop']);
    expect(setLinuxAutostart(false, { config: t.dir, exec })).toBe(false);
    expect(fs.existsSync(file)).toBe(false);
    expect(setLinuxAutostart(false, { config: t.dir, exec })).toBe(false);
  });

  test('Exec arguments: reserved characters quoted and escaped, field codes doubled, no line breaks', () => {
    expect(execArgument('/usr/bin/app')).toBe('/usr/bin/app');
    expect(execArgument('/a/$HOME/"x"`y`\\z')).toBe('"/a/\\$HOME/\\"x\\"\\`y\\`\\\\z"');
    expect(execArgument('/a/100%')).toBe('/a/100%%');
    expect(() => autostartEntry(['/a\nExec=evil'])).toThrow(/one line/);
  });
});
