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
import { z } from 'zod';
import {
  channels,
  type ChannelName,
  type IpcError,
  type IpcErrorCode,
  type IpcResult,
  type ParsedRequestOf,
  type ResponseOf,
} from '../shared/contract';
import type { Outbox } from './core/outbox';

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

export function createHandlers(core: Outbox): HandlerTable {
  const { store } = core;
  return {
    'app.info': () => ({ version: core.version, dataDir: core.dataDir, logDir: core.logDir, platform: process.platform }),
    'settings.get': () => store.getSettings(),
    'settings.set': (patch) => store.setSettings(patch),
    'outbox.list': (q) => store.listMessages(q),
    'outbox.get': ({ id }) => {
      const m = store.getMessage(id);
      if (!m) throw new IpcFailure('NOT_FOUND', `no message ${id}`);
      return m;
    },
    'attempts.list': (q) => store.listAttempts(q),
    'drafts.save': (draft) => {
      const id = draft.id ?? crypto.randomUUID();
      store.saveDraft(id, draft, core.clock.now());
      return { id };
    },
    'drafts.list': () => store.listDrafts(),
    'drafts.load': ({ id }) => {
      const d = store.loadDraft(id);
      if (!d) throw new IpcFailure('NOT_FOUND', `no draft ${id}`);
      return d;
    },
    'drafts.delete': ({ id }) => {
      if (!store.deleteDraft(id)) throw new IpcFailure('NOT_FOUND', `no draft ${id}`);
      return {};
    },
    'identities.list': () => store.listIdentities(),
    'tls.hints': ({ domains }) => {
      const hints = store.domainHints(domains);
      const known = new Set(hints.filter((h) => h.requiretls).map((h) => h.domain));
      const wanted = new Set(domains.map((d) => d.toLowerCase()));
      return { hints, allRequireTls: wanted.size > 0 && [...wanted].every((d) => known.has(d)) };
    },
  };
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
