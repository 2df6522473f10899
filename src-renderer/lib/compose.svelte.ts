/**
 * The composer's state: sender, recipient chips (validated by main as they are added), subject,
 * body, attachments and TLS mode; sending with field errors mapped back to the field they
 * belong to; drafts saved automatically a moment after the last change.
 *
 * The TLS mode is proposed, not imposed: while the user has not chosen one, it is REQUIRETLS
 * exactly when the stored hints say every recipient domain supports it, Default otherwise.
 */
import type { AddressCheck, AddressSuggestion, DraftInput, DraftSummary, Identity, RecipientKind, TlsMode } from '../../shared/domain';
import { applyHtmlSignature, applySignature, editorTextToPlain, htmlWithoutSignature, textToHtml, withoutSignature } from '../../shared/compose-body';
import type { AttachmentInfo } from '../../shared/contract';
import { ApiError, attachFiles, call } from './api';
import { debounce } from './debounce';
import { errorText } from './format';
import type { TlsHintsStore } from './hints.svelte';
import type { Verdict } from '../../shared/verdict';
import { splitAddresses } from './recipients';

export interface Chip {
  id: number;
  input: string;
  /** null while main has not answered. */
  check: AddressCheck | null;
}

export interface AttachmentItem {
  id: number;
  name: string;
  size: number;
  type: string;
  /** Main's grant for the file (the renderer never holds a path); null when it cannot be sent. */
  token: string | null;
  /** Why main cannot use the file (missing, unreadable), when it checked it. */
  error: string | null;
}

export const KINDS: RecipientKind[] = ['to', 'cc', 'bcc'];

/**
 * A whole message as the composer holds it: what Undo of Discard or of Delete brings back.
 * Attachments are main's grant tokens; files main could no longer grant are listed by name.
 */
export type Snapshot = DraftInput & { unavailableAttachments?: { filename: string; error: string }[] };

/** A recipient the confirmation before sending names: it would go unencrypted, or cannot be delivered. */
export interface SecurityProblem {
  kind: RecipientKind;
  chipId: number;
  address: string;
  verdict: Verdict;
}
const CHECK_DELAY_MS = 250;
const SAVE_DELAY_MS = 1000;

let nextId = 1;

export class ComposeStore {
  readonly hints: TlsHintsStore;

  #identities = $state.raw<Identity[]>([]);
  #identityId = $state.raw<number | null>(null);
  #from = $state.raw('');
  #chips = $state.raw<Record<RecipientKind, Chip[]>>({ to: [], cc: [], bcc: [] });
  #typing = $state.raw<Record<RecipientKind, AddressCheck | null>>({ to: null, cc: null, bcc: null });
  #subject = $state.raw('');
  #text = $state.raw('');
  /** Rich text (optional; plain text is the default): the editor's HTML and its plain text. */
  #rich = $state.raw(false);
  #html = $state.raw('');
  #editorText = $state.raw('');
  #attachments = $state.raw<AttachmentItem[]>([]);
  #chosenTls = $state.raw<TlsMode | null>(null);
  #fieldErrors = $state.raw<ReadonlyMap<string, string>>(new Map());
  #error = $state.raw<string | null>(null);
  #sending = $state.raw(false);
  #sent = $state.raw<string | null>(null);
  /** The end of the last sent message's undo window (null: it went out at once). */
  #sentUndoUntil = $state.raw<number | null>(null);
  #draftId = $state.raw<string | null>(null);
  #savedAt = $state.raw<number | null>(null);
  #saveError = $state.raw<string | null>(null);
  #drafts = $state.raw<DraftSummary[]>([]);
  #confirming = $state.raw(false);
  /** The user already said "send anyway" to an empty subject/body for this message: asked once. */
  #emptyAccepted = false;

  #pendingChecks = new Set<Chip>();
  #checkSoon = debounce(() => void this.#runChecks(), CHECK_DELAY_MS);
  #checkTyping = debounce((kind: RecipientKind, text: string) => void this.#runTypingCheck(kind, text), CHECK_DELAY_MS);
  #saveSoon = debounce(() => void this.saveDraft(), SAVE_DELAY_MS);

  constructor(hints: TlsHintsStore) {
    this.hints = hints;
  }

  // ---- reading ----------------------------------------------------------------------------

  get identities() {
    return this.#identities;
  }
  get identityId() {
    return this.#identityId;
  }
  set identityId(v: number | null) {
    this.#identityId = v;
    // The new identity's signature replaces the old one (shared/compose-body.ts: never twice).
    this.#applySignature();
    this.#changed('from');
  }
  get from() {
    return this.#from;
  }
  set from(v: string) {
    this.#from = v;
    this.#changed('from');
  }
  get subject() {
    return this.#subject;
  }
  set subject(v: string) {
    this.#subject = v;
    this.#changed('subject');
  }
  get text() {
    return this.#text;
  }
  set text(v: string) {
    this.#text = v;
    this.#changed('text');
  }
  get rich() {
    return this.#rich;
  }
  get html() {
    return this.#html;
  }
  /** The editor's content changed (rich text). */
  setHtml(html: string, text: string): void {
    this.#html = html;
    this.#editorText = text;
    this.#changed('text');
  }
  /** Switches between plain and rich text, converting the body (and its one signature). */
  setRich(on: boolean): void {
    if (on === this.#rich) return;
    if (on) {
      this.#html = textToHtml(this.#text);
      this.#editorText = this.#text;
    } else {
      this.#text = editorTextToPlain(this.#editorText);
    }
    this.#rich = on;
    this.#changed('text');
  }

  /** The signature of the identity sending ('' with a typed From or none). */
  #signature(): string {
    const identity = this.#identities.length && this.#identityId !== null ? this.#identities.find((i) => i.id === this.#identityId) : undefined;
    return identity?.signature ?? '';
  }

  #applySignature(): void {
    const sig = this.#signature();
    if (this.#rich) {
      this.#html = applyHtmlSignature(this.#html, sig);
    } else {
      this.#text = applySignature(this.#text, sig);
    }
  }

  /** Whether the body has anything besides the signature. */
  #bodyEmpty(): boolean {
    if (this.#rich) return htmlWithoutSignature(this.#html).replace(/<[^>]*>/g, '').trim() === '';
    return withoutSignature(this.#text).trim() === '';
  }

  get attachments() {
    return this.#attachments;
  }
  get fieldErrors() {
    return this.#fieldErrors;
  }
  get error() {
    return this.#error;
  }
  get sending() {
    return this.#sending;
  }
  get sent() {
    return this.#sent;
  }
  get sentUndoUntil() {
    return this.#sentUndoUntil;
  }
  get draftId() {
    return this.#draftId;
  }
  get savedAt() {
    return this.#savedAt;
  }
  get saveError() {
    return this.#saveError;
  }
  get drafts() {
    return this.#drafts;
  }
  chips(kind: RecipientKind): Chip[] {
    return this.#chips[kind];
  }
  /** Main's verdict on the text being typed in a recipient field (null: nothing typed). */
  typing(kind: RecipientKind): AddressCheck | null {
    return this.#typing[kind];
  }
  /** The error for a field path such as 'subject', 'from' or 'to.2'. */
  fieldError(path: string): string | undefined {
    return this.#fieldErrors.get(path);
  }

  /** The TLS mode that will be used: the user's choice, else the proposal from the hints. */
  readonly tlsMode = $derived.by((): TlsMode => this.#chosenTls ?? (this.hints.allRequireTls ? 'requiretls' : 'default'));
  readonly tlsProposed = $derived.by(() => this.#chosenTls === null && this.hints.allRequireTls);

  set tls(mode: TlsMode) {
    this.#chosenTls = mode;
    this.#changed('tlsMode');
  }

  /** Valid recipients' ASCII domains, for hints and probes. */
  readonly domains = $derived.by(() => {
    const set = new Set<string>();
    for (const k of KINDS) for (const c of this.#chips[k]) if (c.check?.ok && c.check.domainAscii) set.add(c.check.domainAscii);
    return [...set];
  });

  /** With REQUIRETLS chosen: recipients whose domain does not (or is not known to) support it. */
  readonly requireTlsProblems = $derived.by(() => {
    const unsupported: string[] = [];
    const unknown: string[] = [];
    if (this.tlsMode !== 'requiretls') return { unsupported, unknown };
    for (const k of KINDS) {
      for (const c of this.#chips[k]) {
        if (!c.check?.ok || !c.check.domainAscii) continue;
        const s = this.hints.supportsRequireTls(c.check.domainAscii);
        if (s === false) unsupported.push(c.check.display ?? c.input);
        else if (s === null) unknown.push(c.check.display ?? c.input);
      }
    }
    return { unsupported, unknown };
  });

  /** Recipients whose verdict is "unencrypted" or "will not be delivered" (shared/verdict.ts). */
  readonly securityProblems = $derived.by((): SecurityProblem[] => {
    const out: SecurityProblem[] = [];
    for (const k of KINDS) {
      for (const c of this.#chips[k]) {
        if (!c.check?.ok || !c.check.domainAscii) continue;
        const verdict = this.hints.verdict(c.check.domainAscii, this.tlsMode);
        if (verdict.kind === 'unencrypted' || verdict.kind === 'undeliverable') out.push({ kind: k, chipId: c.id, address: c.check.display ?? c.input, verdict });
      }
    }
    return out;
  });
  readonly emptySubject = $derived.by(() => this.#subject.trim() === '');
  readonly emptyBody = $derived.by(() => this.#bodyEmpty() && this.#attachments.length === 0);

  /** The confirmation before sending is open. */
  get confirming() {
    return this.#confirming;
  }
  cancelConfirmation(): void {
    this.#confirming = false;
  }

  readonly recipientCount = $derived.by(() => KINDS.reduce((n, k) => n + this.#chips[k].length, 0));
  readonly hasInvalid = $derived.by(() => KINDS.some((k) => this.#chips[k].some((c) => c.check && !c.check.ok)));
  readonly sendableAttachments = $derived.by(() => this.#attachments.filter((a) => a.token !== null));
  /** Nothing written yet (a signature alone is not something to keep as a draft). */
  readonly isEmpty = $derived.by(() => this.recipientCount === 0 && !this.#subject && this.#bodyEmpty() && this.#attachments.length === 0);

  // ---- loading ----------------------------------------------------------------------------

  async load(): Promise<void> {
    try {
      const [identities, drafts] = await Promise.all([call('identities.list', {}), call('drafts.list', {})]);
      // The identity's signature as this message has it, before the list (maybe edited in
      // Settings meanwhile) is replaced.
      const before = this.#signature();
      const unedited = this.#rich ? applyHtmlSignature(this.#html, before) === this.#html : applySignature(this.#text, before) === this.#text;
      this.#identities = identities;
      this.#drafts = drafts;
      if (this.#identityId === null || !identities.some((i) => i.id === this.#identityId)) {
        this.#identityId = (identities.find((i) => i.isDefault) ?? identities[0])?.id ?? null;
      }
      // A message not written yet gets the identity's (current) signature; so does one whose
      // signature block is still exactly the stored one (a signature changed in the message
      // itself is the user's and stays).
      if (this.#bodyEmpty() || unedited) this.#applySignature();
    } catch (e) {
      this.#error = errorText(e);
    }
  }

  async refreshDrafts(): Promise<void> {
    try {
      this.#drafts = await call('drafts.list', {});
    } catch {
      // the list is secondary; the editor keeps working
    }
  }

  // ---- recipients -------------------------------------------------------------------------

  /** Adds every address in `text` (pasted or typed, split on , ; and newlines) as chips. */
  addRecipients(kind: RecipientKind, text: string): void {
    const parts = splitAddresses(text);
    if (parts.length === 0) return;
    const chips = parts.map((input): Chip => ({ id: nextId++, input, check: null }));
    this.#chips = { ...this.#chips, [kind]: [...this.#chips[kind], ...chips] };
    this.#typing = { ...this.#typing, [kind]: null };
    for (const c of chips) this.#pendingChecks.add(c);
    this.#checkSoon();
    this.#changed(kind);
  }

  removeRecipient(kind: RecipientKind, id: number): void {
    this.#chips = { ...this.#chips, [kind]: this.#chips[kind].filter((c) => c.id !== id) };
    this.#changed(kind);
    this.hints.track(this.domains);
  }

  /**
   * Addresses to offer for what is being typed: past recipients and identities (local only),
   * leaving out what is already in any field.
   */
  async suggest(query: string): Promise<AddressSuggestion[]> {
    if (query.trim() === '') return [];
    try {
      const exclude = KINDS.flatMap((k) => this.#chips[k].map((c) => c.input)).slice(0, 1000);
      return await call('compose.suggestAddresses', { query: query.trim().slice(0, 320), limit: 8, exclude });
    } catch {
      return []; // suggestions are a convenience; typing works without them
    }
  }

  /** Validates the text being typed (debounced), so mistakes show before the chip is made. */
  type(kind: RecipientKind, text: string): void {
    if (!text.trim()) {
      this.#checkTyping.cancel();
      this.#typing = { ...this.#typing, [kind]: null };
      return;
    }
    this.#checkTyping(kind, text.trim());
  }

  async #runTypingCheck(kind: RecipientKind, text: string): Promise<void> {
    try {
      const [check] = await call('compose.checkAddresses', { addresses: [text] });
      if (check) this.#typing = { ...this.#typing, [kind]: check };
    } catch {
      // validation while typing is advisory; chips are checked again
    }
  }

  async #runChecks(): Promise<void> {
    const batch = [...this.#pendingChecks].slice(0, 1000);
    for (const c of batch) this.#pendingChecks.delete(c);
    if (batch.length === 0) return;
    try {
      // With the identity, so a chip shows that identity's suppression entries too (rules §15).
      const checks = await call('compose.checkAddresses', { addresses: batch.map((c) => c.input), identityId: this.#identityId });
      const byChip = new Map(batch.map((c, i) => [c.id, checks[i] ?? null]));
      const update = (list: Chip[]) => list.map((c) => (byChip.has(c.id) ? { ...c, check: byChip.get(c.id)! } : c));
      this.#chips = { to: update(this.#chips.to), cc: update(this.#chips.cc), bcc: update(this.#chips.bcc) };
      this.hints.track(this.domains);
    } catch (e) {
      this.#error = `Could not check addresses: ${errorText(e)}`;
    }
    if (this.#pendingChecks.size) this.#checkSoon();
  }

  // ---- attachments ------------------------------------------------------------------------

  /** Files chosen in main's native dialog: main returns a grant token, name and size for each. */
  async pickFiles(): Promise<void> {
    try {
      this.#addChecked(await call('compose.pickAttachments', {}));
    } catch (e) {
      this.#error = `Could not attach: ${errorText(e)}`;
    }
  }

  /** Dropped files: the preload hands them to main, which grants a token for each it accepts. */
  async dropFiles(files: Iterable<File>): Promise<void> {
    const list = [...files];
    if (list.length === 0) return;
    try {
      this.#addChecked(await attachFiles(list));
    } catch (e) {
      this.#error = `Could not attach: ${errorText(e)}`;
    }
  }

  #addChecked(infos: AttachmentInfo[]): void {
    if (infos.length === 0) return;
    const items = infos.map((i): AttachmentItem => ({ id: nextId++, name: i.filename, size: i.size ?? 0, type: '', token: i.error ? null : i.token, error: i.error }));
    this.#attachments = [...this.#attachments, ...items];
    this.#changed('attachments');
  }

  removeAttachment(id: number): void {
    this.#attachments = this.#attachments.filter((a) => a.id !== id);
    this.#changed('attachments');
  }

  // ---- drafts & sending -------------------------------------------------------------------

  #changed(field: string): void {
    this.#sent = null;
    if (this.#fieldErrors.size) {
      // An edited field's errors are stale; the others stay until the next send.
      const next = new Map([...this.#fieldErrors].filter(([p]) => p !== field && !p.startsWith(`${field}.`)));
      if (next.size !== this.#fieldErrors.size) this.#fieldErrors = next;
    }
    this.#saveSoon();
  }

  #draft(): DraftInput {
    const useIdentity = this.#identities.length > 0 && this.#identityId !== null;
    return {
      ...(this.#draftId ? { id: this.#draftId } : {}),
      identityId: useIdentity ? this.#identityId : null,
      from: useIdentity ? '' : this.#from,
      to: this.#chips.to.map((c) => c.input),
      cc: this.#chips.cc.map((c) => c.input),
      bcc: this.#chips.bcc.map((c) => c.input),
      subject: this.#subject,
      // Rich text: main sanitises the HTML and generates the text part from it (core/compose/body.ts).
      text: this.#rich ? editorTextToPlain(this.#editorText) : this.#text,
      ...(this.#rich ? { html: this.#html } : {}),
      // Only files main granted can be sent; the renderer cannot read or name files itself.
      attachments: this.#attachments
        .filter((a) => a.token !== null)
        .map((a) => ({ token: a.token!, filename: a.name, ...(a.type ? { contentType: a.type } : {}), size: a.size })),
      tlsMode: this.tlsMode,
    };
  }

  async saveDraft(): Promise<void> {
    this.#saveSoon.cancel();
    if (this.isEmpty || this.#sending) return;
    try {
      const { id } = await call('drafts.save', this.#draft());
      this.#draftId = id;
      this.#savedAt = Date.now();
      this.#saveError = null;
      void this.refreshDrafts();
    } catch (e) {
      this.#saveError = errorText(e);
    }
  }

  /**
   * Opens a draft main made (Undo send, Edit & resend) in place of what is being written, which
   * is saved as a draft first so nothing is lost.
   */
  async openMadeDraft(id: string): Promise<void> {
    await this.saveDraft();
    await this.openDraft(id);
    void this.refreshDrafts();
  }

  async openDraft(id: string): Promise<void> {
    try {
      const d = await call('drafts.load', { id });
      this.#apply(d, id);
    } catch (e) {
      this.#error = errorText(e);
    }
  }

  /** Puts a draft (loaded, or a discarded message's snapshot) into the composer. */
  #apply(d: Snapshot, id: string | null): void {
    this.#saveSoon.cancel();
    this.#reset();
    this.#draftId = id;
    if (d.identityId != null) this.#identityId = d.identityId;
    this.#from = d.from ?? '';
    this.#subject = d.subject ?? '';
    this.#text = d.text ?? '';
    // A rich draft reopens in the editor; its text is generated from the HTML when it is sent.
    this.#rich = !!d.html;
    this.#html = d.html ?? '';
    this.#editorText = d.html ? (d.text ?? '') : '';
    this.#chosenTls = !d.tlsMode || d.tlsMode === 'default' ? null : d.tlsMode;
    this.#attachments = [
      ...(d.attachments ?? []).map((a) => ({ id: nextId++, name: a.filename ?? 'attachment', size: a.size ?? 0, type: a.contentType ?? '', token: a.token, error: null })),
      ...(d.unavailableAttachments ?? []).map((a) => ({ id: nextId++, name: a.filename, size: 0, type: '', token: null, error: a.error })),
    ];
    for (const k of KINDS) if (d[k]?.length) this.addRecipients(k, d[k].join('\n'));
    this.#saveSoon.cancel();
  }

  /**
   * Discard really discards: the saved draft is deleted and the composer cleared. Returns a
   * snapshot for `restore` (the Undo of the toast), which brings it back and saves it again.
   */
  async discard(): Promise<Snapshot | null> {
    if (this.isEmpty) return null;
    this.#saveSoon.cancel();
    const snapshot = this.#draft();
    const id = this.#draftId;
    this.#reset();
    if (id) await call('drafts.delete', { id }).catch(() => {});
    await this.refreshDrafts();
    return snapshot;
  }

  async restore(snapshot: Snapshot): Promise<void> {
    this.#apply({ ...snapshot, id: undefined }, null);
    await this.saveDraft();
  }

  /** Deletes a saved draft; returns it so the caller can offer Undo (`undeleteDraft`). */
  async deleteDraft(id: string): Promise<Snapshot | null> {
    let draft: Snapshot | null = null;
    try {
      draft = await call('drafts.load', { id });
      await call('drafts.delete', { id });
      if (id === this.#draftId) this.#draftId = null;
    } catch (e) {
      this.#error = errorText(e);
      draft = null;
    }
    await this.refreshDrafts();
    return draft;
  }

  async undeleteDraft(draft: Snapshot): Promise<void> {
    try {
      // What main could not grant again cannot be saved (the draft names files by token only).
      const { unavailableAttachments: _gone, ...saved } = draft;
      await call('drafts.save', { ...saved, id: undefined });
    } catch (e) {
      this.#error = errorText(e);
    }
    await this.refreshDrafts();
  }

  newMessage(): void {
    this.#saveSoon.flush();
    this.#reset();
  }

  #reset(): void {
    this.#confirming = false;
    this.#emptyAccepted = false;
    this.#chips = { to: [], cc: [], bcc: [] };
    this.#typing = { to: null, cc: null, bcc: null };
    this.#subject = '';
    this.#rich = false;
    this.#html = '';
    this.#editorText = '';
    // A fresh message starts with the sending identity's signature.
    this.#text = applySignature('', this.#signature());
    this.#from = '';
    this.#attachments = [];
    this.#chosenTls = null;
    this.#fieldErrors = new Map();
    this.#error = null;
    this.#draftId = null;
    this.#savedAt = null;
    this.#saveError = null;
    this.hints.track([]);
  }

  /**
   * Sends; on success the composer is cleared and the draft deleted. Returns the message id.
   * Unless `confirmed`, a message with recipients that would go unencrypted or cannot be
   * delivered, or (once) an empty subject or body, opens the confirmation instead.
   */
  async send(opts: { confirmed?: boolean } = {}): Promise<string | null> {
    if (this.#sending) return null;
    // What main would refuse anyway (no sender, an invalid address) is reported first, by main.
    const sendable = this.recipientCount > 0 && !this.hasInvalid && ((this.#identities.length > 0 && this.#identityId !== null) || this.#from.trim() !== '');
    if (!opts.confirmed && sendable && (this.securityProblems.length > 0 || (!this.#emptyAccepted && (this.emptySubject || this.emptyBody)))) {
      this.#confirming = true;
      return null;
    }
    if (opts.confirmed && (this.emptySubject || this.emptyBody)) this.#emptyAccepted = true;
    this.#confirming = false;
    this.#saveSoon.cancel();
    this.#sending = true;
    this.#error = null;
    this.#fieldErrors = new Map();
    const draftId = this.#draftId;
    try {
      const { messageId, undoUntil } = await call('outbox.send', { ...this.#draft(), id: undefined });
      if (draftId) await call('drafts.delete', { id: draftId }).catch(() => {});
      this.#reset();
      this.#sent = messageId;
      this.#sentUndoUntil = undoUntil;
      void this.refreshDrafts();
      return messageId;
    } catch (e) {
      if (e instanceof ApiError && e.fields.length) {
        this.#fieldErrors = new Map(e.fields.map((f) => [f.path, f.message]));
        const unplaced = e.fields.filter((f) => !/^(from|identityId|subject|text|attachments|tlsMode|(to|cc|bcc))(\.|$)/.test(f.path));
        this.#error = unplaced.length ? unplaced.map((f) => `${f.path}: ${f.message}`).join('; ') : 'The message was not sent: fix the marked fields.';
      } else {
        this.#error = `The message was not sent: ${errorText(e)}`;
      }
      return null;
    } finally {
      this.#sending = false;
    }
  }
}
