/**
 * Binds the contract's handler table to Electron's ipcMain. Thin by design: validation and
 * dispatch live in ipc-handlers.ts (tested under Node); this file adds only what needs
 * Electron — the sender check (Electron security checklist §17: validate the sender of every
 * IPC message) and holding events until the renderer says it is ready.
 */
import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent, type WebFrameMain } from 'electron';
import { channelNames, DROP_CHANNEL, EVENT_PREFIX, INVOKE_PREFIX, READY_CHANNEL, type OutboxEvent } from '../shared/contract';
import type { Outbox } from './core/outbox';
import { attachmentGrantsFor, createHandlers, dispatch, dropHandler, isAppUrl, type Platform } from './ipc-handlers';

export function registerIpc(core: Outbox, platform: Platform, getWindow: () => BrowserWindow | null, appUrl: string): () => void {
  const grants = attachmentGrantsFor(core);
  const table = createHandlers(core, platform, grants);
  const drop = dropHandler(grants, platform.confirmDrop ?? (async () => false));
  let ready = false;
  const held: OutboxEvent[] = [];

  const trusted = (frame: WebFrameMain | null): boolean => {
    const win = getWindow();
    // Only the main frame of our own window, showing our own page, may call in.
    return !!frame && !!win && frame === win.webContents.mainFrame && isAppUrl(frame.url, appUrl);
  };

  for (const name of channelNames) {
    ipcMain.handle(INVOKE_PREFIX + name, (event: IpcMainInvokeEvent, payload: unknown) => {
      if (!trusted(event.senderFrame)) {
        return { ok: false, error: { code: 'FORBIDDEN', message: 'untrusted sender' } };
      }
      return dispatch(table, name, payload);
    });
  }

  // Dropped files: paths from the preload (webUtils), confirmed by the user in main's dialog,
  // then granted by main; see dropHandler and attachment-grants.ts.
  ipcMain.handle(DROP_CHANNEL, (event: IpcMainInvokeEvent, paths: unknown) => {
    if (!trusted(event.senderFrame)) return { ok: false, error: { code: 'FORBIDDEN', message: 'untrusted sender' } };
    return drop(paths);
  });

  const send = (batch: OutboxEvent[]) => getWindow()?.webContents.send(`${EVENT_PREFIX}outbox.events`, batch);
  const unsubscribe = core.events.subscribe((batch) => {
    if (ready) send(batch);
    else held.push(...batch.slice(0, 10_000 - held.length));
  });
  const onReady = (event: Electron.IpcMainEvent) => {
    if (!trusted(event.senderFrame)) return;
    ready = true;
    if (held.length) send(held.splice(0));
  };
  ipcMain.on(READY_CHANNEL, onReady);

  return () => {
    unsubscribe();
    ipcMain.removeListener(READY_CHANNEL, onReady);
    ipcMain.removeHandler(DROP_CHANNEL);
    for (const name of channelNames) ipcMain.removeHandler(INVOKE_PREFIX + name);
  };
}
