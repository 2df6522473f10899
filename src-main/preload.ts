/**
 * The preload: exposes `window.outbox` and nothing else (contextIsolation + sandbox). It never
 * hands the raw IpcRendererEvent to the page (that object reaches ipcRenderer itself), and it
 * forwards only channel names of the contract's shape; main validates everything again.
 * Dropped files' paths never reach the page: attachFiles sends them straight to main.
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { OutboxApi } from '../shared/contract';

const INVOKE_PREFIX = 'outbox:invoke:';
const EVENT_PREFIX = 'outbox:event:';
const READY_CHANNEL = 'outbox:ready';
const DROP_CHANNEL = 'outbox:drop';
const NAME = /^[a-z]+\.[a-zA-Z]+$/;

const api: OutboxApi = {
  async invoke(channel, request) {
    if (typeof channel !== 'string' || !NAME.test(channel)) {
      return { ok: false, error: { code: 'UNKNOWN_CHANNEL', message: 'invalid channel name' } };
    }
    try {
      return await ipcRenderer.invoke(INVOKE_PREFIX + channel, request);
    } catch (e) {
      return { ok: false, error: { code: 'UNKNOWN_CHANNEL', message: e instanceof Error ? e.message : String(e) } };
    }
  },
  on(event, listener) {
    if (event !== 'outbox.events' && event !== 'app.command') throw new Error(`unknown event ${String(event)}`);
    const wrapped = (_e: unknown, payload: unknown) => listener(payload as Parameters<typeof listener>[0]);
    ipcRenderer.on(EVENT_PREFIX + event, wrapped);
    return () => ipcRenderer.removeListener(EVENT_PREFIX + event, wrapped);
  },
  ready() {
    ipcRenderer.send(READY_CHANNEL);
  },
  async attachFiles(files) {
    // The path of each dropped File stays in this isolated world: it goes to main on a channel
    // the page cannot name (not an invoke channel), and main grants a token for it.
    const list = Array.from(files as ArrayLike<File>).slice(0, 100);
    const paths = list.map((f) => {
      try {
        return webUtils.getPathForFile(f) || null;
      } catch {
        return null;
      }
    });
    try {
      return await ipcRenderer.invoke(DROP_CHANNEL, paths);
    } catch (e) {
      return { ok: false, error: { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) } };
    }
  },
};

contextBridge.exposeInMainWorld('outbox', api);
