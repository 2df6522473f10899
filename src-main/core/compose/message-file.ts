/**
 * A queue file being written (the .eml, its envelope, compose's unsigned copy) and the one rule
 * by which such files become durable: `placeDurably`.
 *
 * A MessageFile is opened owner-only (mode 0600: mail is private) under a temporary name
 * `.<name>.<12 hex>.tmp` beside its final name (or directly under the final name when the
 * caller's crash argument does not need the temporary one; see core/enqueue.ts). It counts and
 * hashes (SHA-256) every byte as it is written, so nobody reads the file back for its digest,
 * and it keeps its descriptor open for the fsync. `write` resolves once the kernel has taken
 * the bytes, so the caller may reuse its buffer (compose/attachment-body.ts relies on it).
 *
 * `placeDurably(dir, files)`: renames each file to its final name (in the order given), then
 * issues the fsyncs of every file and ONE fsync of the directory together, on the libuv pool
 * (POSIX: a file's fsync makes its data durable, the directory's makes its entries durable;
 * each covers what was done before it was called, so they can run side by side once every
 * name is in place); each file is closed as soon as its own fsync is done. Nothing here is an
 * acknowledgment: the caller's commit, after this resolves, is.
 *
 * Why the steps are arranged so: for a small message every one of them is a round trip to the
 * libuv pool that costs more in thread wake-ups than in work (issue 14: on a loaded two-core
 * machine each round trip waits for a core twice), so the number of round trips in series is
 * what an enqueue's latency is made of. A `SyncedDir` keeps the queue directory open for its
 * fsyncs (no open and close per enqueue), and the closes run beside the other fsyncs instead
 * of after all of them.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';

export class MessageFile {
  #size = 0;
  #placed = false;
  #closed = false;

  private constructor(
    private readonly fh: FileHandle,
    /** The name it is written under (temporary, or final). */
    readonly path: string,
    /** The name it has once placed. */
    readonly finalPath: string,
    private readonly hash: Hash | null,
  ) {}

  /**
   * Creates the file (it must not exist). `temporary: false` writes it under its final name at
   * once; `hash: false` skips the digest (a copy that is deleted afterwards).
   */
  static async create(finalPath: string, opts: { temporary?: boolean; hash?: boolean } = {}): Promise<MessageFile> {
    const temporary = opts.temporary ?? true;
    const name = temporary ? path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${randomBytes(6).toString('hex')}.tmp`) : finalPath;
    const fh = await fs.open(name, 'wx', 0o600);
    return new MessageFile(fh, name, finalPath, opts.hash === false ? null : createHash('sha256'));
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /** SHA-256 (hex) of everything written; call once, when the file is complete. */
  sha256(): string {
    if (!this.hash) throw new Error('MessageFile: created without a digest');
    return this.hash.digest('hex');
  }

  /** Appends `buf[off, off+len)`; resolves once all of it was written (the buffer is free again). */
  async write(buf: Uint8Array, off = 0, len = buf.length - off): Promise<void> {
    this.hash?.update(buf.subarray(off, off + len));
    this.#size += len;
    let done = 0;
    while (done < len) {
      const { bytesWritten } = await this.fh.write(buf, off + done, len - done);
      done += bytesWritten;
    }
  }

  /** Appends the whole of another file, read through one reused 64 KiB buffer (no garbage). */
  async append(file: string): Promise<void> {
    const src = await fs.open(file, 'r');
    try {
      const buf = Buffer.allocUnsafeSlow(64 * 1024);
      for (;;) {
        const { bytesRead } = await src.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        await this.write(buf, 0, bytesRead);
      }
    } finally {
      await src.close();
    }
  }

  /** A Writable over `write`, for a pipeline. It does not own the file: ending it closes nothing. */
  writable(): Writable {
    return new Writable({
      highWaterMark: 256 * 1024,
      write: (chunk: Buffer, _enc, cb) => void this.write(chunk).then(() => cb(), cb),
    });
  }

  /** Closes and removes the file under whichever name it has; never throws. */
  async discard(): Promise<void> {
    await this.close().catch(() => undefined);
    await fs.rm(this.#placed ? this.finalPath : this.path, { force: true }).catch(() => undefined);
  }

  /** Closes the descriptor, keeping the file (compose's unsigned copy before it is read). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.fh.close();
  }

  /** Gives it its final name (once; placeDurably does it when the caller has not already). */
  async place(): Promise<void> {
    if (this.path !== this.finalPath && !this.#placed) await fs.rename(this.path, this.finalPath);
    this.#placed = true;
  }

  /** @internal placeDurably's step. */
  sync(): Promise<void> {
    return this.fh.sync();
  }
}

/**
 * Gives every file its final name (in order), then fsyncs the files and `dir` together: one
 * directory fsync for all of them, each file closed once its own fsync is done. Every file
 * must live in `dir`. On failure the caller discards them.
 */
export async function placeDurably(dir: string | SyncedDir, files: readonly MessageFile[]): Promise<void> {
  const synced = typeof dir === 'string' ? new SyncedDir(dir) : dir;
  try {
    for (const f of files) {
      if (path.resolve(path.dirname(f.finalPath)) !== path.resolve(synced.path)) throw new Error(`placeDurably: ${f.finalPath} is not in ${synced.path}`);
      await f.place();
    }
    await Promise.all([...files.map((f) => f.sync().then(() => f.close())), synced.sync()]);
  } finally {
    if (synced !== dir) synced.close();
  }
}

/**
 * A directory held open for fsyncs of its entries (the queue's messages/: core/enqueue.ts keeps
 * one while its store is open, so an enqueue does not open and close the directory each
 * time). Opened on first use; where the platform cannot open or fsync a directory, sync() is a
 * no-op.
 */
export class SyncedDir {
  /** undefined: not opened yet; null: this platform cannot (see #open). */
  #fd: number | null | undefined;

  constructor(readonly path: string) {}

  sync(): Promise<void> {
    const fd = this.#open();
    if (fd === null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      fsSync.fsync(fd, (e) => {
        // Some platforms open a directory but refuse to fsync it; its entries are then
        // journaled by the file system itself.
        if (e && !TOLERATED.has(e.code ?? '')) reject(e);
        else resolve();
      });
    });
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd != null) fsSync.closeSync(fd);
  }

  #open(): number | null {
    if (this.#fd !== undefined) return this.#fd;
    try {
      this.#fd = fsSync.openSync(this.path, 'r');
    } catch (e) {
      // Windows cannot open or fsync a directory; NTFS journals the rename itself.
      if (!TOLERATED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      this.#fd = null;
    }
    return this.#fd;
  }
}

const TOLERATED = new Set(['EISDIR', 'EPERM', 'EINVAL', 'EACCES']);
