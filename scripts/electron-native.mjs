#!/usr/bin/env node
// Keeps an Electron-ABI build of better-sqlite3 apart from node_modules' Node-ABI build, so
// `npm start` and `npm test` never fight over one binary: the app loads
// native/electron/better_sqlite3.node through better-sqlite3's `nativeBinding` option, tests load
// node_modules' own. Built once per Electron version (prebuilt download, else compile against
// Electron's headers); later runs see the stamp and do nothing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const electronVersion = require('electron/package.json').version;
const sqliteDir = path.dirname(require.resolve('better-sqlite3/package.json'));
const sqliteVersion = require('better-sqlite3/package.json').version;
const arch = process.env.npm_config_arch || process.arch;
const outDir = path.join(root, 'native', 'electron');
const out = path.join(outDir, 'better_sqlite3.node');
const stampFile = path.join(outDir, 'stamp.json');
const stamp = { electronVersion, sqliteVersion, arch, platform: process.platform };

if (fs.existsSync(out) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === JSON.stringify(stamp)) {
  process.exit(0);
}

// Work on a copy so node_modules/better-sqlite3/build (the Node-ABI build) is never touched.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-native-'));
fs.cpSync(sqliteDir, work, { recursive: true, filter: (src) => !src.includes(`${path.sep}build${path.sep}`) });
fs.rmSync(path.join(work, 'build'), { recursive: true, force: true });
const bin = (name) => path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: work, stdio: 'inherit', shell: process.platform === 'win32' });

console.log(`building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (${process.platform}-${arch})`);
try {
  run(bin('prebuild-install'), ['--runtime', 'electron', '--target', electronVersion, '--arch', arch]);
} catch {
  console.log('no prebuilt binary; compiling against Electron headers');
  run(bin('node-gyp'), ['rebuild', '--release', `--target=${electronVersion}`, `--arch=${arch}`, '--dist-url=https://electronjs.org/headers']);
}
fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(path.join(work, 'build', 'Release', 'better_sqlite3.node'), out);
fs.writeFileSync(stampFile, JSON.stringify(stamp));
fs.rmSync(work, { recursive: true, force: true });
console.log(`wrote ${path.relative(root, out)}`);
