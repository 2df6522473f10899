/**
 * Check "dmarc" (per identity): the From domain's DMARC record, its policy, and whether our
 * mail would pass it.
 *
 * RFC 7489 §6.3 (record syntax), §6.6.3 (the record at _dmarc.<From domain>, else at the
 * organizational domain), §3.1 (identifier alignment), §6.6.2 (DMARC passes when an aligned SPF
 * or DKIM result passes). mailauth computes record discovery and alignment; we feed it the
 * results this machine's mail will get (from the spf and dkim checks).
 */
import { dmarc } from 'mailauth/lib/dmarc';
import type { ReadinessCheck } from '../../../shared/readiness';
import { mailauthResolver } from './mailauth-resolver';
import { check, type ReadinessDeps, type ReadinessIdentity } from './types';

export async function checkDmarc(
  deps: ReadinessDeps,
  identity: ReadinessIdentity,
  predicted: { spfPasses: boolean; dkimDomain: string | null },
): Promise<ReadinessCheck> {
  const fromDomain = identity.address.split('@').pop()!.toLowerCase();
  const id = identity.address;
  const r = (await dmarc({
    headerFrom: identity.address,
    spfDomains: predicted.spfPasses ? [fromDomain] : [],
    dkimDomains: predicted.dkimDomain ? [{ domain: predicted.dkimDomain }] : [],
    resolver: mailauthResolver(deps.resolver),
  } as Parameters<typeof dmarc>[0])) as unknown as
    | false
    | { status: { result: string }; policy?: string; p?: string; rr?: string; error?: string; domain?: string };
  const result = r ? r.status.result : 'none';
  const policy = r ? (r.policy ?? r.p ?? null) : null;
  const evidence = { fromDomain, record: r ? (r.rr ?? null) : null, policy, result, spfAligned: predicted.spfPasses, dkimAligned: predicted.dkimDomain !== null, error: r ? (r.error ?? null) : null };
  const passes = predicted.spfPasses || predicted.dkimDomain !== null;
  if (result === 'temperror') return check('dmarc', 'unknown', `The DMARC record of ${fromDomain} could not be looked up: ${evidence.error ?? 'DNS error'}.`, 'Check your DNS resolver, then run the check again.', evidence, id);
  if (result === 'none') {
    return check('dmarc', 'warn', `${fromDomain} publishes no DMARC record; large receivers expect one.`, `Publish a TXT record at _dmarc.${fromDomain}: "v=DMARC1; p=none; rua=mailto:postmaster@${fromDomain}".`, evidence, id);
  }
  if (policy !== 'none' && policy !== 'quarantine' && policy !== 'reject') {
    return check('dmarc', 'fail', `The DMARC record of ${fromDomain} has no valid policy (p=${policy ?? ''}), so receivers ignore it.`, `Fix the record at _dmarc.${fromDomain}: it needs p=none, p=quarantine or p=reject.`, evidence, id);
  }
  if (!passes) {
    return check(
      'dmarc',
      policy === 'none' ? 'warn' : 'fail',
      `Mail from ${id} would fail DMARC (no aligned SPF or DKIM pass) and ${fromDomain}'s policy is p=${policy}${policy === 'none' ? '' : ': receivers will ' + (policy === 'reject' ? 'reject it' : 'put it in spam')}.`,
      'Fix the SPF or DKIM result above; either one passing is enough.',
      evidence,
      id,
    );
  }
  return check('dmarc', 'pass', `${fromDomain} has a DMARC record (p=${policy}) and mail from ${id} would pass it (${[predicted.spfPasses ? 'SPF' : '', predicted.dkimDomain ? 'DKIM' : ''].filter(Boolean).join(' and ')} aligned).`, null, evidence, id);
}
