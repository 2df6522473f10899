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
  function download(filePath) {
    const name = String(filePath).split(/[\\/]/).pop();
    const a = document.createElement('a');
    a.href = `/__host/exports/${encodeURIComponent(name)}`;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
  }
  window.outbox = Object.freeze({
    async invoke(channel, request) {
      await open;
      const id = ++seq;
      const result = await new Promise((resolve) => {
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, channel, payload: request }));
      });
      // Electron shows a save dialog; here main wrote the file under <data>/exports and the
      // host serves it, so a successful export becomes an ordinary browser download.
      if (channel === 'logs.export' && result && result.ok && result.value.path) download(result.value.path);
      return result;
    },
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(listener);
      return () => listeners.get(event).delete(listener);
    },
    // Browser File objects have no local path (the preload's webUtils has no stand-in here), so
    // main refuses each one, as it does a File without a path in the app; the attach dialog
    // (compose.pickAttachments, the host's chooseFiles) is how host tests attach files.
    async attachFiles(files) {
      await open;
      const id = ++seq;
      return new Promise((resolve) => {
        pending.set(id, (result) => resolve(result.ok ? { ok: true, value: result.value.map((v, i) => ({ ...v, filename: files[i]?.name ?? '' })) } : result));
        ws.send(JSON.stringify({ id, drop: Array.from(files, () => null) }));
      });
    },
    ready() {
      open.then(() => ws.send(JSON.stringify({ ready: true })));
    },
  });
})();
