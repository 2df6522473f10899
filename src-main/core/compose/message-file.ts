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
 * name is in place). Nothing here is an acknowledgment: the caller's commit, after this
 * resolves, is.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
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

  /** @internal placeDurably's steps. */
  async place(): Promise<void> {
    if (this.path !== this.finalPath && !this.#placed) await fs.rename(this.path, this.finalPath);
    this.#placed = true;
  }

  /** @internal */
  sync(): Promise<void> {
    return this.fh.sync();
  }
}

/**
 * Gives every file its final name (in order), then fsyncs the files and `dir` together: one
 * directory fsync for all of them. Every file must live in `dir`. Closes the files when done;
 * on failure the caller discards them.
 */
export async function placeDurably(dir: string, files: readonly MessageFile[]): Promise<void> {
  for (const f of files) {
    if (path.resolve(path.dirname(f.finalPath)) !== path.resolve(dir)) throw new Error(`placeDurably: ${f.finalPath} is not in ${dir}`);
    await f.place();
  }
  await Promise.all([...files.map((f) => f.sync()), syncDir(dir)]);
  for (const f of files) await f.close();
}

/** fsync of a directory (its entries); a no-op where the platform cannot open one. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Windows cannot open or fsync a directory; NTFS journals the rename itself.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw e;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
