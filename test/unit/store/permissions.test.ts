/**
 * Issue 10 item 15: the data folder, the database (with -wal/-shm, it holds DKIM private keys),
 * the message files and the messages folder are the owner's only — through the core and the CLI.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { createIdentity } from '../../../src-main/core/identities';
import { Outbox } from '../../../src-main/core/outbox';
import { tmpDir } from '../../helpers/tmp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const mode = (p: string) => fs.statSync(p).mode & 0o777;
const posix = process.platform !== 'win32';

/** `open`: the database is open, so its -wal and -shm files exist (a closed one removes them). */
function expectPrivate(dataDir: string, open: boolean): void {
  expect(mode(dataDir)).toBe(0o700);
  expect(mode(path.join(dataDir, 'messages'))).toBe(0o700);
  for (const f of ['outbox.sqlite3', ...(open ? ['outbox.sqlite3-wal', 'outbox.sqlite3-shm'] : [])]) expect([f, mode(path.join(dataDir, f))]).toEqual([f, 0o600]);
  for (const f of fs.readdirSync(path.join(dataDir, 'messages'))) expect([f, mode(path.join(dataDir, 'messages', f))]).toEqual([f, 0o600]);
}

test.skipIf(!posix)('data folder, database with -wal/-shm and message files are created 0700/0600 by the core', async () => {
  const t = tmpDir('outbox-perm-');
  const old = process.umask(0o022);
  try {
    const dataDir = path.join(t.dir, 'data');
    const core = new Outbox({ dataDir, deliver: async () => ({ recipients: [], attempts: [], dialedIps: [], hint: null }) });
    createIdentity(core.store, 0, { address: 'me@sender.test', displayName: 'Me', algorithms: ['ed25519-sha256'] });
    const r = await core.submit({ from: 'me@sender.test', to: ['a@dest.test'], cc: [], bcc: [], subject: 'hi', text: 'hello', attachments: [], tlsMode: 'default' });
    expect(r.ok).toBe(true);
    expectPrivate(dataDir, true);
    await core.close();
  } finally {
    process.umask(old);
    t.cleanup();
  }
});

test.skipIf(!posix)('a data folder and database left 0755/0644 by an older version are tightened at open', async () => {
  const t = tmpDir('outbox-perm-old-');
  const old = process.umask(0o022);
  try {
    const dataDir = path.join(t.dir, 'data');
    new Outbox({ dataDir }).store.close();
    fs.chmodSync(dataDir, 0o755);
    fs.chmodSync(path.join(dataDir, 'messages'), 0o755);
    fs.chmodSync(path.join(dataDir, 'outbox.sqlite3'), 0o644);
    const core = new Outbox({ dataDir });
    expectPrivate(dataDir, true);
    await core.close();
  } finally {
    process.umask(old);
    t.cleanup();
  }
});

test.skipIf(!posix)('the CLI creates the same private data folder (identity with a DKIM key, a queued message)', () => {
  const t = tmpDir('outbox-perm-cli-');
  try {
    const dataDir = path.join(t.dir, 'data');
    const run = (args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin/outbox.mjs'), ...args, '--data-dir', dataDir], { cwd: root, encoding: 'utf8' });
    expect(run(['identity', 'add', '--address', 'me@sender.test', '--dkim', 'ed25519', '--selector', 'desk']).status).toBe(0);
    expect(run(['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--subject', 'x']).status).toBe(0);
    expectPrivate(dataDir, false);
  } finally {
    t.cleanup();
  }
});
