#!/usr/bin/env node
// Keeps an Electron-ABI build of better-sqlite3 apart from node_modules' Node-ABI build, so
// `npm start` and `npm test` never fight over one binary: the app loads
// native/electron/better_sqlite3.node through better-sqlite3's `nativeBinding` option, tests load
// node_modules' own. Built once per Electron version with @electron/rebuild (the tool made for
// it: Electron's headers and ABI, a prebuilt binary when one exists); later runs see the stamp
// and do nothing.
//
// Refuses instead of producing a wrong build: npm config that points node-gyp at Node's headers
// (`nodedir`, `target`, `runtime`, `disturl`) is removed from the environment first, and the
// built binary's NODE_MODULE_VERSION must equal Electron's before it is stamped. When Electron
// or its headers cannot be downloaded, one line says what to do, before anything slow runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { assertAbi } from './native-abi.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const electronDir = path.dirname(require.resolve('electron/package.json'));
const electronVersion = require('electron/package.json').version;
const electronAbi = fs.readFileSync(path.join(electronDir, 'abi_version'), 'utf8').trim();
const sqliteDir = path.dirname(require.resolve('better-sqlite3/package.json'));
const sqliteVersion = require('better-sqlite3/package.json').version;
const arch = process.env.npm_config_arch || process.arch;
const outDir = path.join(root, 'native', 'electron');
const out = path.join(outDir, 'better_sqlite3.node');
const stampFile = path.join(outDir, 'stamp.json');
const stamp = { electronVersion, electronAbi, sqliteVersion, arch, platform: process.platform };

/** What to do when something cannot be downloaded: one line, the same everywhere. */
const offline = (then) =>
  `connect to the internet (or set HTTPS_PROXY; or ELECTRON_MIRROR / electron_config_cache for a mirror or a local cache) and ${then}; ` +
  'or develop without Electron: `npm run dev:host` runs the same app in a browser (README, Set up)';

function fail(line) {
  console.error(`electron-native: ${line}`);
  process.exit(1);
}

// 1. Electron itself: its postinstall downloads the binary; without it `electron .` cannot run.
const pathTxt = path.join(electronDir, 'path.txt');
const electronBinary = fs.existsSync(pathTxt) ? path.join(electronDir, 'dist', fs.readFileSync(pathTxt, 'utf8').trim()) : null;
if (!electronBinary || !fs.existsSync(electronBinary)) {
  fail(`Electron ${electronVersion} is not downloaded (node_modules/electron/dist is missing): ${offline('run `node node_modules/electron/install.js`')}.`);
}

if (fs.existsSync(out) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === JSON.stringify(stamp)) {
  assertAbi(out, electronAbi, `Electron ${electronVersion}`);
  process.exit(0);
}

// 2. npm passes its config to scripts as npm_config_*; node-gyp obeys `nodedir` over any target,
//    which silently builds against Node's headers (a Node-ABI binary). Electron's build decides.
for (const key of Object.keys(process.env)) {
  if (/^npm_config_(nodedir|target|runtime|disturl|dist_url|build_from_source)$/i.test(key)) delete process.env[key];
}

// 3. Build in a copy, so node_modules/better-sqlite3/build (the Node-ABI build) is never touched.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-native-'));
const moduleDir = path.join(work, 'node_modules', 'better-sqlite3');
fs.cpSync(sqliteDir, moduleDir, { recursive: true, filter: (src) => !src.startsWith(path.join(sqliteDir, 'build')) });
fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'outbox-native', version: '0.0.0', dependencies: { 'better-sqlite3': sqliteVersion } }));

console.log(`building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (ABI ${electronAbi}, ${process.platform}-${arch}) with @electron/rebuild`);
try {
  const { rebuild } = await import('@electron/rebuild');
  await rebuild({ buildPath: work, electronVersion, arch, onlyModules: ['better-sqlite3'], force: true, mode: 'sequential' });
} catch (e) {
  fs.rmSync(work, { recursive: true, force: true });
  const msg = e instanceof Error ? e.message : String(e);
  const network = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|getaddrinfo|socket hang up|download|headers|HTTPError|\b40[34]\b/i.test(msg);
  fail(network
    ? `could not download Electron ${electronVersion}'s headers to build better-sqlite3 (${msg.split('\n')[0].slice(0, 160)}): ${offline('run `npm start` again')}.`
    : `building better-sqlite3 for Electron ${electronVersion} failed: ${msg.split('\n')[0].slice(0, 300)}`);
}

// 4. Check what was built before calling it Electron's.
const built = path.join(moduleDir, 'build', 'Release', 'better_sqlite3.node');
try {
  assertAbi(built, electronAbi, `Electron ${electronVersion}`);
} catch (e) {
  fs.rmSync(work, { recursive: true, force: true });
  fail(e.message);
}
fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(built, out);
fs.writeFileSync(stampFile, JSON.stringify(stamp));
fs.rmSync(work, { recursive: true, force: true });
console.log(`wrote ${path.relative(root, out)}`);
