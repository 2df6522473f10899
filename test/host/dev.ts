/**
 * `npm run dev:host`: the real app in a browser, without Electron — for development on a
 * machine that cannot download Electron. Starts the core with its queue running (messages are
 * delivered for real), serves the built renderer through the headless host and prints the URL.
 * Takes the CLI's network options, checked by the same rules (shared/settings.ts):
 *
 *   npm run dev:host -- [--data-dir DIR] [--dns HOST[:PORT] ...] [--ca-file FILE]
 *                       [--smtp-port N] [--https-port N] [--ehlo NAME] [--port N]
 *
 * The host has no native file dialog, so "Attach files…" offers the files given with
 * `--attach-choice FILE` (repeatable). Stop it with Ctrl+C (the queue stops cleanly).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Outbox, type NetworkOptions } from '../../src-main/core/outbox';
import { dnsServerProblem, hostNameProblem } from '../../shared/settings';
import { startHost } from './host';

function die(message: string): never {
  console.error(`dev:host: ${message}`);
  process.exit(2);
}

function port(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) die(`--${name} must be a port number`);
  return Number(v);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      dns: { type: 'string', multiple: true },
      'ca-file': { type: 'string' },
      'smtp-port': { type: 'string' },
      'https-port': { type: 'string' },
      ehlo: { type: 'string' },
      port: { type: 'string' },
      'attach-choice': { type: 'string', multiple: true },
    },
    strict: true,
  }));
} catch (e) {
  die((e as Error).message);
}

const network: NetworkOptions = {};
for (const d of values.dns ?? []) {
  const problem = dnsServerProblem(d);
  if (problem) die(`--dns ${d}: ${problem}`);
}
if (values.dns?.length) network.dnsServers = values.dns;
if (values['ca-file']) {
  try {
    network.extraCa = [fs.readFileSync(values['ca-file'], 'utf8')];
  } catch (e) {
    die(`--ca-file: ${(e as Error).message}`);
  }
}
const smtpPort = port(values['smtp-port'], 'smtp-port');
if (smtpPort) network.smtpPort = smtpPort;
const httpsPort = port(values['https-port'], 'https-port');
if (httpsPort) network.httpsPort = httpsPort;
if (values.ehlo !== undefined) {
  const problem = hostNameProblem(values.ehlo);
  if (problem) die(`--ehlo: ${problem}`);
  network.ehloName = values.ehlo;
}

const dataDir = values['data-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-dev-'));
let core: Outbox;
try {
  core = new Outbox({ dataDir, network, version: 'dev-host' });
} catch (e) {
  // A lost or damaged database over queued files (DataDirError) names them and says to run
  // `outbox recover --data-dir DIR`; never a stack trace, never an empty outbox.
  die((e as Error).message);
}
for (const notice of core.startupNotices) console.error(`dev:host: warning: ${notice}`);
core.queue.start();
const choices = (values['attach-choice'] ?? []).map((f) => path.resolve(f));
// A person's own folder: their undo-send setting stands (tests get 0 from startHost's default).
const host = await startHost({ dataDir, core, port: port(values.port, 'port') ?? 0, chooseFiles: () => choices, undoSendSeconds: null });
console.log(`Direct Outbox (headless host): ${host.url}`);
console.log(`data in ${dataDir}; the queue is running; Ctrl+C stops it`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void host
    .close()
    .then(() => core.close())
    .finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
