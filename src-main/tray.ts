/**
 * The tray icon and the dock/taskbar badge with the number of unsent messages, and OS
 * notifications for failures and unencrypted deliveries (decided in notifications.ts).
 */
import path from 'node:path';
import { app, Menu, nativeImage, Notification, Tray, type BrowserWindow } from 'electron';
import type { Outbox } from './core/outbox';
import { affectsUnsentCount, notificationsFor } from './notifications';

export function attachDesktopSignals(core: Outbox, iconPath: string, getWindow: () => BrowserWindow | null): () => void {
  let tray: Tray | null = null;
  let refreshMenu = () => {};
  try {
    tray = new Tray(nativeImage.createFromPath(iconPath).resize({ width: 18, height: 18 }));
    // "Pause sending" is the same hold rule as the outbox's and the CLI's (core/queue-features).
    const menu = () =>
      Menu.buildFromTemplate([
        { label: 'Show Direct Outbox', click: () => show(getWindow()) },
        { type: 'separator' },
        {
          label: 'Pause sending',
          type: 'checkbox',
          checked: core.features.paused,
          click: () => {
            if (core.features.paused) core.features.unpause();
            else core.features.pause();
            updateCount();
          },
        },
        { type: 'separator' },
        { role: 'quit' },
      ]);
    tray.setContextMenu(menu());
    refreshMenu = () => tray?.setContextMenu(menu());
    tray.on('click', () => show(getWindow()));
  } catch {
    tray = null; // some Linux desktops have no tray; the badge and notifications still work
  }

  const updateCount = () => {
    const n = core.store.countUnsentMessages();
    app.setBadgeCount(n);
    const paused = core.features.paused;
    tray?.setToolTip(`Direct Outbox — ${n ? `${n} unsent` : 'all sent'}${paused ? ' (sending paused)' : ''}`);
    refreshMenu();
  };
  updateCount();

  const unsubscribe = core.events.subscribe((batch) => {
    if (affectsUnsentCount(batch)) updateCount();
    if (!Notification.isSupported()) return;
    for (const n of notificationsFor(batch)) {
      const note = new Notification({ title: n.title, body: n.body, icon: iconPath });
      note.on('click', () => show(getWindow()));
      note.show();
    }
  });
  return () => {
    unsubscribe();
    tray?.destroy();
  };
}

function show(win: BrowserWindow | null): void {
  if (!win) return;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

export function appIconPath(): string {
  return app.isPackaged ? path.join(process.resourcesPath, 'icon.png') : path.join(app.getAppPath(), 'resources', 'icon.png');
}
