/**
 * Writes the delivery log (CSV, JSON, NDJSON) and a message's stored .eml to a Writable.
 *
 * Threats and how they are met:
 * - Memory: a log of a million rows must not sit in memory. Rows are pulled one at a time from
 *   SQLite, encoded into ~64 KiB chunks, and the export waits for 'drain' whenever the
 *   destination's buffer is full (Node's backpressure contract), so memory stays flat however
 *   slow the disk or socket.
 * - Blocking the queue: an open better-sqlite3 iterator makes its connection refuse writes, and
 *   the export pauses between chunks. It therefore reads on its own read-only connection: in
 *   WAL mode that reader sees one consistent snapshot (rows committed after the export began
 *   are not in it) while the queue keeps committing on the main connection.
 * - Path traversal: a message's raw_path comes from the database; it is only followed when it
 *   resolves (symlinks included) to a regular file inside the data folder, so a tampered
 *   database cannot make the export read ~/.ssh or a FIFO.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { DeliveryError, toDeliveryError } from '../errors';
import { openDb } from '../store/db';
import type { Store } from '../store/store';
import type { AttemptRowFilter } from './attempt-rows';
import { encodedChunks, type RecordCounts } from './fast-records';
import { EXPORT_FORMATS, encoderFor, type EncoderOptions, type ExportFormat } from './formats';

export interface ExportAttemptsOptions extends AttemptRowFilter, EncoderOptions {
  format: ExportFormat;
  /** End `out` when done and wait for 'finish' (default true, like pipe()). */
  end?: boolean | undefined;
  /** Stops the export between chunks with a CANCELED error. */
  signal?: AbortSignal | undefined;
  /** better-sqlite3 build for the read-only connection (Electron, see store/db.ts). */
  nativeBinding?: string | undefined;
  /** Characters of encoded text gathered before each write (default 64 Ki). */
  chunkChars?: number | undefined;
  /** Filled in as the export runs: how many rows took the fast path (tests, benchmarks). */
  stats?: ExportStats | undefined;
}

export interface ExportStats {
  /** Rows written from the record SQLite built (fast-records.ts); the rest went field by field. */
  fastRows: number;
}

function canceled(cause: unknown): DeliveryError {
  return new DeliveryError({ code: 'CANCELED', stage: 'store', permanent: true, message: 'export canceled', cause });
}

function destinationFailed(cause: unknown): DeliveryError {
  return toDeliveryError(cause ?? new Error('the destination closed before the export finished'), 'store');
}

/**
 * A Writable seen through its backpressure contract: write() returning false means "wait for
 * 'drain'". An 'error' or 'close' while waiting rejects instead of hanging forever.
 */
class Sink {
  private error: unknown = undefined;
  private readonly onError = (e: unknown) => {
    this.error ??= e;
  };

  constructor(
    private readonly out: Writable,
    private readonly signal: AbortSignal | undefined,
  ) {
    out.on('error', this.onError);
  }

  release(): void {
    this.out.off('error', this.onError);
  }

  /** Throws if the export was canceled or the destination failed or closed. */
  check(): void {
    if (this.signal?.aborted) throw canceled(this.signal.reason);
    if (this.error !== undefined) throw destinationFailed(this.error);
    if (this.out.destroyed || this.out.writableEnded) throw destinationFailed(undefined);
  }

  async write(chunk: string): Promise<void> {
    this.check();
    if (this.out.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: DeliveryError) => {
        this.out.off('drain', onDrain);
        this.out.off('error', onError);
        this.out.off('close', onClose);
        this.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onError = (e: unknown) => done(destinationFailed(e));
      const onClose = () => done(destinationFailed(this.error));
      const onAbort = () => done(canceled(this.signal?.reason));
      this.out.on('drain', onDrain);
      this.out.on('error', onError);
      this.out.on('close', onClose);
      this.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async end(): Promise<void> {
    this.check();
    this.out.end();
    try {
      await finished(this.out, { readable: false });
    } catch (e) {
      throw destinationFailed(e);
    }
  }
}

/**
 * Streams the delivery log to `out` (one row per attempt result, see attempt-rows.ts; encoded by
 * fast-records.ts) and resolves with the number of rows once everything is written (and `out`
 * finished, unless `end: false`). Invalid options reject before anything is written. On failure `out` is left
 * as it is — the caller decides whether to destroy it or delete a partial file.
 */
export async function exportAttempts(store: Store, opts: ExportAttemptsOptions, out: Writable): Promise<{ rows: number }> {
  if (!EXPORT_FORMATS.includes(opts.format)) {
    throw new DeliveryError({ code: 'INVALID_INPUT', stage: 'store', permanent: true, message: 'format: expected csv, json or ndjson' });
  }
  if (opts.signal?.aborted) throw canceled(opts.signal.reason);
  const encoder = encoderFor(opts.format, opts);
  const chunkChars = Math.max(1, opts.chunkChars ?? 64 * 1024);
  const reader = openDb(store.dataDir, { readonly: true, nativeBinding: opts.nativeBinding ?? store.nativeBinding });
  // The export reads the log once, in order: a page it leaves is not read again, so a large page
  // cache only holds the scan's wake (16 MB by default, most of the export's peak RSS). The
  // index pages the joins revisit fit in 2 MB.
  reader.pragma('cache_size = -2000');
  const sink = new Sink(out, opts.signal);
  try {
    const filter: AttemptRowFilter = { since: opts.since, until: opts.until, status: opts.status, domain: opts.domain, messageId: opts.messageId };
    const counts: RecordCounts = { rows: 0, fastRows: 0 };
    // Leaving this loop early (a rejected write) returns the generator, which closes the
    // statement before the connection is closed below.
    for (const chunk of encodedChunks(reader, filter, opts.format, encoder, chunkChars, counts)) await sink.write(chunk);
    if (opts.end ?? true) await sink.end();
    else sink.check();
    if (opts.stats) opts.stats.fastRows = counts.fastRows;
    return { rows: counts.rows };
  } finally {
    sink.release();
    reader.close();
  }
}

function storeError(message: string, cause?: unknown): DeliveryError {
  return new DeliveryError({ code: 'INTERNAL', stage: 'store', permanent: true, message, cause });
}

/** The message file, only if it is a regular file inside the data folder. */
async function openMessageFile(store: Store, rawPath: string): Promise<{ fh: fs.promises.FileHandle; size: number }> {
  const root = await fs.promises.realpath(store.dataDir);
  let real: string;
  try {
    real = await fs.promises.realpath(store.absolutePath(rawPath));
  } catch (e) {
    throw storeError(`the message file ${rawPath} is missing`, e);
  }
  const rel = path.relative(root, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw storeError(`the message file path ${JSON.stringify(rawPath).slice(0, 200)} points outside the data folder`);
  }
  const fh = await fs.promises.open(real, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw storeError(`the message file ${rawPath} is not a regular file`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * Streams the stored .eml of a message (the exact bytes sent on the wire) to `out`, with
 * backpressure (pipeline). Ends `out` unless `end: false`; on error pipeline destroys `out`.
 */
export async function exportMessageEml(
  store: Store,
  messageId: string,
  out: Writable,
  opts: { end?: boolean | undefined; signal?: AbortSignal | undefined } = {},
): Promise<{ bytes: number }> {
  const row = store.messageRow(messageId);
  if (!row) throw new DeliveryError({ code: 'INVALID_INPUT', stage: 'store', permanent: true, message: `no message ${JSON.stringify(messageId).slice(0, 80)}` });
  const { fh, size } = await openMessageFile(store, row.raw_path);
  // The stream owns the handle from here and closes it when done (autoClose).
  const rs = fh.createReadStream();
  try {
    await pipeline(rs, out, { end: opts.end ?? true, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (e) {
    if (opts.signal?.aborted) throw canceled(opts.signal.reason);
    throw toDeliveryError(e, 'store');
  }
  return { bytes: size };
}
