/**
 * The headless host: runs the REAL core (Outbox) under plain Node, serves the IPC handler table
 * over a WebSocket on 127.0.0.1, and serves the built renderer with a test-only `window.outbox`
 * shim instead of the Electron preload. Browser tests drive the real renderer and real core
 * through it, with no Electron binary.
 *
 * Standalone: node --import tsx test/host/host.ts --data-dir DIR [--port N]
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppCommand, OutboxEvent } from '../../shared/contract';
import { Outbox, type OutboxOptions } from '../../src-main/core/outbox';
import { attachmentGrantsFor, createHandlers, dispatch, dropHandler } from '../../src-main/ipc-handlers';

const here = path.dirname(fileURLToPath(import.meta.url));
const rendererDir = path.resolve(here, '../../dist/renderer');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

export interface Host {
  url: string;
  core: Outbox;
  /** Sends a native-menu command to the page, as main does from the application menu. */
  menuCommand(command: AppCommand['command']): void;
  close(): Promise<void>;
}

export interface HostOptions extends Omit<OutboxOptions, 'version'> {
  port?: number;
  core?: Outbox;
  /** What the "attach files" dialog returns (the host has no native dialog). */
  chooseFiles?: () => string[];
  /**
   * Start as a computer that has never run the readiness check (its panel then shows above
   * every view). Default: the check has run once already, against loopback targets only.
   */
  firstRun?: boolean;
  /**
   * The undo-send window (setting undoSendSeconds) the host starts with. Default 0: browser
   * tests expect a sent message to go out at once, unless they are about undo send (they pass
   * it). null keeps what the data folder has (dev:host, a person's own folder).
   */
  undoSendSeconds?: number | null;
}

/**
 * The host has no OS keychain: a stand-in that keeps passwords out of the database file (XOR,
 * test-only), so Settings → Sending can store one as the app does with safeStorage.
 */
const testKeychain = {
  isAvailable: () => true,
  encrypt: (s: string) => Buffer.from(Buffer.from(s, 'utf8').map((b) => b ^ 0x6b)),
  decrypt: (b: Buffer) => Buffer.from(b.map((x) => x ^ 0x6b)).toString('utf8'),
};
/** The host is a test machine: its readiness check reaches nothing beyond the fake DNS. */
export const LOOPBACK_READINESS = { port25: [], myIp: [], dnsbl: [], dnssecSigned: 'signed.test', dnssecBogus: 'bogus.test' };

export async function startHost(opts: HostOptions): Promise<Host> {
  if (!fs.existsSync(path.join(rendererDir, 'index.html'))) {
    throw new Error('dist/renderer is missing: run `npm run build` first');
  }
  const core =
    opts.core ??
    new Outbox({
      secretCipher: testKeychain,
      ...opts,
      network: { readinessTargets: LOOPBACK_READINESS, readinessTimeoutMs: 1000, ...opts.network },
      version: 'test-host',
    });
  if (!opts.firstRun && !opts.core && core.readiness.last === null) await core.readiness.run();
  if (opts.undoSendSeconds !== null) core.store.setSettings({ undoSendSeconds: opts.undoSendSeconds ?? 0 });
  const exportsDir = path.join(opts.dataDir, 'exports');
  const grants = attachmentGrantsFor(core);
  const table = createHandlers(core, {
    async chooseFiles() {
      return opts.chooseFiles?.() ?? [];
    },
    // The host has no dialogs: exports go to <data>/exports and the shim turns them into a download.
    async chooseSavePath(defaultName) {
      fs.mkdirSync(exportsDir, { recursive: true });
      return path.join(exportsDir, defaultName);
    },
    async openPath() {},
  }, grants);
  // The host has no dialog of main's own to confirm a drop in, so it refuses them (its browser
  // Files carry no path anyway); "Attach files…" (chooseFiles) is how host tests attach.
  const drop = dropHandler(grants, async () => false);

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/__host/shim.js') {
      res.writeHead(200, { 'content-type': TYPES['.js']! });
      res.end(fs.readFileSync(path.join(here, 'shim.js')));
      return;
    }
    if (url.pathname.startsWith('/__host/exports/')) {
      serveExport(exportsDir, url.pathname.slice('/__host/exports/'.length), res);
      return;
    }
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = path.resolve(rendererDir, rel);
    if (!file.startsWith(rendererDir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    let body: Buffer | string = fs.readFileSync(file);
    if (rel === 'index.html') {
      const { port } = server.address() as { port: number };
      // Same strict CSP as the app, except the host's WebSocket; the shim loads before the app.
      body = body
        .toString('utf8')
        .replace("connect-src 'none'", `connect-src ws://127.0.0.1:${port}`)
        .replace('<head>', '<head><script src="/__host/shim.js"></script>');
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  });

  const wss = new WebSocketServer({ server, path: '/__host/ws' });
  const sockets = new Set<WebSocket>();
  const readySockets = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => (sockets.delete(ws), readySockets.delete(ws)));
    ws.on('message', async (raw) => {
      let msg: { id?: number; channel?: unknown; payload?: unknown; ready?: boolean; drop?: unknown };
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (msg.ready) {
        readySockets.add(ws);
        return;
      }
      // The preload's drop channel: the same grant registry as the table's.
      const result = msg.drop !== undefined ? await drop(msg.drop) : await dispatch(table, msg.channel, msg.payload);
      ws.send(JSON.stringify({ id: msg.id, result }));
    });
  });
  const unsubscribe = core.events.subscribe((batch: OutboxEvent[]) => {
    const data = JSON.stringify({ event: 'outbox.events', payload: batch });
    for (const ws of readySockets) ws.send(data);
  });

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    core,
    menuCommand(command) {
      const data = JSON.stringify({ event: 'app.command', payload: { command } });
      for (const ws of readySockets) ws.send(data);
    },
    async close() {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!opts.core) await core.close();
    },
  };
}

/**
 * Serves one finished export as a download: only a plain file name, only a regular file directly
 * inside <dataDir>/exports (no traversal, no symlinks out, no directories).
 */
function serveExport(exportsDir: string, encoded: string, res: http.ServerResponse): void {
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    res.writeHead(400).end('bad name');
    return;
  }
  const file = path.join(exportsDir, name);
  const ok =
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(name) &&
    !name.includes('..') &&
    path.dirname(file) === exportsDir &&
    fs.existsSync(file) &&
    fs.lstatSync(file).isFile();
  if (!ok) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="${name}"`,
  });
  fs.createReadStream(file).pipe(res);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const dataDir = arg('--data-dir') ?? fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'outbox-host-'));
  const host = await startHost({ dataDir, port: Number(arg('--port') ?? 0) });
  console.log(`headless host on ${host.url} (data in ${dataDir})`);
}
