/**
 * How a message becomes "queued", for every way one enters the queue (a composed draft:
 * submit.ts; a ready-made .eml: submit-raw.ts; the outbox's own DSNs and TLS reports:
 * submit-bytes.ts). The caller has written the .eml into a MessageFile under a temporary name
 * (compose/message-file.ts: size and SHA-256 taken as the bytes were written, nothing synced
 * yet); `enqueueFile` then
 *
 *   1. writes the envelope `messages/<id>.json` (store/message-files.ts) under its FINAL name,
 *      in one write;
 *   2. renames the .eml to `messages/<id>.eml`;
 *   3. fsyncs the .eml, the envelope and messages/ together (placeDurably: one directory fsync
 *      for both entries, the three on the libuv pool side by side);
 *   4. commits the row with synchronous=FULL (Store.insertMessage): THE acknowledgment.
 *
 * Why this is enough, and why in this order (crash ordering):
 * - Acknowledged means committed. The commit starts only after step 3 resolved, so an
 *   acknowledged message's bytes, its envelope and both directory entries are on disk before
 *   its row is: a power loss after the commit loses nothing, and if the database itself is
 *   lost later, the envelope is there to re-queue it (store/recover.ts checks the .eml's size
 *   and SHA-256 against the envelope, so a file that does not match is reported, never sent).
 * - The three fsyncs may overlap because each covers what happened before it was issued:
 *   both names are in place (steps 1–2) before any of them starts. The directory fsync must
 *   precede the commit; that is all the order the argument needs.
 * - Before the commit nothing was promised. What a crash there can leave is removed at the next
 *   start (Store.open): a temporary .eml (its name says so), or an envelope without a row
 *   (an "orphan": removed with its .eml). That is why the .eml gets a temporary name and the
 *   envelope does not: the envelope is created BEFORE the .eml takes its final name, so a
 *   final-named .eml always has an envelope beside it that marks it for that clean-up, and
 *   the envelope's own contents are only trusted once the row committed (with the database
 *   intact, an orphan is removed whatever it holds; with it lost too, a half-written envelope
 *   is reported by the recovery and kept aside, not re-queued: it was never acknowledged).
 *   POSIX orders none of this without fsync; after a power loss (not a process crash) an
 *   un-committed .eml may survive without its envelope, and then history retention's orphan
 *   pass removes it.
 * On any failure before the commit (disk full, I/O error) neither file remains and the error
 * is rethrown.
 */
import path from 'node:path';
import { MessageFile, placeDurably } from './compose/message-file';
import { envelopeBytes, envelopePath } from './store/message-files';
import type { NewMessage, Store } from './store/store';

export async function enqueueFile(store: Store, eml: MessageFile, m: NewMessage & { sha256: string }): Promise<ReturnType<Store['insertMessage']>> {
  if (path.resolve(eml.finalPath) !== path.resolve(store.absolutePath(m.rawPath))) throw new Error(`enqueueFile: ${eml.finalPath} is not ${m.rawPath}`);
  let envelope: MessageFile | undefined;
  try {
    envelope = await MessageFile.create(envelopePath(store.messagesDir, m.id), { temporary: false, hash: false });
    await envelope.write(envelopeBytes(m));
    await placeDurably(store.messagesDir, [envelope, eml]);
    return store.insertMessage(m);
  } catch (e) {
    await envelope?.discard();
    await eml.discard();
    throw e;
  }
}
