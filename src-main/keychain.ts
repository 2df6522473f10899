/**
 * Relay and proxy passwords in the OS keychain: Electron's safeStorage (Keychain on macOS,
 * DPAPI on Windows, libsecret/kwallet on Linux) as the core's SecretCipher. On Linux without a
 * secret service safeStorage falls back to "basic_text", a key hard-coded in Chromium: that is
 * no protection, so it counts as unavailable (the user is told; env/file passwords via the CLI
 * still work).
 */
import { safeStorage } from 'electron';
import type { SecretCipher } from './core/sending/secrets';

export const keychain: SecretCipher = {
  isAvailable: () =>
    safeStorage.isEncryptionAvailable() && !(process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text'),
  encrypt: (plain) => safeStorage.encryptString(plain),
  decrypt: (blob) => safeStorage.decryptString(blob),
};
