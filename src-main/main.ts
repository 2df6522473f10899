/**
 * Electron entry: lifecycle, the one window, the menu, the single-instance lock. Everything
 * the app does lives in core/ (plain Node, tested without Electron); this file only wires it
 * to the desktop, following Electron's security checklist: contextIsolation, sandbox, no
 * nodeIntegration, a strict CSP, no navigation, no new windows, no permissions, no remote
 * content.
 */
import fs from 'node:fs';
import path from 'node:path';
import { app, BrowserWindow, dialog, Menu, Notification, session, shell } from 'electron';
import log from 'electron-log/main';
import { EVENT_PREFIX } from '../shared/contract';
import type { Outbox } from './core/outbox';
import { openOutboxForApp } from './core/startup';
import { isSafeExternalUrl } from './external-links';
import { registerIpc } from './ipc';
import { keychain } from './keychain';
import { autostartPath, configHome, setLinuxAutostart } from './autostart';
import { decideClose, loginItemSettings, quitAnswer, quitPrompt, startsHidden, trayExplanation } from './lifecycle';
import { buildMenu } from './menu';
import { appIconPath, attachDesktopSignals, show, type DesktopSignals } from './tray';
import { loadWindowState, saveWindowState } from './window-state';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

log.initialize();
log.transports.file.maxSize = 5 * 1024 * 1024; // electron-log rotates to main.old.log
// Logs hold addresses and SMTP transcripts: created owner-only (electron-log's default is 0666).
log.transports.file.writeOptions = { encoding: 'utf8', flag: 'a', mode: 0o600 };
log.transports.console.level = app.isPackaged ? false : 'info';
Object.assign(console, log.functions);

function nativeBindingPath(): string | undefined {
  // An Electron-ABI build of better-sqlite3 kept apart from node_modules' Node-ABI build.
  const candidates = app.isPackaged
    ? [path.join(process.resourcesPath, 'native', 'better_sqlite3.node')]
    : [path.join(app.getAppPath(), 'native', 'electron', 'better_sqlite3.node')];
  return candidates.find((p) => fs.existsSync(p));
}

/**
 * The data folder (database with DKIM private keys, queued mail) and the logs (addresses,
 * transcripts) are the user's alone: 0700 directories, 0600 log files. POSIX only.
 */
function ownerOnly(dataDir: string, logDir: string): void {
  if (process.platform === 'win32') return;
  for (const dir of [dataDir, logDir]) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.chmodSync(dir, 0o700);
      for (const f of fs.readdirSync(dir)) if (f.endsWith('.log')) fs.chmodSync(path.join(dir, f), 0o600);
    } catch (e) {
      log.warn(`could not restrict ${dir} to its owner`, e);
    }
  }
}

function formatSize(n: number): string {
  return n < 1024 ? `${n} bytes` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

let mainWindow: BrowserWindow | null = null;
let core: Outbox | null = null;
let desktop: DesktopSignals | null = null;
/** Set once quitting is decided (asked and confirmed, or nothing unsent): windows may close. */
let quitting = false;

/**
 * Closing the window (lifecycle.ts decideClose): to the tray while mail is unsent, explained
 * once; otherwise closing the last window quits, which asks when mail is unsent.
 */
function onWindowClose(win: BrowserWindow, event: Electron.Event): void {
  if (quitting || !core) return;
  const settings = core.store.getSettings();
  const unsent = core.store.countUnsentMessages();
  const d = decideClose({
    unsent,
    keepSendingInTray: settings.keepSendingInTray,
    trayAvailable: desktop?.trayAvailable ?? false,
    platform: process.platform,
    explained: settings.trayExplained,
  });
  if (d.action === 'close') return;
  event.preventDefault();
  if (d.action === 'quit') {
    app.quit();
    return;
  }
  win.hide();
  if (d.explain) {
    core.store.setSettings({ trayExplained: true });
    const { title, body } = trayExplanation(unsent);
    if (Notification.isSupported()) new Notification({ title, body, icon: appIconPath() }).show();
    else void dialog.showMessageBox({ type: 'info', message: title, detail: body, buttons: ['OK'] });
  }
}

/** "Open at login (in the tray)": the OS login item, or an XDG autostart entry on Linux. */
function applyOpenAtLogin(openAtLogin: boolean): void {
  try {
    if (process.platform === 'linux') {
      const exec = app.isPackaged ? [process.env.APPIMAGE ?? process.execPath] : [process.execPath, app.getAppPath()];
      setLinuxAutostart(openAtLogin, { config: configHome(), exec: [...exec, ...loginItemSettings(true).args] });
    } else {
      app.setLoginItemSettings(loginItemSettings(openAtLogin));
    }
  } catch (e) {
    log.warn(`could not ${openAtLogin ? 'set' : 'remove'} the login item${process.platform === 'linux' ? ` (${autostartPath(configHome())})` : ''}`, e);
  }
}

function createWindow(indexHtml: string, hidden = false): BrowserWindow {
  const userData = app.getPath('userData');
  const state = loadWindowState(userData);
  const win = new BrowserWindow({
    ...state,
    minWidth: 800,
    minHeight: 520,
    show: false,
    title: 'Direct Outbox',
    icon: appIconPath(),
    webPreferences: {
      preload: path.join(__dirname, '../preload/preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: true,
    },
  });
  if (state.maximized) win.maximize();
  if (!hidden) win.once('ready-to-show', () => win.show());
  win.on('close', (event) => {
    saveWindowState(userData, { ...win.getNormalBounds(), maximized: win.isMaximized() });
    onWindowClose(win, event);
  });
  win.on('closed', () => {
    mainWindow = null;
  });
  void win.loadFile(indexHtml);
  return win;
}

function lockDown(): void {
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  // No web permission is ever granted or even reported as granted (checks are synchronous
  // queries, requests are prompts; the app needs neither).
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event) => event.preventDefault());
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      // Only https links to public hosts leave the app, and only to the user's browser.
      if (isSafeExternalUrl(url)) void shell.openExternal(url);
      else log.warn(`refused to open ${url.slice(0, 200)}`);
      return { action: 'deny' };
    });
  });
}

async function start(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  // Launching the app again shows the window (also the way back when it is in the tray).
  app.on('second-instance', () => show(mainWindow));

  await app.whenReady();
  lockDown();
  ownerOnly(app.getPath('userData'), path.dirname(log.transports.file.getFile().path));

  const indexHtml = path.join(__dirname, '../renderer/index.html');
  const appUrl = `file://${path.dirname(indexHtml).replaceAll('\\', '/')}`;
  // A lost or damaged database over queued mail is explained and recovered (core/startup.ts);
  // the app never starts as an empty outbox over queued files.
  core = await openOutboxForApp(
    {
      dataDir: app.getPath('userData'),
      nativeBinding: nativeBindingPath(),
      version: app.getVersion(),
      logDir: path.dirname(log.transports.file.getFile().path),
      secretCipher: keychain,
    },
    {
      async ask(p) {
        log.warn(`start-up: ${p.message}\n${p.detail}`);
        const r = await dialog.showMessageBox({ type: p.type, title: p.title, message: p.message, detail: p.detail, buttons: p.choices.map((c) => c.label), defaultId: 0, cancelId: p.cancel, noLink: true });
        return r.response;
      },
      async showFolder(dir) {
        await shell.openPath(dir);
      },
    },
  );
  if (!core) {
    app.exit(0);
    return;
  }
  log.info(`Direct Outbox ${app.getVersion()} data in ${core.dataDir}`);
  for (const notice of core.startupNotices) log.warn(notice);
  registerIpc(
    core,
    {
      async chooseFiles() {
        const options = { properties: ['openFile' as const, 'multiSelections' as const] };
        const r = mainWindow ? await dialog.showOpenDialog(mainWindow, options) : await dialog.showOpenDialog(options);
        return r.canceled ? [] : r.filePaths;
      },
      async chooseSavePath(defaultName) {
        const options = { defaultPath: path.join(app.getPath('documents'), defaultName) };
        const r = mainWindow ? await dialog.showSaveDialog(mainWindow, options) : await dialog.showSaveDialog(options);
        return r.canceled || !r.filePath ? null : r.filePath;
      },
      async openPath(p) {
        await shell.openPath(p);
      },
      // A drop's paths come from the renderer process: the user confirms the real paths here,
      // in main's own dialog, before main grants them (issue 11: a compromised renderer reads nothing).
      async confirmDrop(files) {
        const options = {
          type: 'question' as const,
          title: 'Attach dropped files',
          message: files.length === 1 ? `Attach ${path.basename(files[0]!.path)}?` : `Attach these ${files.length} files?`,
          detail: files.map((f) => `${f.path} (${formatSize(f.size)})`).join('\n'),
          buttons: ['Attach', 'Cancel'],
          defaultId: 0,
          cancelId: 1,
          noLink: true,
        };
        const r = mainWindow ? await dialog.showMessageBox(mainWindow, options) : await dialog.showMessageBox(options);
        return r.response === 0;
      },
      settingsChanged(next) {
        applyOpenAtLogin(next.openAtLogin);
      },
    },
    () => mainWindow,
    appUrl,
  );
  core.queue.start();
  core.retention.start();
  if (core.store.getSettings().tlsReports) core.tlsReports.start();
  // Readiness (issue 12): the check runs again when the network changes; the panel follows.
  core.readiness.watchNetwork();
  desktop = attachDesktopSignals(core, appIconPath(), () => mainWindow, () => app.quit());
  applyOpenAtLogin(core.store.getSettings().openAtLogin);
  Menu.setApplicationMenu(
    buildMenu({
      openLogFolder: () => void shell.openPath(core?.logDir ?? ''),
      command: (command) => mainWindow?.webContents.send(`${EVENT_PREFIX}app.command`, { command }),
    }),
  );
  const hidden = startsHidden(process.argv, app.getLoginItemSettings().wasOpenedAtLogin, desktop.trayAvailable);
  mainWindow = createWindow(indexHtml, hidden);

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow(indexHtml);
    else show(mainWindow);
  });
}

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
let asking = false;
app.on('before-quit', (event) => {
  if (!core) return;
  event.preventDefault();
  if (asking) return;
  // Quitting with unsent mail asks (lifecycle.ts quitPrompt); the queue keeps it either way.
  const prompt = quitting ? null : quitPrompt({ unsent: core.store.countUnsentMessages(), trayAvailable: desktop?.trayAvailable ?? false, openAtLogin: core.store.getSettings().openAtLogin });
  if (prompt) {
    asking = true;
    const options = { type: 'question' as const, message: prompt.message, detail: prompt.detail, buttons: prompt.buttons.map((b) => b.label), defaultId: prompt.defaultId, cancelId: prompt.cancelId };
    const answer = mainWindow?.isVisible() ? dialog.showMessageBox(mainWindow, options) : dialog.showMessageBox(options);
    void answer.then(({ response }) => {
      asking = false;
      const a = quitAnswer(prompt, response);
      if (a === 'quit') {
        quitting = true;
        app.quit();
      } else if (a === 'tray') {
        mainWindow?.hide();
      }
    });
    return;
  }
  quitting = true;
  // Let deliveries in flight finish recording (at-least-once either way), then quit.
  const closing = core;
  core = null;
  desktop?.detach();
  void closing.close().finally(() => app.quit());
});

void start();
