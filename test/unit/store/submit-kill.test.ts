/**
 * A process SIGKILLed in the middle of enqueueing (issue 10's durability, kept by issue 14's
 * cheaper enqueue, core/enqueue.ts): the writer submits without pause through all three ways
 * into the queue and is killed at a random moment, four times over the same data folder. After
 * each kill the next start finds every acknowledged message queued, with its .eml matching the
 * size and SHA-256 in its row and envelope, and nothing else in messages/: whatever the kill
 * interrupted (a temporary .eml, an envelope without its row) is gone. At the end the database
 * is deleted and the recovery re-queues every message from its files, reporting no problem.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { recoverQueuedFiles } from '../../../src-main/core/store/recover';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Runs the writer until it has acknowledged `after` messages, then kills it a moment later. */
async function runAndKill(dataDir: string, attachment: string, after: number, delayMs: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'submit-kill-writer.ts'), dataDir, attachment], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked: string[] = [];
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('acked ')) acked.push(line.slice(6));
        if (acked.length === after) setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited with ${code}`))));
  });
  return acked;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

test('SIGKILL mid-enqueue, four times: every acknowledged message is queued and matches its files, nothing half-written remains; recovery re-queues them all', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = tmpDir('outbox-submit-kill-');
  try {
    const attachment = path.join(dir, 'att.bin');
    fs.writeFileSync(attachment, crypto.randomBytes(200_000));
    const data = path.join(dir, 'data');
    const acked: string[] = [];
    for (const delay of [0, 3, 7, 13]) {
      acked.push(...(await runAndKill(data, attachment, 12, delay)));
      // What the kill interrupted (logged, not asserted: where a kill lands is chance).
      const before = fs.readdirSync(path.join(data, 'messages'));
      console.log(`submit-kill: ${before.filter((n) => n.startsWith('.')).length} temporary file(s), ${before.filter((n) => n.endsWith('.json')).length - before.filter((n) => n.endsWith('.eml')).length} envelope(s) without .eml at the kill`);
      const store = Store.open(data);
      try {
        const rows = store.db.prepare('SELECT id, size, sha256 FROM messages').all() as { id: string; size: number; sha256: string }[];
        const ids = new Set(rows.map((r) => r.id));
        expect(acked.filter((id) => !ids.has(id))).toEqual([]);
        for (const r of rows) {
          const eml = path.join(store.messagesDir, `${r.id}.eml`);
          expect({ size: fs.statSync(eml).size, sha256: sha256(eml) }).toEqual({ size: r.size, sha256: r.sha256 });
          const env = JSON.parse(fs.readFileSync(path.join(store.messagesDir, `${r.id}.json`), 'utf8')) as { size: number; sha256: string };
          expect({ size: env.size, sha256: env.sha256 }).toEqual({ size: r.size, sha256: r.sha256 });
        }
        expect(fs.readdirSync(store.messagesDir).sort()).toEqual(rows.flatMap((r) => [`${r.id}.eml`, `${r.id}.json`]).sort());
      } finally {
        store.close();
      }
    }
    const queued = (() => {
      const store = Store.open(data);
      try {
        return (store.db.prepare('SELECT id FROM messages ORDER BY id').pluck().all() as string[]);
      } finally {
        store.close();
      }
    })();
    for (const f of ['outbox.sqlite3', 'outbox.sqlite3-wal', 'outbox.sqlite3-shm']) fs.rmSync(path.join(data, f), { force: true });
    const report = await recoverQueuedFiles(data);
    expect(report.problems).toEqual([]);
    expect(report.requeued.sort()).toEqual(queued);
  } finally {
    cleanup();
  }
});
