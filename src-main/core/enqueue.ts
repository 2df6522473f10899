/**
 * How a message becomes "queued", for every way one enters the queue (a composed draft:
 * submit.ts; a ready-made .eml: submit-raw.ts; the outbox's own DSNs and TLS reports:
 * submit-bytes.ts). The caller opens the message's two files with `QueueFiles.open` (side by
 * side: the .eml under a temporary name, the envelope `messages/<id>.json` under its FINAL
 * name, empty for now) and writes the .eml (compose/message-file.ts: size and SHA-256 taken
 * as the bytes were written, nothing synced yet); `enqueueFile` then
 *
 *   1. writes the envelope (store/message-files.ts) in one write, and beside it renames the
 *      .eml to `messages/<id>.eml`;
 *   2. fsyncs the .eml, the envelope and messages/ together (placeDurably: one directory fsync
 *      for both entries, through messages/ held open while the store is; the three on the libuv pool side by
 *      side, each file closed after its own fsync);
 *   3. commits the row with synchronous=FULL (Store.insertMessage): THE acknowledgment.
 *
 * Why this is enough, and why in this order (crash ordering):
 * - Acknowledged means committed. The commit starts only after step 2 resolved, so an
 *   acknowledged message's bytes, its envelope and both directory entries are on disk before
 *   its row is: a power loss after the commit loses nothing, and if the database itself is
 *   lost later, the envelope is there to re-queue it (store/recover.ts checks the .eml's size
 *   and SHA-256 against the envelope, so a file that does not match is reported, never sent).
 * - The three fsyncs may overlap because each covers what happened before it was issued:
 *   both names are in place and the envelope written (step 1) before any of them starts. The
 *   directory fsync must precede the commit; that is all the order the argument needs.
 * - Before the commit nothing was promised. What a crash there can leave is removed at the next
 *   start (Store.open): a temporary .eml (its name says so), or an envelope without a row
 *   (an "orphan", empty or not: removed with its .eml). That is why the .eml gets a temporary
 *   name and the envelope does not: the envelope exists under its final name from the start,
 *   BEFORE the .eml takes its final name, so a final-named .eml always has an envelope beside
 *   it that marks it for that clean-up; the envelope's contents are only trusted once the row
 *   committed (with the database intact, an orphan is removed whatever it holds; with it lost
 *   too, an empty or half-written envelope is reported by the recovery and kept aside, not
 *   re-queued: it was never acknowledged). Writing the envelope beside the rename changes none
 *   of this: the name existed already, and both are done before the fsyncs start.
 *   POSIX orders none of this without fsync; after a power loss (not a process crash) an
 *   un-committed .eml may survive without its envelope, and then history retention's orphan
 *   pass removes it.
 * On any failure before the commit (disk full, I/O error) neither file remains and the error
 * is rethrown.
 *
 * Each step is a round trip to the libuv pool, and for a small message the round trips in
 * series, not the work in them, are what the enqueue waits for (issue 14); so the two files
 * are opened together, the envelope is written beside the rename, and the closes run beside
 * the fsyncs: five round trips in series where there were ten.
 */
import path from 'node:path';
import { MessageFile, placeDurably, SyncedDir } from './compose/message-file';
import { envelopeBytes, envelopePath } from './store/message-files';
import type { NewMessage, Store } from './store/store';

/** The two files of one message being enqueued: the .eml (temporary name) and its envelope. */
export class QueueFiles {
  private constructor(
    readonly eml: MessageFile,
    readonly envelope: MessageFile,
  ) {}

  /** Creates both files of message `id` side by side; neither remains if either fails. */
  static async open(store: Store, id: string): Promise<QueueFiles> {
    const [eml, envelope] = await Promise.allSettled([
      MessageFile.create(store.absolutePath(rawPathOf(id))),
      MessageFile.create(envelopePath(store.messagesDir, id), { temporary: false, hash: false }),
    ]);
    if (eml.status === 'fulfilled' && envelope.status === 'fulfilled') return new QueueFiles(eml.value, envelope.value);
    await Promise.all([eml, envelope].map((r) => (r.status === 'fulfilled' ? r.value.discard() : undefined)));
    throw (eml.status === 'rejected' ? eml.reason : (envelope as PromiseRejectedResult).reason) as Error;
  }

  /** Removes both (the enqueue did not happen); never throws. */
  async discard(): Promise<void> {
    await Promise.all([this.envelope.discard(), this.eml.discard()]);
  }
}

/** messages/ of each open store, held open for the directory fsyncs until the store closes. */
const queueDirs = new WeakMap<Store, SyncedDir>();

function queueDir(store: Store): SyncedDir {
  let dir = queueDirs.get(store);
  if (!dir) {
    const held = new SyncedDir(store.messagesDir);
    store.onClose(() => {
      queueDirs.delete(store);
      held.close();
    });
    queueDirs.set(store, held);
    dir = held;
  }
  return dir;
}

/** The .eml of message `id`, relative to the data folder (NewMessage.rawPath). */
export function rawPathOf(id: string): string {
  return path.join('messages', `${id}.eml`);
}

export async function enqueueFile(store: Store, files: QueueFiles, m: NewMessage & { sha256: string }): Promise<ReturnType<Store['insertMessage']>> {
  const { eml, envelope } = files;
  try {
    if (path.resolve(eml.finalPath) !== path.resolve(store.absolutePath(m.rawPath))) throw new Error(`enqueueFile: ${eml.finalPath} is not ${m.rawPath}`);
    await Promise.all([envelope.write(envelopeBytes(m)), eml.place()]);
    await placeDurably(queueDir(store), [envelope, eml]);
    return store.insertMessage(m);
  } catch (e) {
    await files.discard();
    throw e;
  }
}
