/**
 * Where relay and proxy passwords live. A transport stores only a reference:
 *
 *   keychain:<id>  encrypted by the platform keychain (the app injects Electron's safeStorage
 *                  as the SecretCipher) and kept as an opaque blob in the store;
 *   env:<VAR>      read from the environment when needed (the CLI's --password-env);
 *   file:<path>    read from a file that only its owner can read (0600; --password-file).
 *
 * The value is read only when a connection needs it, and never returned to the renderer,
 * written to a transcript, log or export, or put into an error message: every error here names
 * the reference, not the secret.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TransportsRepo } from '../store/transports-repo';

/** The platform keychain (Electron safeStorage in the app). */
export interface SecretCipher {
  isAvailable(): boolean;
  encrypt(plain: string): Buffer;
  decrypt(blob: Buffer): string;
}

export class SecretError extends Error {
  override name = 'SecretError';
}

/** A password file may not be larger than this (it holds one line). */
const MAX_SECRET_BYTES = 4096;

export type SecretSource = 'keychain' | 'env' | 'file';

export function secretSource(ref: string | null): SecretSource | null {
  if (!ref) return null;
  const kind = ref.slice(0, ref.indexOf(':'));
  return kind === 'keychain' || kind === 'env' || kind === 'file' ? kind : null;
}

export class SecretStore {
  constructor(
    private readonly repo: TransportsRepo,
    private readonly cipher: SecretCipher | null,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly now: () => number = Date.now,
  ) {}

  /** Encrypts `value` with the keychain and returns its reference. */
  putKeychain(value: string): string {
    if (!this.cipher || !this.cipher.isAvailable()) {
      throw new SecretError('the system keychain is not available: passwords cannot be stored safely here');
    }
    if (value.length === 0 || Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new SecretError('the password must be 1 to 4096 bytes');
    const id = randomUUID();
    this.repo.putSecret(id, this.cipher.encrypt(value), this.now());
    return `keychain:${id}`;
  }

  /** A reference to an environment variable, checked now (it must be set and not empty). */
  envRef(name: string): string {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SecretError(`${JSON.stringify(name)} is not an environment variable name`);
    if (!this.env[name]) throw new SecretError(`environment variable ${name} is not set`);
    return `env:${name}`;
  }

  /** A reference to a password file, checked now (see readFile). */
  fileRef(file: string): string {
    const abs = path.resolve(file);
    readFile(abs);
    return `file:${abs}`;
  }

  /** The secret behind a reference. Throws SecretError naming the reference, never the value. */
  resolve(ref: string): string {
    const source = secretSource(ref);
    const rest = ref.slice(ref.indexOf(':') + 1);
    switch (source) {
      case 'keychain': {
        const blob = this.repo.getSecret(rest);
        if (!blob) throw new SecretError('the stored password is missing from the store: set it again');
        if (!this.cipher || !this.cipher.isAvailable()) {
          throw new SecretError('this password is in the app\'s keychain, which is not available here (the CLI takes --password-env or --password-file)');
        }
        try {
          return this.cipher.decrypt(blob);
        } catch {
          throw new SecretError('the keychain could not decrypt the stored password: set it again');
        }
      }
      case 'env': {
        const v = this.env[rest];
        if (!v) throw new SecretError(`environment variable ${rest} (the transport's password) is not set`);
        return v;
      }
      case 'file':
        return readFile(rest);
      default:
        throw new SecretError('unknown password reference');
    }
  }

  /** Deletes what a reference owns (only keychain blobs; env and files are the user's). */
  release(ref: string | null): void {
    if (secretSource(ref) === 'keychain') this.repo.deleteSecret(ref!.slice('keychain:'.length));
  }
}

/**
 * Reads a password file: a regular file of at most 4 KiB that only its owner may read or write
 * (like ssh's key files: a password readable by others is not a secret). One trailing newline
 * is dropped, so `echo pw > file` works.
 */
function readFile(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new SecretError(`password file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read'}`);
  }
  if (!st.isFile()) throw new SecretError(`password file ${file} is not a regular file`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new SecretError(`password file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
  }
  if (st.size === 0 || st.size > MAX_SECRET_BYTES) throw new SecretError(`password file ${file} must hold 1 to 4096 bytes`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new SecretError(`password file ${file} cannot be read`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value.length === 0 || /[\r\n\0]/.test(value)) throw new SecretError(`password file ${file} must hold one line`);
  return value;
}
