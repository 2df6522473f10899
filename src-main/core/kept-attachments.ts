/**
 * Attachments main keeps itself: the files of a sent message extracted for "Edit & resend"
 * (stored-message.ts), one folder per draft under `<data>/kept-attachments/`. The renderer
 * never names them; the attachment grants admit this one folder inside the data directory
 * (attachment-grants.ts) so a draft referring to them is granted again when loaded.
 *
 * A folder lives while some draft (an ordinary one, or the copy kept in an undo window) names a
 * file in it; the sweep removes the others — at start-up and whenever a draft is deleted.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from './store/store';

export function keptAttachmentsDir(dataDir: string): string {
  return path.join(dataDir, 'kept-attachments');
}

/** Removes the kept folders no draft refers to any more; returns how many. */
export function sweepKeptAttachments(store: Store): number {
  const dir = keptAttachmentsDir(store.dataDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0; // never used
  }
  if (names.length === 0) return 0;
  const drafts = (store.db.prepare('SELECT data FROM drafts').all() as { data: string }[]).map((r) => r.data);
  let removed = 0;
  for (const name of names) {
    // Paths are stored in the drafts' JSON as written (JSON escapes the separators on Windows).
    const folder = JSON.stringify(path.join(dir, name) + path.sep).slice(1, -1);
    if (drafts.some((d) => d.includes(folder))) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
