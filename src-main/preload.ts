/**
 * The preload: exposes `window.outbox` and nothing else (contextIsolation + sandbox). It never
 * hands the raw IpcRendererEvent to the page (that object reaches ipcRenderer itself), and it
 * forwards only channel names of the contract's shape; main validates everything again.
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { OutboxApi } from '../shared/contract';

const INVOKE_PREFIX = 'outbox:invoke:';
const EVENT_PREFIX = 'outbox:event:';
const READY_CHANNEL = 'outbox:ready';
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
  pathForFile(file) {
    try {
      return webUtils.getPathForFile(file) || null;
    } catch {
      return null;
    }
  },
};

contextBridge.exposeInMainWorld('outbox', api);
