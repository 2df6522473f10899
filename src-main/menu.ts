/** The native application menu with the platform's usual roles and shortcuts. */
import { Menu, type MenuItemConstructorOptions } from 'electron';

export type MenuCommand = 'compose' | 'outbox' | 'logs' | 'settings' | 'send';

export function buildMenu(actions: { openLogFolder: () => void; command: (c: MenuCommand) => void }): Menu {
  const isMac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'New Message', accelerator: 'CmdOrCtrl+N', click: () => actions.command('compose') },
        { label: 'Send', accelerator: 'CmdOrCtrl+Enter', click: () => actions.command('send') },
        { type: 'separator' },
        { label: 'Open Log Folder', click: actions.openLogFolder },
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'Go',
      submenu: [
        { label: 'Compose', accelerator: 'CmdOrCtrl+1', click: () => actions.command('compose') },
        { label: 'Outbox', accelerator: 'CmdOrCtrl+2', click: () => actions.command('outbox') },
        { label: 'Logs', accelerator: 'CmdOrCtrl+3', click: () => actions.command('logs') },
        { label: 'Settings', accelerator: 'CmdOrCtrl+,', click: () => actions.command('settings') },
      ],
    },
    { role: 'viewMenu' },
    { role: 'windowMenu' },
  ];
  return Menu.buildFromTemplate(template);
}
