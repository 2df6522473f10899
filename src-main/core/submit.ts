/**
 * Turns a draft into a queued message: validate → build (and DKIM-sign) into the .eml →
 * enqueueFile (core/enqueue.ts: the .eml and its envelope made durable, then the message and
 * its recipients committed in one transaction). Only then is the message "queued" and its id
 * returned; on any failure nothing is left behind.
 */
import crypto from 'node:crypto';
import type { LocalDraft as SharedDraft } from '../../shared/domain';
import type { Clock } from './clock';
import { buildMessage, type DkimOptions } from './compose/build';
import { enqueueFile, QueueFiles, rawPathOf } from './enqueue';
import { parseMailbox, type FieldError } from './compose/address';
import type { Draft as ComposeDraft } from './compose/draft';
import { DeliveryError } from './errors';
import { identityByAddress, signingKeys } from './identities';
import { isDiskFull } from './store/db';
import type { Store } from './store/store';
import { undoCopy } from './undo-send';

/** A send that cannot be made durable is refused; nothing of it remains (issue 10 item 6). */
export const DISK_FULL: FieldError = { field: 'draft', code: 'disk-full', message: 'disk full: the message could not be stored durably, so it was not queued; free some space and send again' };

/** `undoUntil`: the end of the message's undo window (its first attempt is not before), or null. */
export type SubmitResult = { ok: true; messageId: string; undoUntil: number | null } | { ok: false; errors: FieldError[] };

export interface SubmitOptions {
  /** Undo send (core/undo-send.ts): hold the first attempt this long and keep the draft; 0/absent = at once. */
  undoWindowMs?: number;
}

/** Time-ordered, unguessable message ids: sortable in a listing, safe as a file name. */
export function newMessageId(now: number): string {
  return `${now.toString(36).padStart(9, '0')}-${crypto.randomBytes(6).toString('hex')}`;
}

type Sender =
  | { ok: true; from: ComposeDraft['from']; dkim: DkimOptions[]; identityId: number | null }
  | { ok: false; error: FieldError };

/**
 * Who the message is from and how it is signed: the chosen identity, or the identity whose
 * address the typed From matches (its DKIM keys sign; the typed display name wins), or the
 * typed From alone (unsigned).
 */
function resolveSender(draft: SharedDraft, store: Store): Sender {
  const typed = draft.identityId == null ? parseMailbox(draft.from, { field: 'from' }) : null;
  if (typed && !typed.ok) return { ok: false, error: typed.error };
  const identity =
    draft.identityId != null ? store.getIdentity(draft.identityId) : typed?.ok ? identityByAddress(store, typed.value.display) : undefined;
  if (draft.identityId != null && !identity) return { ok: false, error: { field: 'identityId', code: 'not-found', message: 'no such identity' } };
  if (!identity) {
    const v = (typed as { ok: true; value: { display: string; name?: string } }).value;
    return { ok: true, from: { address: v.display, ...(v.name ? { name: v.name } : {}) }, dkim: [], identityId: null };
  }
  const name = (typed?.ok ? typed.value.name : undefined) ?? identity.displayName;
  return { ok: true, from: { address: identity.address, ...(name ? { name } : {}) }, dkim: signingKeys(identity), identityId: identity.id };
}

export async function submitDraft(draft: SharedDraft, deps: { store: Store; clock: Clock }, opts: SubmitOptions = {}): Promise<SubmitResult> {
  const { store, clock } = deps;
  const settings = store.getSettings();
  const sender = resolveSender(draft, store);
  if (!sender.ok) return { ok: false, errors: [sender.error] };
  const { from, dkim, identityId } = sender;
  const composeDraft: ComposeDraft = {
    from,
    to: draft.to,
    cc: draft.cc,
    bcc: draft.bcc,
    ...(draft.replyTo ? { replyTo: [draft.replyTo] } : {}),
    subject: draft.subject,
    text: draft.text,
    ...(draft.html !== undefined ? { html: draft.html } : {}),
    attachments: draft.attachments.map((a) => ({ path: a.path, ...(a.filename ? { filename: a.filename } : {}), ...(a.contentType ? { contentType: a.contentType } : {}) })),
    tlsMode: draft.tlsMode,
  };

  const now = clock.now();
  const id = newMessageId(now);
  const undo = undoCopy(draft, now, opts.undoWindowMs ?? 0);
  const rawPath = rawPathOf(id);
  let files: QueueFiles | undefined;
  let built;
  try {
    files = await QueueFiles.open(store, id);
    built = await buildMessage(composeDraft, { date: new Date(now), ...(dkim.length ? { dkim } : {}), limits: { maxMessageBytes: settings.maxMessageBytes } }, files.eml);
  } catch (e) {
    await files?.discard();
    if (isDiskFull(e)) return { ok: false, errors: [DISK_FULL] };
    if (e instanceof DeliveryError && e.code === 'INVALID_INPUT') {
      const problems = Array.isArray(e.cause) ? (e.cause as FieldError[]) : [{ field: 'draft', code: 'invalid', message: e.message }];
      return { ok: false, errors: problems };
    }
    throw e;
  }
  try {
    await enqueueFile(store, files, {
      id,
      createdAt: now,
      mailFrom: built.envelope.mailFrom,
      fromHeader: from.name ? `${from.name} <${from.address}>` : from.address,
      subject: draft.subject,
      messageIdHeader: built.messageId,
      size: built.size,
      rawPath,
      tlsMode: draft.tlsMode,
      eightBit: built.eightBit,
      smtpUtf8: built.smtpUtf8,
      identityId,
      nextAttemptAt: undo?.until ?? now,
      undo,
      recipients: built.envelope.recipients.map((r) => ({ address: r.address, envelope: r.envelope, domain: r.domainAscii, kind: r.kind, name: r.name })),
      sha256: built.sha256,
    });
  } catch (e) {
    if (isDiskFull(e)) return { ok: false, errors: [DISK_FULL] };
    throw e;
  }
  return { ok: true, messageId: id, undoUntil: undo?.until ?? null };
}
