/**
 * Attachment grants: the renderer never names a file for main to read. Main hands out an
 * opaque token only for a file the user chose in main's own open dialog or dropped on the
 * window (the preload turns the dropped File into a path with webUtils and sends it on a
 * channel page scripts cannot reach); `outbox.send`, `drafts.save` and `compose.statAttachments`
 * accept tokens only. Tokens live while the app runs; a saved draft keeps the granted path in
 * main's store and is granted again (re-checked) when loaded.
 *
 * A drop is confirmed by the user in main's own dialog (DropConfirmation, ipc-handlers.ts):
 * the paths arrive from the renderer process, and a compromised renderer process could send
 * any path on that channel; the dialog names each file by its real path, so nothing the user
 * did not see and accept is granted.
 *
 * Even a file the user picked is refused when it is not a plain file of theirs: the app's own
 * data (the outbox database holds the DKIM private keys) and logs, anything under /proc, /sys
 * or /dev, FIFOs, sockets and devices — checked on the real path, so a symlink into the data
 * directory is refused too. Refused files are never opened.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AttachmentInfo } from '../shared/contract';
import type { LocalAttachment } from '../shared/domain';

interface Grant {
  /** The real path (symlinks resolved) checked when the grant was made. */
  path: string;
  filename: string;
}

/** Enough for any session; the oldest grants go first beyond it. */
const MAX_GRANTS = 10_000;
const SYSTEM_ROOTS = process.platform === 'win32' ? [] : ['/proc', '/sys', '/dev'];

export class AttachmentGrants {
  readonly #grants = new Map<string, Grant>();
  readonly #forbidden: string[];
  readonly #kept: string[];

  /**
   * `forbidden`: directories whose files may never be attached (data dir, log dir). `kept`: the
   * one folder inside them whose files main wrote itself to be attached again (a sent message's
   * attachments for "Edit & resend", core/kept-attachments.ts).
   */
  constructor(forbidden: ReadonlyArray<string | null | undefined>, kept?: string) {
    this.#forbidden = [...SYSTEM_ROOTS, ...forbidden.filter((d): d is string => !!d).flatMap(realAndGiven)];
    this.#kept = kept ? realAndGiven(kept) : [];
  }

  get #rules(): Rules {
    return { forbidden: this.#forbidden, kept: this.#kept };
  }

  /** Whether a path may be granted, and the file's real path and size; never opens it. */
  check(p: unknown): { real: string; size: number } | { error: string } {
    if (typeof p !== 'string' || p === '' || p.includes('\0') || !path.isAbsolute(p)) return { error: 'not an absolute path' };
    return checkFile(p, this.#rules);
  }

  /** Checks a path the user chose or dropped and, when it may be read, grants a token for it. */
  grant(p: unknown): AttachmentInfo {
    const filename = typeof p === 'string' ? path.basename(p) : '';
    const refuse = (error: string): AttachmentInfo => ({ token: null, filename, size: null, error });
    const checked = this.check(p);
    if ('error' in checked) return refuse(checked.error);
    const token = crypto.randomBytes(18).toString('base64url');
    this.#grants.set(token, { path: checked.real, filename });
    if (this.#grants.size > MAX_GRANTS) this.#grants.delete(this.#grants.keys().next().value!);
    return { token, filename, size: checked.size, error: null };
  }

  /** What a token stands for now (the file is checked again: it may have changed). */
  info(token: string): AttachmentInfo {
    const g = this.#grants.get(token);
    if (!g) return { token: null, filename: '', size: null, error: 'unknown attachment; attach the file again' };
    const checked = checkFile(g.path, this.#rules);
    return 'error' in checked ? { token: null, filename: g.filename, size: null, error: checked.error } : { token, filename: g.filename, size: checked.size, error: null };
  }

  /** The file behind a token, for main to read; undefined for a token main never handed out. */
  resolve(token: string): Grant | undefined {
    return this.#grants.get(token);
  }

  /** Turns the renderer's tokens into local attachments, or says which entry is unknown. */
  toLocal(
    list: ReadonlyArray<{ token: string; filename?: string | undefined; contentType?: string | undefined; size?: number | undefined }>,
  ): { ok: true; value: LocalAttachment[] } | { ok: false; index: number; message: string } {
    const out: LocalAttachment[] = [];
    for (const [index, a] of list.entries()) {
      const g = this.#grants.get(a.token);
      if (!g) return { ok: false, index, message: 'this attachment is no longer available; attach the file again' };
      // Checked again at use: the granted path may have been replaced since (by a symlink).
      const checked = checkFile(g.path, this.#rules);
      if ('error' in checked) return { ok: false, index, message: `${g.filename}: ${checked.error}` };
      out.push({ path: g.path, filename: a.filename ?? g.filename, ...(a.contentType ? { contentType: a.contentType } : {}), ...(a.size !== undefined ? { size: a.size } : {}) });
    }
    return { ok: true, value: out };
  }
}

function realAndGiven(dir: string): string[] {
  const given = path.resolve(dir);
  try {
    return [...new Set([given, fs.realpathSync(given)])];
  } catch {
    return [given];
  }
}

function inside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

interface Rules {
  forbidden: readonly string[];
  kept: readonly string[];
}

/** The checks behind every grant; never opens the file (a FIFO would block on open). */
function checkFile(p: string, { forbidden, kept }: Rules): { real: string; size: number } | { error: string } {
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'cannot be read' };
  }
  // A kept file counts by its real path: a link placed there to the database stays refused.
  const isKept = kept.some((d) => inside(real, d) && real !== d);
  if (!isKept && forbidden.some((d) => inside(real, d) || inside(path.resolve(p), d))) return { error: "this file belongs to the app or the system and cannot be attached" };
  let st: fs.Stats;
  try {
    st = fs.statSync(real);
    if (!st.isFile()) return { error: 'not a regular file' };
    fs.accessSync(real, fs.constants.R_OK);
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'cannot be read' };
  }
  return { real, size: st.size };
}
