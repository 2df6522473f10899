/**
 * Issue 11 §4: scripts/electron-native.mjs checks the NODE_MODULE_VERSION of the binary it
 * built against Electron's before stamping it. Checked here with a Node-ABI build (the one in
 * node_modules, which `npm test` uses), and the fail-fast line when Electron is not downloaded.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
// @ts-expect-error plain .mjs script without types
import { assertAbi, binaryAbis } from '../../../scripts/native-abi.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(import.meta.url);
const nodeBuild = path.join(path.dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
const electronDir = path.dirname(require.resolve('electron/package.json'));
const electronAbi = fs.readFileSync(path.join(electronDir, 'abi_version'), 'utf8').trim();

test('the ABI is read from the binary: node_modules\' build is for this Node, not for Electron', () => {
  expect(binaryAbis(nodeBuild)).toEqual([Number(process.versions.modules)]);
  expect(Number(electronAbi)).not.toBe(Number(process.versions.modules));
  expect(() => assertAbi(nodeBuild, process.versions.modules, 'this Node')).not.toThrow();
  expect(() => assertAbi(nodeBuild, electronAbi, 'Electron')).toThrow(
    new RegExp(`NODE_MODULE_VERSION ${process.versions.modules}, but Electron needs ${electronAbi}: not stamping it`),
  );
});

test('a file that is no native module has no ABI and is refused', () => {
  expect(binaryAbis(path.join(root, 'package.json'))).toEqual([]);
  expect(() => assertAbi(path.join(root, 'package.json'), electronAbi, 'Electron')).toThrow(/unknown/);
});

const electronDownloaded = fs.existsSync(path.join(electronDir, 'path.txt'));
test.skipIf(electronDownloaded)('without the Electron download, the script fails at once with one line saying what to do', async () => {
  const r = await promisify(execFile)(process.execPath, [path.join(root, 'scripts/electron-native.mjs')], { cwd: root }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^electron-native: Electron [\d.]+ is not downloaded/);
  expect(lines[0]).toMatch(/ELECTRON_MIRROR/);
  expect(lines[0]).toMatch(/npm run dev:host/);
});
