// Test-only stand-in for the Electron preload: the same `window.outbox` API, carried over a
// WebSocket to the headless host, which serves the same handler table as ipcMain.
(() => {
  const ws = new WebSocket(`ws://${location.host}/__host/ws`);
  const open = new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', reject, { once: true });
  });
  let seq = 0;
  const pending = new Map();
  const listeners = new Map();
  ws.addEventListener('message', (msg) => {
    const data = JSON.parse(msg.data);
    if (data.id !== undefined) {
      pending.get(data.id)?.(data.result);
      pending.delete(data.id);
    } else if (data.event) {
      for (const l of listeners.get(data.event) ?? []) l(data.payload);
    }
  });
  window.outbox = Object.freeze({
    async invoke(channel, request) {
      await open;
      const id = ++seq;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, channel, payload: request }));
      });
    },
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(listener);
      return () => listeners.get(event).delete(listener);
    },
    ready() {
      open.then(() => ws.send(JSON.stringify({ ready: true })));
    },
  });
})();
