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
  try {
    tray = new Tray(nativeImage.createFromPath(iconPath).resize({ width: 18, height: 18 }));
    tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: 'Show Direct Outbox', click: () => show(getWindow()) },
        { type: 'separator' },
        { role: 'quit' },
      ]),
    );
    tray.on('click', () => show(getWindow()));
  } catch {
    tray = null; // some Linux desktops have no tray; the badge and notifications still work
  }

  const updateCount = () => {
    const n = core.store.countUnsentMessages();
    app.setBadgeCount(n);
    tray?.setToolTip(n ? `Direct Outbox — ${n} unsent` : 'Direct Outbox — all sent');
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
