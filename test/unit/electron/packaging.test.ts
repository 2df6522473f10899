/**
 * Issue 11 §3: the packaged app's Electron fuses, read from electron-builder.yml with
 * electron-builder's own config loader and validated against its schema (so a misspelt key
 * fails here instead of being ignored at packaging time).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config';
import { DebugLogger } from 'builder-util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('electron-builder.yml sets the fuses: no RunAsNode, NODE_OPTIONS or --inspect; app only from an integrity-checked asar; cookies encrypted', async () => {
  const config = await getConfig(root, path.join(root, 'electron-builder.yml'), null);
  await validateConfiguration(config, new DebugLogger(false));
  expect(config.electronFuses).toEqual({
    runAsNode: false,
    enableNodeOptionsEnvironmentVariable: false,
    enableNodeCliInspectArguments: false,
    onlyLoadAppFromAsar: true,
    enableEmbeddedAsarIntegrityValidation: true,
    enableCookieEncryption: true,
  });
  expect(config.asar).toBe(true);
  // The Electron-ABI sqlite build ships beside the asar, never rebuilt in node_modules.
  expect(config.npmRebuild).toBe(false);
});
