/**
 * The IPC handler table: one function per contract channel, and the single dispatcher that
 * validates every request against the contract before any handler runs. Electron's ipcMain
 * (ipc.ts) and the headless test host both serve exactly this table, so what the browser tests
 * drive is what the app runs. No Electron import here.
 *
 * A request that fails validation gets `{ ok: false, error: { code: 'VALIDATION', fields } }`
 * and reaches no handler, so it can change nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import {
  channels,
  type ChannelName,
  type IpcError,
  type AttachmentInfo,
  type IpcErrorCode,
  type IpcResult,
  type ParsedRequestOf,
  type ResponseOf,
} from '../shared/contract';
import type { AddressCheck, Draft, LocalAttachment, Settings } from '../shared/domain';
import { AttachmentGrants } from './attachment-grants';
import { parseMailbox } from './core/compose/address';
import { suggestAddresses } from './core/address-book';
import { exportAttempts, exportMessageEml } from './core/export/export';
import {
  checkDisplayName,
  checkSignature,
  checkDns,
  createIdentity,
  dkimRecords,
  generateKeys,
  getIdentity,
  IdentityError,
  publicIdentity,
} from './core/identities';
import type { Outbox } from './core/outbox';
import { DeliveryError } from './core/errors';
import { QueueFeatureError } from './core/queue-features';
import { DISK_FULL_NOTICE } from './core/queue/queue';
import { transportHandlers } from './ipc-transport';
import { UndoSendError } from './core/undo-send';
import { keptAttachmentsDir, sweepKeptAttachments } from './core/kept-attachments';
import { editAndResend, messagePreview, StoredMessageError } from './core/stored-message';

/** What differs between the desktop and the headless host: dialogs and the OS shell. */
export interface Platform {
  /** Files the user picks to attach (a native open dialog); [] when canceled. */
  chooseFiles(): Promise<string[]>;
  /** Where to save an export; null when the user cancels. */
  chooseSavePath(defaultName: string): Promise<string | null>;
  openPath(path: string): Promise<void>;
  /** Confirms dropped files in main's own UI (see dropHandler); absent: every drop is refused. */
  confirmDrop?: ConfirmDrop;
  /** The settings changed (the desktop applies "open at login"). */
  settingsChanged?(next: Settings): void;
}

/** An error a handler throws on purpose; it crosses IPC as its code and message. */
export class IpcFailure extends Error {
  constructor(
    readonly code: IpcErrorCode,
    message: string,
    readonly fields?: IpcError['fields'],
  ) {
    super(message);
  }
}

export type HandlerTable = {
  [C in ChannelName]: (request: ParsedRequestOf<C>) => Promise<ResponseOf<C>> | ResponseOf<C>;
};

/**
 * The handler table. `grants` holds the attachment tokens main handed out (the same registry
 * serves the preload's drop channel, which is deliberately not part of this table).
 */
export function createHandlers(core: Outbox, platform: Platform, grants = attachmentGrantsFor(core)): HandlerTable {
  const { store } = core;
  /** The renderer's tokens as files main may read, or a field error on the unknown entry. */
  const local = <D extends { attachments: Draft['attachments'] }>(draft: D): Omit<D, 'attachments'> & { attachments: LocalAttachment[] } => {
    const r = grants.toLocal(draft.attachments);
    if (!r.ok) throw new IpcFailure('VALIDATION', r.message, [{ path: `attachments.${r.index}`, message: r.message }]);
    return { ...draft, attachments: r.value };
  };
  const now = () => core.clock.now();
  return {
    'app.info': () => ({
      version: core.version,
      dataDir: core.dataDir,
      logDir: core.logDir,
      platform: process.platform,
      startupNotices: core.startupNotices,
      queueNotice: core.queue.paused ? DISK_FULL_NOTICE : null,
    }),
    'settings.get': () => store.getSettings(),
    'settings.set': (patch) => {
      const next = store.setSettings(patch);
      core.applySettings(next);
      platform.settingsChanged?.(next);
      return next;
    },
    'outbox.list': (q) => ({ ...store.listMessages(q), unsent: store.countUnsentMessages() }),
    'outbox.get': ({ id }) => {
      const m = store.getMessage(id);
      if (!m) throw new IpcFailure('NOT_FOUND', `no message ${id}`);
      return m;
    },
    'attempts.list': (q) => store.listAttempts(q),
    'drafts.save': (draft) => {
      const id = draft.id ?? crypto.randomUUID();
      // The store keeps the granted paths (main's own record), so the grant survives a restart.
      if (!store.saveDraft(id, local(draft), core.clock.now())) {
        throw new IpcFailure('CONFLICT', 'that draft belongs to a message waiting to be sent: undo the send to edit it');
      }
      return { id };
    },
    'drafts.list': () => store.listDrafts(),
    'drafts.load': ({ id }) => {
      const d = store.loadDraft(id);
      if (!d) throw new IpcFailure('NOT_FOUND', `no draft ${id}`);
      const attachments: Draft['attachments'] = [];
      const unavailableAttachments: { filename: string; error: string }[] = [];
      for (const a of d.attachments) {
        const info = grants.grant(a.path);
        const filename = a.filename ?? info.filename;
        if (info.token) attachments.push({ token: info.token, filename, ...(a.contentType ? { contentType: a.contentType } : {}), size: info.size ?? 0 });
        else unavailableAttachments.push({ filename, error: info.error ?? 'cannot be attached' });
      }
      return { ...d, attachments, unavailableAttachments };
    },
    'drafts.delete': ({ id }) => {
      if (!store.deleteDraft(id)) throw new IpcFailure('NOT_FOUND', `no draft ${id}`);
      sweepKeptAttachments(store);
      return {};
    },
    'outbox.send': async (draft) => {
      // The app's sends wait out the undo window (the CLI's do not: nobody could undo them).
      const result = await core.submit(local(draft), { undoWindowMs: store.getSettings().undoSendSeconds * 1000 });
      if (!result.ok) {
        const fields = result.errors.map((e) => ({ path: e.index === undefined ? e.field : `${e.field}.${e.index}`, message: e.message }));
        throw new IpcFailure('VALIDATION', fields[0]?.message ?? 'the message cannot be sent', fields);
      }
      return { messageId: result.messageId, undoUntil: result.undoUntil };
    },
    'outbox.undoSend': ({ messageId }) => {
      try {
        return core.undoSend(messageId);
      } catch (e) {
        if (e instanceof UndoSendError) throw new IpcFailure(e.code, e.message);
        throw e;
      }
    },
    'outbox.action': ({ messageId, recipientId, action }) => {
      if (!store.messageRow(messageId)) throw new IpcFailure('NOT_FOUND', `no message ${messageId}`);
      return { changed: core.queue.act(action, messageId, recipientId) };
    },
    'outbox.preview': ({ messageId }) => stored(() => messagePreview(store, messageId)),
    'outbox.editAndResend': ({ messageId }) => stored(() => editAndResend(store, messageId, keptAttachmentsDir(core.dataDir), now())),
    'outbox.setTlsMode': ({ messageId, tlsMode }) => {
      if (!core.queue.setTlsMode(messageId, tlsMode)) throw new IpcFailure('NOT_FOUND', `no message ${messageId}`);
      return {};
    },
    'compose.checkAddresses': ({ addresses, identityId }) =>
      addresses.map((input): AddressCheck => {
        const r = parseMailbox(input);
        return r.ok
          ? { input, ok: true, display: r.value.name ? `${r.value.name} <${r.value.display}>` : r.value.display, domainAscii: r.value.domainAscii, domainUnicode: r.value.domainUnicode, needsSmtpUtf8: r.value.needsSmtpUtf8, error: null, suppressed: core.features.suppressionOf(input, identityId ?? null) }
          : { input, ok: false, display: null, domainAscii: null, domainUnicode: null, needsSmtpUtf8: false, error: r.error.message, suppressed: null };
      }),
    'compose.suggestAddresses': ({ query, limit, exclude }) => suggestAddresses(store, { query, limit, exclude }, now()),
    'compose.forgetAddress': ({ address }) => {
      const r = parseMailbox(address);
      return { removed: r.ok ? store.forgetRecipient(r.value.envelope) : false };
    },
    'suppression.list': () => core.features.listSuppressions(),
    'suppression.add': ({ address, reason, identityId }) => feature(() => core.features.addSuppression(address, reason, identityId)),
    'suppression.remove': ({ address }) => ({ removed: feature(() => core.features.removeSuppression(address)) }),
    'holdRules.list': () => ({ paused: core.features.paused, rules: core.features.listHoldRules() }),
    'holdRules.add': ({ sender, recipient }) => feature(() => core.features.addHoldRule({ sender, recipient })),
    'holdRules.remove': ({ id }) => feature(() => core.features.removeHoldRule(id)),
    'queue.pause': () => {
      core.features.pause();
      return { paused: true as const };
    },
    'queue.resume': () => core.features.unpause(),
    'compose.pickAttachments': async () => (await platform.chooseFiles()).map((p) => grants.grant(p)),
    'compose.statAttachments': ({ tokens }) => tokens.map((t) => grants.info(t)),
    'notices.list': ({ limit, unseenOnly }) => store.listNotices(limit, unseenOnly),
    'notices.markSeen': ({ ids }) => {
      core.markNoticesSeen(ids);
      return {};
    },
    'identities.list': () => store.listIdentities().map(publicIdentity),
    'identities.create': ({ address, displayName, signature, isDefault, algorithms, selector }) =>
      viaIdentities(() => publicIdentity(createIdentity(store, now(), { address, displayName, signature, isDefault, ...(algorithms ? { algorithms } : {}), ...(selector ? { selector } : {}) }))),
    'identities.update': ({ id, displayName, signature, isDefault }) =>
      viaIdentities(() => {
        const name = displayName === undefined ? undefined : checkDisplayName(displayName);
        const sig = signature === undefined ? undefined : checkSignature(signature);
        if (!store.updateIdentity(id, { displayName: name, signature: sig, isDefault })) throw new IdentityError('NOT_FOUND', `no identity ${id}`);
        return publicIdentity(getIdentity(store, id));
      }),
    'identities.delete': ({ id }) => {
      if (!store.deleteIdentity(id)) throw new IpcFailure('NOT_FOUND', `no identity ${id}`);
      return {};
    },
    'identities.generateKey': ({ id, algorithm, selector }) =>
      viaIdentities(() => ({ identity: publicIdentity(generateKeys(store, now(), id, { ...(algorithm ? { algorithm } : {}), ...(selector ? { selector } : {}) })) })),
    'identities.dkimRecord': ({ id }) => viaIdentities(() => dkimRecords(getIdentity(store, id))),
    'identities.checkDns': ({ id }) => viaIdentities(() => core.withDiagnosticResolver((r) => checkDns(r, getIdentity(store, id)))),
    'tls.hints': ({ domains }) => {
      const hints = store.domainHints(domains);
      const known = new Set(hints.filter((h) => h.requiretls).map((h) => h.domain));
      const wanted = new Set(domains.map((d) => d.toLowerCase()));
      return { hints, allRequireTls: wanted.size > 0 && [...wanted].every((d) => known.has(d)) };
    },
    'tls.probe': ({ domain }) => core.probe(domain),
    'logs.export': async ({ format, since, until }) => {
      const day = new Date(core.clock.now()).toISOString().slice(0, 10);
      const target = await platform.chooseSavePath(`direct-outbox-log-${day}.${format}`);
      if (!target) return { path: null, rows: 0 };
      const out = fs.createWriteStream(target);
      const { rows } = await exportAttempts(core.store, { format, ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) }, out);
      await new Promise<void>((resolve, reject) => out.end(() => resolve()).once('error', reject));
      return { path: target, rows };
    },
    'outbox.exportEml': async ({ messageId }) => {
      const m = store.messageRow(messageId);
      if (!m) throw new IpcFailure('NOT_FOUND', `no message ${messageId}`);
      const safeSubject = m.subject.replace(/[^\p{L}\p{N} _.-]+/gu, '').trim().slice(0, 60) || messageId;
      const target = await platform.chooseSavePath(`${safeSubject}.eml`);
      if (!target) return { path: null };
      const out = fs.createWriteStream(target);
      await exportMessageEml(store, messageId, out);
      return { path: target };
    },
    'tlsReports.build': async ({ date }) => {
      let reports;
      try {
        reports = await core.buildTlsReports(date);
      } catch (e) {
        throw new IpcFailure('VALIDATION', e instanceof Error ? e.message : String(e), [{ path: 'date', message: 'not a date' }]);
      }
      return reports.map((r) => ({ policyDomain: r.policyDomain, dane: r.dane, json: JSON.stringify(r.report, null, 2) }));
    },
    'dsn.get': ({ messageId }) => {
      if (!store.messageRow(messageId)) throw new IpcFailure('NOT_FOUND', `no message ${messageId}`);
      const dsn = core.dsn(messageId);
      if (!dsn) throw new IpcFailure('NOT_FOUND', 'no recipient of this message failed or was delayed');
      return { eml: dsn.eml.toString('utf8'), failed: dsn.failed, delayed: dsn.delayed };
    },
    'dsn.save': async ({ messageId }) => {
      if (!store.messageRow(messageId)) throw new IpcFailure('NOT_FOUND', `no message ${messageId}`);
      const dsn = core.dsn(messageId);
      if (!dsn) throw new IpcFailure('NOT_FOUND', 'no recipient of this message failed or was delayed');
      const target = await platform.chooseSavePath(`delivery-status-${messageId}.eml`);
      if (!target) return { path: null };
      fs.writeFileSync(target, dsn.eml, { mode: 0o600 });
      return { path: target };
    },
    'readiness.run': async ({ from }) => {
      try {
        return await core.readiness.run({ from });
      } catch (e) {
        if (e instanceof DeliveryError && e.code === 'INVALID_INPUT') throw new IpcFailure('VALIDATION', e.message);
        throw e;
      }
    },
    'readiness.last': () => core.readiness.last,
    'readiness.sendBlock': (message) => core.readiness.sendBlock(message),
    'logs.openFolder': async () => {
      await platform.openPath(core.logDir ?? core.dataDir);
      return {};
    },
    ...transportHandlers(core),
  };
}

/** Reads a stored message; a missing or damaged file crosses IPC as its code and a clear message. */
async function stored<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StoredMessageError) throw new IpcFailure(e.code, e.message);
    throw e;
  }
}

/** Runs a queue-feature operation; its input errors cross IPC with their code. */
function feature<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof QueueFeatureError) throw new IpcFailure(e.code, e.message);
    throw e;
  }
}

const NO_PATH = 'this window cannot tell where the file is stored; use "Attach files…" instead';

/** A dropped file main is about to grant: its real path (symlinks resolved) and size. */
export interface DroppedFile {
  path: string;
  size: number;
}

/**
 * Asks the user, in main's own UI, whether to attach these dropped files; resolves true to
 * attach. The paths come from the renderer process (the preload's webUtils), which a
 * compromised renderer process controls: the user's confirmation of the real paths is what
 * makes a drop a grant.
 */
export type ConfirmDrop = (files: DroppedFile[]) => Promise<boolean>;

const NOT_CONFIRMED = 'not attached: the drop was not confirmed';
const BUSY = 'not attached: another drop is waiting for confirmation';

/**
 * The preload's drop channel: each dropped File's path (null when it had none) is checked,
 * the acceptable ones are shown to the user for confirmation (one confirmation at a time, so a
 * hostile page cannot stack dialogs), and only confirmed files are granted.
 */
export function dropHandler(grants: AttachmentGrants, confirm: ConfirmDrop): (paths: unknown) => Promise<IpcResult<AttachmentInfo[]>> {
  let asking = false;
  return async (paths) => {
    const parsed = z.array(z.string().max(4096).nullable()).max(100).safeParse(paths);
    if (!parsed.success) return { ok: false, error: { code: 'VALIDATION', message: 'invalid dropped files', fields: zodFields(parsed.error) } };
    const list = parsed.data;
    const refused = (p: string | null, error: string): AttachmentInfo => ({ token: null, filename: p === null ? '' : path.basename(p), size: null, error });
    const checked = list.map((p) => (p === null ? ({ error: NO_PATH } as const) : grants.check(p)));
    const acceptable = checked.flatMap((c) => ('error' in c ? [] : [{ path: c.real, size: c.size }]));
    let confirmed = false;
    if (acceptable.length) {
      if (asking) return { ok: true, value: list.map((p, i) => { const c = checked[i]!; return refused(p, 'error' in c ? c.error : BUSY); }) };
      asking = true;
      try {
        confirmed = await confirm(acceptable);
      } catch {
        confirmed = false;
      } finally {
        asking = false;
      }
    }
    return {
      ok: true,
      value: list.map((p, i) => {
        const c = checked[i]!;
        if ('error' in c) return refused(p, c.error);
        // Granted on the path the user saw (re-checked: it may have changed while they looked).
        return confirmed ? { ...grants.grant(c.real), filename: path.basename(p!) } : refused(p, NOT_CONFIRMED);
      }),
    };
  };
}

/**
 * Whether a frame's URL is the app's own page: same origin and inside the app's directory,
 * compared on parsed URLs (a prefix test would admit file:///app/renderer-evil/ for
 * file:///app/renderer).
 */
export function isAppUrl(frameUrl: string, appUrl: string): boolean {
  let frame: URL;
  let app: URL;
  try {
    frame = new URL(frameUrl);
    app = new URL(appUrl);
  } catch {
    return false;
  }
  if (frame.protocol !== app.protocol || frame.host !== app.host || frame.username || frame.password) return false;
  if (app.protocol !== 'file:') return frame.origin === app.origin && frame.origin !== 'null';
  const dir = app.pathname.endsWith('/') ? app.pathname : `${app.pathname}/`;
  return frame.pathname.startsWith(dir);
}

/** The grant registry for a core: its data and log directories can never be attached. */
export function attachmentGrantsFor(core: Outbox): AttachmentGrants {
  return new AttachmentGrants([core.dataDir, core.logDir], keptAttachmentsDir(core.dataDir));
}

/** Runs an identities operation; its errors cross IPC with their code and field. */
function viaIdentities<T>(fn: () => T): T {
  try {
    const r = fn();
    return r instanceof Promise ? (r.catch(rethrow) as T) : r;
  } catch (e) {
    return rethrow(e);
  }
}

function rethrow(e: unknown): never {
  if (e instanceof IdentityError) throw new IpcFailure(e.kind, e.message, e.field ? [{ path: e.field, message: e.message }] : undefined);
  throw e;
}

function zodFields(error: z.ZodError): NonNullable<IpcError['fields']> {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

export function isChannelName(name: unknown): name is ChannelName {
  return typeof name === 'string' && Object.hasOwn(channels, name);
}

/** Validates, runs, and wraps. Never throws: every outcome is an IpcResult. */
export async function dispatch(table: HandlerTable, channel: unknown, payload: unknown): Promise<IpcResult<unknown>> {
  if (!isChannelName(channel)) {
    return { ok: false, error: { code: 'UNKNOWN_CHANNEL', message: `unknown channel ${String(channel).slice(0, 80)}` } };
  }
  const spec = channels[channel];
  const parsed = spec.request.safeParse(payload);
  if (!parsed.success) {
    return {
      ok: false,
      error: { code: 'VALIDATION', message: `invalid request for ${channel}`, fields: zodFields(parsed.error) },
    };
  }
  try {
    const handler = table[channel] as (req: unknown) => unknown;
    const value = await handler(parsed.data);
    return { ok: true, value: spec.response.parse(value) };
  } catch (e) {
    if (e instanceof IpcFailure) return { ok: false, error: { code: e.code, message: e.message, fields: e.fields } };
    if (e instanceof z.ZodError) return { ok: false, error: { code: 'VALIDATION', message: 'invalid data', fields: zodFields(e) } };
    return { ok: false, error: { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) } };
  }
}
