import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';

const here = path.dirname(fileURLToPath(import.meta.url));

test('a write interrupted by SIGKILL mid-transaction leaves the database consistent', async () => {
  const { dir, cleanup } = tmpDir('outbox-crash-');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'crash-writer.ts'), dir, '25'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('in-transaction')) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
    });
    await new Promise((r) => child.once('exit', r));
    expect(child.signalCode).toBe('SIGKILL');

    const store = Store.open(dir);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(store.db.pragma('foreign_key_check')).toEqual([]);
    // Every committed message is there with its recipients; nothing of the open transaction is.
    const ids = (store.db.prepare('SELECT id FROM messages ORDER BY created_at').all() as { id: string }[]).map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => `ok-${i}`));
    expect(store.db.prepare('SELECT count(*) AS n FROM recipients').get()).toEqual({ n: 50 });
    store.close();
  } finally {
    cleanup();
  }
});
