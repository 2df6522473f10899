/**
 * Identities: who the user sends as, and the DKIM keys each identity signs with. The one place
 * for their rules — defaults (selectors, which keys a new identity gets), validation of what a
 * user types, the public view with the TXT records to publish, and the DNS check — used by both
 * the IPC handlers and the CLI, so the two can never disagree.
 *
 * - RFC 6376 §3.1 selectors, §3.6.1/§3.6.2 key records (compose/dkim-keys.ts does the records).
 * - RFC 8463 §4: "signers SHOULD implement and verifiers MUST implement" Ed25519, and since many
 *   receivers still verify only RSA, a new identity gets an RSA-2048 key (RFC 8301 §3.2) and an
 *   Ed25519 key and signs every message with both; a verifier uses the one it understands.
 *
 * Private keys stay in the store; `publicIdentity` is all the renderer ever sees.
 */
import type { DkimAlgorithm, DkimKey, Identity } from '../../shared/domain';
import type { DkimOptions } from './compose/build';
import { parseMailbox } from './compose/address';
import { checkDkimRecord, dkimDnsRecord, generateDkimKey } from './compose/dkim-keys';
import { unsafeTextProblem } from '../../shared/text';
import { SignatureText } from '../../shared/compose-body';
import type { Resolver } from './dns/types';
import type { StoredDkimKey, StoredIdentity, Store } from './store/store';

/** Both keys, RSA first: what a new identity gets unless told otherwise (RFC 8463 §4). */
export const DEFAULT_DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ['rsa-sha256', 'ed25519-sha256'];

/** RFC 6376 §3.1: a selector is sub-domain *("." sub-domain); we accept one or more labels. */
const SELECTOR = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const SUFFIX: Record<DkimAlgorithm, string> = { 'rsa-sha256': 'rsa', 'ed25519-sha256': 'ed25519' };

/** An identity operation that cannot be done: which field, and why (IPC VALIDATION / CLI exit 2). */
export class IdentityError extends Error {
  constructor(
    readonly kind: 'VALIDATION' | 'NOT_FOUND' | 'CONFLICT',
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The default selector base: `dkim<year>`, so a yearly rotation gets a fresh name. */
export function defaultSelectorBase(now: number): string {
  return `dkim${new Date(now).getUTCFullYear()}`;
}

/**
 * The selector of each key. With several algorithms, each key needs its own name under
 * _domainkey (one TXT record per name, RFC 6376 §3.6.2.2), so the algorithm is appended:
 * `dkim2026-rsa`, `dkim2026-ed25519`. A single key uses the base as given.
 */
export function selectorsFor(base: string, algorithms: readonly DkimAlgorithm[]): Map<DkimAlgorithm, string> {
  const b = base.toLowerCase();
  return new Map(algorithms.map((a) => [a, algorithms.length > 1 ? `${b}-${SUFFIX[a]}` : b]));
}

export function checkSelector(selector: string): void {
  if (typeof selector !== 'string' || selector.length > 200 || !SELECTOR.test(selector)) {
    throw new IdentityError('VALIDATION', 'a selector is one or more DNS labels (letters, digits, hyphens)', 'selector');
  }
}

/** A display name for an identity: printable, one line, no bidi or other controls (§2.2). */
export function checkDisplayName(name: string, field = 'displayName'): string {
  const problem = unsafeTextProblem(name);
  if (problem) throw new IdentityError('VALIDATION', `name ${problem}`, field);
  if (name.length > 256) throw new IdentityError('VALIDATION', 'name is longer than 256 characters', field);
  return name.trim();
}

/** A signature: multi-line plain text (shared/compose-body.ts SignatureText), trailing blanks dropped. */
export function checkSignature(signature: string): string {
  const r = SignatureText.safeParse(signature);
  if (!r.success) throw new IdentityError('VALIDATION', r.error.issues[0]?.message ?? 'signature is not valid', 'signature');
  return signature.replace(/\s+$/, '');
}

function domainOf(i: { address: string }): string {
  return i.address.slice(i.address.lastIndexOf('@') + 1);
}

/** What the renderer sees: the public halves and the record to publish for each key. */
export function publicIdentity(i: StoredIdentity): Identity {
  return {
    id: i.id,
    address: i.address,
    displayName: i.displayName,
    signature: i.signature,
    dkimKeys: i.keys.map((k) => publicKey(i, k)),
    isDefault: i.isDefault,
    createdAt: i.createdAt,
  };
}

function publicKey(i: StoredIdentity, k: StoredDkimKey): DkimKey {
  const { name, value } = dkimDnsRecord({ selector: k.selector, domain: domainOf(i), algorithm: k.algorithm, publicKey: k.publicKey });
  return { algorithm: k.algorithm, selector: k.selector, publicKey: k.publicKey, record: { name, value } };
}

/** How the composer signs for this identity: one DKIM-Signature per key (RSA first). */
export function signingKeys(i: StoredIdentity): DkimOptions[] {
  return i.keys.map((k) => ({ domain: domainOf(i), selector: k.selector, algorithm: k.algorithm, privateKeyPem: k.privateKey }));
}

function newKeys(algorithms: readonly DkimAlgorithm[], selectorBase: string): StoredDkimKey[] {
  checkSelector(selectorBase);
  if (algorithms.length === 0) throw new IdentityError('VALIDATION', 'choose at least one key type', 'algorithm');
  const selectors = selectorsFor(selectorBase, algorithms);
  return [...new Set(algorithms)].map((algorithm) => {
    const key = generateDkimKey(algorithm);
    return { algorithm, selector: selectors.get(algorithm)!, privateKey: key.privateKeyPem, publicKey: key.publicKeyBase64 };
  });
}

export interface NewIdentity {
  address: string;
  displayName?: string;
  signature?: string;
  isDefault?: boolean;
  /** Which keys to generate (default both); [] for an identity that does not sign. */
  algorithms?: readonly DkimAlgorithm[];
  /** Selector base (default `dkim<year>`). */
  selector?: string;
}

export function createIdentity(store: Store, now: number, input: NewIdentity): StoredIdentity {
  const parsed = parseMailbox(input.address, { field: 'address' });
  if (!parsed.ok) throw new IdentityError('VALIDATION', parsed.error.message, 'address');
  const displayName = checkDisplayName(input.displayName ?? '');
  const signature = checkSignature(input.signature ?? '');
  const algorithms = input.algorithms ?? DEFAULT_DKIM_ALGORITHMS;
  const keys = algorithms.length ? newKeys(algorithms, input.selector ?? defaultSelectorBase(now)) : [];
  const id = store.insertIdentity(
    { address: parsed.value.display, displayName, signature, isDefault: input.isDefault === true || store.listIdentities().length === 0, keys },
    now,
  );
  return store.getIdentity(id)!;
}

export function getIdentity(store: Store, id: number): StoredIdentity {
  const found = store.getIdentity(id);
  if (!found) throw new IdentityError('NOT_FOUND', `no identity ${id}`);
  return found;
}

/** The identity whose address is `address` (case-insensitive), if any. */
export function identityByAddress(store: Store, address: string): StoredIdentity | undefined {
  const want = address.toLowerCase();
  return store.listIdentities().find((i) => i.address.toLowerCase() === want);
}

/**
 * New keys for an identity. Without `algorithm`, both keys are replaced (the default pair);
 * with one, only that algorithm's key is replaced and the other keys stay.
 */
export function generateKeys(store: Store, now: number, id: number, opts: { algorithm?: DkimAlgorithm; selector?: string }): StoredIdentity {
  getIdentity(store, id);
  const algorithms = opts.algorithm ? [opts.algorithm] : DEFAULT_DKIM_ALGORITHMS;
  const keys = newKeys(algorithms, opts.selector ?? defaultSelectorBase(now));
  store.setIdentityKeys(id, keys, now, !opts.algorithm);
  return getIdentity(store, id);
}

export function dkimRecords(i: StoredIdentity): DkimKey[] {
  if (i.keys.length === 0) throw new IdentityError('CONFLICT', 'this identity has no DKIM key yet');
  return publicIdentity(i).dkimKeys;
}

export interface KeyDnsCheck {
  algorithm: DkimAlgorithm;
  selector: string;
  name: string;
  published: boolean;
  matches: boolean;
  reason: string;
}

export interface DnsCheck {
  /** Every key's record is published. */
  published: boolean;
  /** Every key's record matches the key we sign with. */
  matches: boolean;
  /** One line: "published and matching", or the first key's problem. */
  reason: string;
  keys: KeyDnsCheck[];
}

/** Looks up each key's TXT record and compares it with the key (never throws on DNS trouble). */
export async function checkDns(resolver: Resolver, i: StoredIdentity): Promise<DnsCheck> {
  const keys: KeyDnsCheck[] = [];
  for (const k of dkimRecords(i)) {
    let check: { published: boolean; matches: boolean; reason: string };
    try {
      const answer = await resolver.txt(k.record.name);
      check = checkDkimRecord(answer.records, { algorithm: k.algorithm, publicKeyBase64: k.publicKey });
    } catch (e) {
      check = { published: false, matches: false, reason: e instanceof Error ? e.message : String(e) };
    }
    keys.push({ algorithm: k.algorithm, selector: k.selector, name: k.record.name, ...check });
  }
  const bad = keys.find((k) => !k.matches);
  return {
    published: keys.every((k) => k.published),
    matches: !bad,
    reason: bad ? (keys.length > 1 ? `${bad.name}: ${bad.reason}` : bad.reason) : keys.every((k) => k.reason === keys[0]!.reason) ? keys[0]!.reason : 'published and matching',
    keys,
  };
}
