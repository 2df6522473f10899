/**
 * Check "dkim" (per identity): is every key we sign with published, and does d= align with
 * the From domain?
 *
 * RFC 6376 §3.6.1–3.6.2 (the key record at <selector>._domainkey.<domain>, compared by
 * compose/dkim-keys.ts checkDkimRecord), RFC 8463 §4 (an identity signs with RSA and Ed25519;
 * a verifier uses the one it knows, so each record matters) and RFC 7489 §3.1.1 (DKIM
 * identifier alignment). identities.ts signs with d= the identity's own domain, so alignment
 * holds whenever the From address is the identity's; the check still states it.
 *
 * Unlike identities.checkDns (a yes/no for the Settings view), a lookup that fails here is
 * "unknown", not "not published": the record may well be there.
 */
import type { ReadinessCheck } from '../../../shared/readiness';
import { checkDkimRecord, dkimDnsRecord } from '../compose/dkim-keys';
import { check, errorText, isNxdomain, type ReadinessDeps, type ReadinessIdentity } from './types';

export interface DkimResult {
  check: ReadinessCheck;
  /** The signing domain when a published key matches (the DMARC check uses it). */
  passingDomain: string | null;
}

interface KeyResult {
  algorithm: string;
  selector: string;
  name: string;
  expected: string;
  found: string[];
  state: 'matches' | 'testing' | 'missing' | 'differs' | 'unknown';
  reason: string;
}

export async function checkDkim(deps: ReadinessDeps, identity: ReadinessIdentity): Promise<DkimResult> {
  const fromDomain = identity.address.split('@').pop()!.toLowerCase();
  const id = identity.address;
  if (identity.dkimKeys.length === 0) {
    return {
      check: check('dkim', 'warn', `Mail from ${id} is not DKIM-signed: this identity has no key.`, 'Generate DKIM keys for this identity (Settings → Identities) and publish their records.', { fromDomain, signingDomain: null, keys: [] }, id),
      passingDomain: null,
    };
  }
  // The domain identities.ts signs with (d=): the identity's own.
  const signingDomain = fromDomain;
  const aligned = signingDomain === fromDomain;
  const keys: KeyResult[] = await Promise.all(
    identity.dkimKeys.map(async (k): Promise<KeyResult> => {
      const record = dkimDnsRecord({ selector: k.selector, domain: signingDomain, algorithm: k.algorithm, publicKey: k.publicKey });
      const base = { algorithm: k.algorithm, selector: k.selector, name: record.name, expected: record.value };
      let found: string[];
      try {
        found = (await deps.resolver.txt(record.name)).records;
      } catch (e) {
        if (!isNxdomain(e)) return { ...base, found: [], state: 'unknown', reason: errorText(e) };
        found = [];
      }
      const v = checkDkimRecord(found, { algorithm: k.algorithm, publicKeyBase64: k.publicKey });
      const state = !v.published ? 'missing' : !v.matches ? 'differs' : v.reason.includes('t=y') ? 'testing' : 'matches';
      return { ...base, found, state, reason: v.reason };
    }),
  );
  const evidence = { fromDomain, signingDomain, aligned, keys };
  const usable = keys.filter((k) => k.state === 'matches' || k.state === 'testing');
  const bad = keys.filter((k) => k.state === 'missing' || k.state === 'differs');
  const unknown = keys.filter((k) => k.state === 'unknown');
  const passingDomain = usable.length > 0 && aligned ? signingDomain : null;
  const fixOf = (k: KeyResult) =>
    k.state === 'missing' ? `Publish the TXT record ${k.name} shown in Settings → Identities.` : `Replace the TXT record at ${k.name} with the one shown in Settings → Identities.`;
  const testing = keys.filter((k) => k.state === 'testing');
  const lookupFailed = (k: KeyResult) => check('dkim', 'unknown', `The DKIM record ${k.name} could not be looked up: ${k.reason}.`, 'Check your DNS resolver, then run the check again.', evidence, id);
  let c: ReadinessCheck;
  if (usable.length === 0 && bad.length > 0) {
    const k = bad[0]!;
    c = check('dkim', 'fail', `${k.state === 'missing' ? `The DKIM key of ${id} is not published at ${k.name}` : `The DKIM record at ${k.name} does not match the signing key`}: ${k.reason}.`, fixOf(k), evidence, id);
  } else if (usable.length === 0 || (bad.length === 0 && unknown.length > 0)) {
    c = lookupFailed(unknown[0]!);
  } else if (bad.length > 0) {
    const k = bad[0]!;
    c = check('dkim', 'warn', `The ${k.algorithm} key's record at ${k.name} is ${k.state === 'missing' ? 'missing' : 'different'}; receivers that verify only that algorithm see a failing signature.`, fixOf(k), evidence, id);
  } else if (!aligned) {
    c = check('dkim', 'warn', `The DKIM keys are published, but d=${signingDomain} does not align with the From domain ${fromDomain}.`, `Sign with a key of ${fromDomain}.`, evidence, id);
  } else if (testing.length > 0) {
    const k = testing[0]!;
    c = check('dkim', 'warn', `The DKIM record at ${k.name} matches, but is in testing mode (t=y): receivers may ignore the signature.`, `Remove t=y from the record at ${k.name}.`, evidence, id);
  } else {
    c = check('dkim', 'pass', `${keys.length === 1 ? `The DKIM key at ${keys[0]!.name} is` : `All ${keys.length} DKIM keys (${keys.map((k) => k.name).join(', ')}) are`} published and match, and d=${signingDomain} aligns with the From domain.`, null, evidence, id);
  }
  return { check: c, passingDomain };
}
