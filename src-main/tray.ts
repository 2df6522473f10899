/**
 * The tray icon with its menu (counts, Show, Pause sending, Quit; the model is lifecycle.ts
 * trayMenu), the dock/taskbar badge with the number of unsent messages, and OS notifications
 * for failures and unencrypted deliveries (decided in notifications.ts).
 */
import path from 'node:path';
import { app, Menu, nativeImage, Notification, Tray, type BrowserWindow, type MenuItemConstructorOptions } from 'electron';
import type { Outbox } from './core/outbox';
import { affectsTrayState, trayMenu, trayTooltip, type TrayAction, type TrayState } from './lifecycle';
import { notificationsFor } from './notifications';

export interface DesktopSignals {
  /** False on desktops without a tray. */
  readonly trayAvailable: boolean;
  detach(): void;
}

export function attachDesktopSignals(core: Outbox, iconPath: string, getWindow: () => BrowserWindow | null, quit: () => void): DesktopSignals {
  let tray: Tray | null = null;
  const state = (): TrayState => ({ unsent: core.store.countUnsentMessages(), failed: core.store.countUnseenFailedMessages(), paused: core.features.paused });
  const run = (action: TrayAction) => {
    if (action === 'show') show(getWindow());
    else if (action === 'quit') quit();
    else {
      // "Pause sending" is the same hold rule as the outbox's and the CLI's (core/queue-features).
      if (core.features.paused) core.features.unpause();
      else core.features.pause();
      update();
    }
  };
  const template = (s: TrayState): MenuItemConstructorOptions[] =>
    trayMenu(s).map((item) =>
      item.kind === 'separator'
        ? { type: 'separator' }
        : item.kind === 'status'
          ? { label: item.label, enabled: false }
          : { label: item.label, ...(item.checked !== undefined ? { type: 'checkbox' as const, checked: item.checked } : {}), click: () => run(item.action) },
    );
  try {
    tray = new Tray(nativeImage.createFromPath(iconPath).resize({ width: 18, height: 18 }));
    tray.on('click', () => show(getWindow()));
  } catch {
    tray = null; // some Linux desktops have no tray; the badge and notifications still work
  }

  const update = () => {
    const s = state();
    app.setBadgeCount(s.unsent);
    tray?.setToolTip(trayTooltip(s));
    tray?.setContextMenu(Menu.buildFromTemplate(template(s)));
  };
  update();

  const unsubscribe = core.events.subscribe((batch) => {
    if (affectsTrayState(batch)) update();
    if (!Notification.isSupported()) return;
    for (const n of notificationsFor(batch)) {
      const note = new Notification({ title: n.title, body: n.body, icon: iconPath });
      note.on('click', () => show(getWindow()));
      note.show();
    }
  });
  return {
    trayAvailable: tray !== null,
    detach() {
      unsubscribe();
      tray?.destroy();
    },
  };
}

export function show(win: BrowserWindow | null): void {
  if (!win) return;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

export function appIconPath(): string {
  return app.isPackaged ? path.join(process.resourcesPath, 'icon.png') : path.join(app.getAppPath(), 'resources', 'icon.png');
}
