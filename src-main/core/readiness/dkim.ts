/**
 * Check "dkim" (per identity): is the key we sign with published, and does its d= align with
 * the From domain?
 *
 * RFC 6376 §3.6.1–3.6.2 (the key record at <selector>._domainkey.<domain>, compared by
 * compose/dkim-keys.ts checkDkimRecord) and RFC 7489 §3.1.1 (DKIM identifier alignment, relaxed:
 * same organizational domain). submit.ts signs with d= the identity's own domain, so alignment
 * holds whenever the From address is the identity's; the check still states it.
 */
import type { ReadinessCheck } from '../../../shared/readiness';
import { checkDkimRecord, dkimDnsRecord } from '../compose/dkim-keys';
import { check, errorText, isNxdomain, type ReadinessDeps, type ReadinessIdentity } from './types';

export interface DkimResult {
  check: ReadinessCheck;
  /** The signing domain of a published, matching key (the DMARC check uses it). */
  passingDomain: string | null;
}

export async function checkDkim(deps: ReadinessDeps, identity: ReadinessIdentity): Promise<DkimResult> {
  const fromDomain = identity.address.split('@').pop()!.toLowerCase();
  const id = identity.address;
  if (!identity.dkim) {
    return {
      check: check('dkim', 'warn', `Mail from ${id} is not DKIM-signed: this identity has no key.`, 'Generate a DKIM key for this identity (Settings → Identities) and publish its record.', { fromDomain, signingDomain: null }, id),
      passingDomain: null,
    };
  }
  // The domain submit.ts signs with (d=), i.e. the identity's own.
  const signingDomain = fromDomain;
  const record = dkimDnsRecord({ selector: identity.dkim.selector, domain: signingDomain, algorithm: identity.dkim.algorithm, publicKey: identity.dkim.publicKey });
  const aligned = signingDomain === fromDomain;
  const evidence: Record<string, unknown> = { fromDomain, signingDomain, selector: identity.dkim.selector, name: record.name, expected: record.value, aligned };
  let texts: string[];
  try {
    texts = (await deps.resolver.txt(record.name)).records;
  } catch (e) {
    if (!isNxdomain(e)) {
      return { check: check('dkim', 'unknown', `The DKIM record ${record.name} could not be looked up: ${errorText(e)}.`, 'Check your DNS resolver, then run the check again.', { ...evidence, error: errorText(e) }, id), passingDomain: null };
    }
    texts = [];
  }
  evidence.found = texts;
  const verdict = checkDkimRecord(texts, { algorithm: identity.dkim.algorithm, publicKeyBase64: identity.dkim.publicKey });
  evidence.reason = verdict.reason;
  if (!verdict.published) {
    return { check: check('dkim', 'fail', `The DKIM key of ${id} is not published at ${record.name}: ${verdict.reason}.`, `Publish the TXT record ${record.name} shown in Settings → Identities.`, evidence, id), passingDomain: null };
  }
  if (!verdict.matches) {
    return { check: check('dkim', 'fail', `The DKIM record at ${record.name} does not match the signing key: ${verdict.reason}.`, `Replace the TXT record at ${record.name} with the one shown in Settings → Identities.`, evidence, id), passingDomain: null };
  }
  if (!aligned) {
    return { check: check('dkim', 'warn', `The DKIM key is published, but d=${signingDomain} does not align with the From domain ${fromDomain}.`, `Sign with a key of ${fromDomain}.`, evidence, id), passingDomain: null };
  }
  if (/t=y/.test(verdict.reason) || verdict.reason.includes('testing')) {
    return { check: check('dkim', 'warn', `The DKIM key at ${record.name} matches, but is in testing mode (t=y): receivers may ignore the signature.`, `Remove t=y from the record at ${record.name}.`, evidence, id), passingDomain: signingDomain };
  }
  return { check: check('dkim', 'pass', `The DKIM key at ${record.name} is published, matches the signing key, and d=${signingDomain} aligns with the From domain.`, null, evidence, id), passingDomain: signingDomain };
}
