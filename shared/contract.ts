/**
 * The one IPC contract between the renderer and the main process. Every channel is named once
 * here, with zod schemas for its request and response; events (main → renderer) likewise.
 * Main validates every request against it (src-main/ipc-handlers.ts), the preload exposes it
 * as `window.outbox`, and the renderer's types derive from it — nothing is kept by hand twice.
 *
 * Results cross the boundary as `{ ok: true, value } | { ok: false, error }`: structured clone
 * drops error classes, so errors are plain data with a stable code.
 */
import { z } from 'zod';
import { ReadinessReport, ReadinessSendBlock } from './readiness';
import {
  AddressCheck,
  AddressSuggestion,
  AttachmentToken,
  Attempt,
  DisplayText,
  DkimAlgorithm,
  DkimKey,
  DkimSelector,
  Notice,
  ProbeResult,
  TlsMode,
  DomainTlsHint,
  Draft,
  DraftSummary,
  HeaderText,
  Identity,
  MessageDetail,
  MessageSummary,
  RecipientState,
  Settings,
  Suppression,
  HoldRule,
} from './domain';
import { Route, RouteInput, RouteMatch, Transport, TransportInput, TransportName, TransportTestResult } from './transport';
import { SettingsPatch } from './settings';
import { SignatureText } from './compose-body';

const Empty = z.object({}).strict();
const Ok = z.object({}).strict();

function channel<Req extends z.ZodType, Res extends z.ZodType>(request: Req, response: Res) {
  return { request, response };
}

export const MessageQuery = z
  .object({
    status: RecipientState.optional(),
    domain: z.string().max(255).optional(),
    text: z.string().max(500).optional(),
    sort: z.enum(['newest', 'oldest']).default('newest'),
    offset: z.number().int().min(0).default(0),
    limit: z.number().int().min(1).max(500).default(100),
  })
  .strict();

/**
 * A file the user attached, as main checked it: a grant token when it may be sent, or why not.
 * The renderer never sees or names a path (src-main/attachment-grants.ts).
 */
export const AttachmentInfo = z.object({
  token: AttachmentToken.nullable(),
  filename: z.string(),
  size: z.number().int().nullable(),
  error: z.string().nullable(),
});
export type AttachmentInfo = z.infer<typeof AttachmentInfo>;

/** A loaded draft: attachments granted again; files that cannot be attached any more listed. */
export const LoadedDraft = Draft.extend({
  unavailableAttachments: z.array(z.object({ filename: z.string(), error: z.string() })),
});
export type LoadedDraft = z.infer<typeof LoadedDraft>;

export const channels = {
  'app.info': channel(
    Empty,
    z.object({
      version: z.string(),
      dataDir: z.string(),
      logDir: z.string().nullable(),
      platform: z.string(),
      /** What the core noticed at start-up, e.g. a stored setting it ignored (issue 11 §2). */
      startupNotices: z.array(z.string()),
      /** Why sending is paused right now by the queue itself (disk full), or null; `queue-state` events follow. */
      queueNotice: z.string().nullable(),
    }),
  ),
  'settings.get': channel(Empty, Settings),
  'settings.set': channel(SettingsPatch, Settings),
  'outbox.list': channel(
    MessageQuery,
    z.object({
      total: z.number().int(),
      items: z.array(MessageSummary),
      /** Messages with a recipient still to be delivered, whatever the filter (the sidebar badge). */
      unsent: z.number().int().default(0),
    }),
  ),
  'outbox.get': channel(z.object({ id: z.string().min(1).max(64) }).strict(), MessageDetail),
  'attempts.list': channel(
    z
      .object({
        messageId: z.string().max(64).optional(),
        recipientId: z.number().int().optional(),
        since: z.number().optional(),
        until: z.number().optional(),
        offset: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(1000).default(200),
      })
      .strict(),
    z.object({ total: z.number().int(), items: z.array(Attempt) }),
  ),
  'drafts.save': channel(Draft, z.object({ id: z.string() })),
  'drafts.list': channel(Empty, z.array(DraftSummary)),
  'drafts.load': channel(z.object({ id: z.string().min(1).max(64) }).strict(), LoadedDraft),
  'drafts.delete': channel(z.object({ id: z.string().min(1).max(64) }).strict(), Ok),
  /**
   * Queues the message. With the undo window on (setting undoSendSeconds), its first attempt
   * is not before `undoUntil` and `outbox.undoSend` can take it back until then.
   */
  'outbox.send': channel(Draft, z.object({ messageId: z.string(), undoUntil: z.number().nullable() })),
  /**
   * Undo send: removes the message while its window is open and no attempt has started
   * (CONFLICT otherwise, nothing changed); its compose draft is a draft again (`drafts.load`).
   */
  'outbox.undoSend': channel(z.object({ messageId: z.string().min(1).max(64) }).strict(), z.object({ draftId: z.string() })),
  'outbox.action': channel(
    z
      .object({
        messageId: z.string().min(1).max(64),
        recipientId: z.number().int().optional(),
        action: z.enum(['hold', 'resume', 'retry', 'cancel']),
      })
      .strict(),
    z.object({ changed: z.array(z.number().int()) }),
  ),
  /**
   * The body of a sent message as main reads it from the stored .eml: text only (the text part,
   * or a text rendering of the HTML — never HTML), cut at a sensible length, and the
   * attachments' names and sizes. NOT_FOUND with a clear message when the file is gone.
   */
  'outbox.preview': channel(
    z.object({ messageId: z.string().min(1).max(64) }).strict(),
    z.object({
      text: z.string(),
      truncated: z.boolean(),
      rich: z.boolean(),
      attachments: z.array(z.object({ filename: z.string(), contentType: z.string(), size: z.number().int() })),
    }),
  ),
  /**
   * "Edit & resend": a new draft of the stored message (identity, subject, body, attachments
   * granted again by main, TLS mode) to its failed recipients only; open it with drafts.load.
   */
  'outbox.editAndResend': channel(z.object({ messageId: z.string().min(1).max(64) }).strict(), z.object({ draftId: z.string() })),
  'outbox.setTlsMode': channel(z.object({ messageId: z.string().min(1).max(64), tlsMode: TlsMode }).strict(), Ok),
  'compose.checkAddresses': channel(
    z.object({ addresses: z.array(z.string().max(2000)).max(1000), identityId: z.number().int().nullable().optional() }).strict(),
    z.array(AddressCheck),
  ),
  /**
   * Addresses for autocomplete: past recipients and the user's identities whose address,
   * domain or name starts with `query`, best first; `exclude` (already in the field) left out.
   */
  'compose.suggestAddresses': channel(
    z
      .object({
        query: z.string().max(320),
        limit: z.number().int().min(1).max(50).default(8),
        exclude: z.array(z.string().max(2000)).max(1000).default([]),
      })
      .strict(),
    z.array(AddressSuggestion),
  ),
  /** Removes a past recipient from the suggestions. */
  'compose.forgetAddress': channel(z.object({ address: z.string().min(3).max(320) }).strict(), z.object({ removed: z.boolean() })),
  'compose.pickAttachments': channel(Empty, z.array(AttachmentInfo)),
  /** Re-checks granted files (size, still there); tokens only. */
  'compose.statAttachments': channel(z.object({ tokens: z.array(z.string().max(100)).max(100) }).strict(), z.array(AttachmentInfo)),
  'notices.list': channel(
    z.object({ limit: z.number().int().min(1).max(500).default(100), unseenOnly: z.boolean().default(false) }).strict(),
    z.array(Notice),
  ),
  'notices.markSeen': channel(z.object({ ids: z.array(z.number().int()).min(1).max(500) }).strict(), Ok),
  'identities.list': channel(Empty, z.array(Identity)),
  /**
   * A new identity gets an RSA-2048 and an Ed25519 key unless `algorithms` says otherwise
   * ([] = no key). The records to publish are in the result's `dkimKeys[].record`.
   */
  'identities.create': channel(
    z
      .object({
        address: HeaderText.min(3),
        displayName: DisplayText.default(''),
        signature: SignatureText.default(''),
        isDefault: z.boolean().default(false),
        algorithms: z.array(DkimAlgorithm).max(2).optional(),
        selector: DkimSelector.optional(),
      })
      .strict(),
    Identity,
  ),
  'identities.update': channel(
    z.object({ id: z.number().int(), displayName: DisplayText.optional(), signature: SignatureText.optional(), isDefault: z.boolean().optional() }).strict(),
    Identity,
  ),
  'identities.delete': channel(z.object({ id: z.number().int() }).strict(), Ok),
  /**
   * New DKIM keys. Without `algorithm`: both keys are replaced (selectors `<selector>-rsa` and
   * `<selector>-ed25519`); with one: only that key, under `selector` as given.
   * The records to publish: `identity.dkimKeys[].record` (RSA first, then Ed25519).
   */
  'identities.generateKey': channel(
    z
      .object({
        id: z.number().int(),
        algorithm: DkimAlgorithm.optional(),
        selector: DkimSelector.optional(),
      })
      .strict(),
    z.object({ identity: Identity }),
  ),
  /** One entry per key (RSA first): `record.name` TXT `record.value`. */
  'identities.dkimRecord': channel(z.object({ id: z.number().int() }).strict(), z.array(DkimKey)),
  /** Overall verdict over every key, and one check per key. */
  'identities.checkDns': channel(
    z.object({ id: z.number().int() }).strict(),
    z.object({
      published: z.boolean(),
      matches: z.boolean(),
      reason: z.string(),
      keys: z.array(
        z.object({ algorithm: DkimAlgorithm, selector: z.string(), name: z.string(), published: z.boolean(), matches: z.boolean(), reason: z.string() }),
      ),
    }),
  ),
  'tls.hints': channel(
    z.object({ domains: z.array(z.string().min(1).max(255)).max(1000) }).strict(),
    z.object({ hints: z.array(DomainTlsHint), allRequireTls: z.boolean() }),
  ),
  'tls.probe': channel(z.object({ domain: z.string().min(1).max(255) }).strict(), ProbeResult),
  'logs.export': channel(
    z
      .object({
        format: z.enum(['csv', 'json', 'ndjson']),
        since: z.number().optional(),
        until: z.number().optional(),
      })
      .strict(),
    z.object({ path: z.string().nullable(), rows: z.number().int() }),
  ),
  'logs.openFolder': channel(Empty, Ok),
  'suppression.list': channel(Empty, z.array(Suppression)),
  'suppression.add': channel(
    z.object({ address: HeaderText.min(3), reason: HeaderText.max(500).optional(), identityId: z.number().int().nullable().default(null) }).strict(),
    Suppression,
  ),
  'suppression.remove': channel(z.object({ address: HeaderText.min(3) }).strict(), z.object({ removed: z.number().int() })),
  'holdRules.list': channel(Empty, z.object({ paused: z.boolean(), rules: z.array(HoldRule) })),
  'holdRules.add': channel(
    z.object({ sender: HeaderText.max(320).nullable().optional(), recipient: HeaderText.max(320).nullable().optional() }).strict(),
    HoldRule,
  ),
  'holdRules.remove': channel(z.object({ id: z.number().int() }).strict(), z.object({ released: z.number().int() })),
  /** "Pause sending": holds everything, kept across restarts, until resumed. */
  'queue.pause': channel(Empty, z.object({ paused: z.literal(true) })),
  'queue.resume': channel(Empty, z.object({ released: z.number().int() })),
  /** The TLS reports (RFC 8460) one UTC day's attempts make, not sent: one JSON per policy domain. */
  'tlsReports.build': channel(
    z.object({ date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day is YYYY-MM-DD') }).strict(),
    z.array(z.object({ policyDomain: z.string(), dane: z.boolean(), json: z.string() })),
  ),
  /** The message's RFC 3464 DSN (failed and delayed recipients), as text to show. */
  'dsn.get': channel(
    z.object({ messageId: z.string().min(1).max(64) }).strict(),
    z.object({ eml: z.string(), failed: z.number().int(), delayed: z.number().int() }),
  ),
  'dsn.save': channel(z.object({ messageId: z.string().min(1).max(64) }).strict(), z.object({ path: z.string().nullable() })),
  // ---- Settings → Sending: transports and routes (rules §13). A password goes only one way,
  // renderer → main, into the keychain; responses say only whether one is stored. ----
  'transports.list': channel(Empty, z.object({ transports: z.array(Transport), routes: z.array(Route) })),
  /** Adds or replaces a transport. `password` omitted keeps the stored one. */
  'transports.save': channel(
    z.object({ transport: TransportInput, password: z.string().min(1).max(4096).regex(/^[^\r\n\0]*$/, 'must be one line').optional() }).strict(),
    Transport,
  ),
  'transports.remove': channel(z.object({ name: TransportName }).strict(), Ok),
  /** Connect, TLS, AUTH, QUIT; for direct transports against `domain`'s MX (default: the default identity's). */
  'transports.test': channel(z.object({ name: TransportName, domain: z.string().min(1).max(253).optional() }).strict(), TransportTestResult),
  'routes.add': channel(RouteInput, Route),
  'routes.remove': channel(z.object({ id: z.number().int() }).strict(), Ok),
  'routes.move': channel(z.object({ id: z.number().int(), before: z.number().int() }).strict(), z.array(Route)),
  /** Per recipient domain (A-label): the transport the first attempt takes, and from which attempt one avoids port 25. */
  'routes.match': channel(
    z.object({ sender: z.string().max(320), domains: z.array(z.string().min(1).max(253)).max(1000) }).strict(),
    z.array(RouteMatch),
  ),
  'outbox.exportEml': channel(z.object({ messageId: z.string().min(1).max(64) }).strict(), z.object({ path: z.string().nullable() })),
  // Readiness (delivery-rules §14): run the checks now, the last report (null: never run on
  // this computer), and whether compose must warn that this message cannot leave.
  'readiness.run': channel(z.object({ from: z.string().min(3).max(998).optional() }).strict(), ReadinessReport),
  'readiness.last': channel(Empty, ReadinessReport.nullable()),
  'readiness.sendBlock': channel(
    z.object({ from: z.string().max(998), recipientDomains: z.array(z.string().max(255)).max(1000) }).strict(),
    ReadinessSendBlock,
  ),
} as const;

export type Channels = typeof channels;
export type ChannelName = keyof Channels;
export type RequestOf<C extends ChannelName> = z.input<Channels[C]['request']>;
export type ParsedRequestOf<C extends ChannelName> = z.output<Channels[C]['request']>;
export type ResponseOf<C extends ChannelName> = z.output<Channels[C]['response']>;

/** Events pushed from main, batched (at most ~20 batches a second). */
export const OutboxEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message-added'), messageId: z.string() }),
  // Undo send took the message back: it no longer exists.
  z.object({ type: z.literal('message-removed'), messageId: z.string() }),
  z.object({
    type: z.literal('recipient-state'),
    messageId: z.string(),
    recipientId: z.number().int(),
    state: RecipientState,
  }),
  z.object({
    type: z.literal('progress'),
    messageId: z.string(),
    bytesSent: z.number(),
    size: z.number(),
  }),
  // The queue paused (disk full: nothing can be recorded, so nothing is sent) or resumed.
  z.object({
    type: z.literal('queue-state'),
    paused: z.boolean(),
    text: z.string(),
  }),
  z.object({
    type: z.literal('notice'),
    messageId: z.string(),
    /** The recipient a delay or failure notice is about (its DSN covers exactly that one). */
    recipientId: z.number().int().optional(),
    kind: z.enum(['delay', 'failure', 'unencrypted']),
    text: z.string(),
  }),
  // The user marked notices seen (dismissed a failure): the tray's failed count and other
  // windows' notice lists recount.
  z.object({ type: z.literal('notices-seen'), ids: z.array(z.number().int()) }),
  // The readiness check ran again (the network changed): fetch readiness.last.
  z.object({ type: z.literal('readiness'), ranAt: z.number() }),
]);
export type OutboxEvent = z.infer<typeof OutboxEvent>;

/** Commands from the native menu (File → New Message, View → Outbox, ...). */
export const AppCommand = z.object({ command: z.enum(['compose', 'outbox', 'logs', 'settings', 'send']) });
export type AppCommand = z.infer<typeof AppCommand>;

export const events = {
  'outbox.events': z.array(OutboxEvent),
  'app.command': AppCommand,
} as const;
export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.infer<(typeof events)[E]>;

export const IpcErrorCode = z.enum(['VALIDATION', 'NOT_FOUND', 'FORBIDDEN', 'CONFLICT', 'INTERNAL', 'UNKNOWN_CHANNEL']);
export type IpcErrorCode = z.infer<typeof IpcErrorCode>;

export const IpcError = z.object({
  code: IpcErrorCode,
  message: z.string(),
  /** Field-specific problems, e.g. { path: 'to.2', message: 'not a valid address' }. */
  fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type IpcError = z.infer<typeof IpcError>;

export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: IpcError };

/** The API the preload exposes as `window.outbox`, derived from the contract. */
export type OutboxApi = {
  invoke<C extends ChannelName>(channel: C, request: RequestOf<C>): Promise<IpcResult<ResponseOf<C>>>;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
  /** Tells main the renderer is ready for events (events are held until then). */
  ready(): void;
  /**
   * Attaches Files the user dropped on the window: the preload finds each File's path
   * (Electron's webUtils) and main grants a token for it — the page never handles a path.
   * Files without a local path (a plain browser) come back with an error.
   */
  attachFiles(files: File[]): Promise<IpcResult<AttachmentInfo[]>>;
};

export const channelNames = Object.keys(channels) as ChannelName[];
export const eventNames = Object.keys(events) as EventName[];
export const INVOKE_PREFIX = 'outbox:invoke:';
export const EVENT_PREFIX = 'outbox:event:';
export const READY_CHANNEL = 'outbox:ready';
/** Dropped files' paths, preload → main; not an invoke channel, so page scripts cannot name paths. */
export const DROP_CHANNEL = 'outbox:drop';
