/**
 * Check "resolver-dnssec": does the resolver delivery uses validate DNSSEC? DANE (RFC 7672
 * §2.1) is only as good as that: we never validate signatures ourselves, we trust the AD bit.
 *
 * RFC 4035 §3.2.3 (a validating resolver sets AD on data it proved authentic), §5.5 (and
 * answers SERVFAIL for data that fails validation), RFC 6840 §5.7 (a stub asks for AD with
 * AD=1 in the query, which ours does). We ask for a name known to be signed — AD must be set —
 * and for a name known to be mis-signed — the answer must be SERVFAIL, never data. RFC 4033
 * §4 / RFC 6698 §1.3: the AD bit itself is not protected on the wire, so a validating resolver
 * on another machine is trusted only as far as the network between us; say so.
 */
import net from 'node:net';
import type { ReadinessCheck } from '../../../shared/readiness';
import { DnsRcodeError } from '../dns/dns-errors';
import { check, errorText, type ReadinessDeps } from './types';

type Probe = { name: string; ok: boolean; authentic: boolean | null; rcode: string | null; records: string[]; error: string | null };

async function probe(deps: ReadinessDeps, name: string): Promise<Probe> {
  try {
    const a = await deps.resolver.a(name);
    return { name, ok: true, authentic: a.authentic, rcode: a.rcode, records: a.records, error: null };
  } catch (e) {
    const rcode = e instanceof DnsRcodeError ? e.rcode : (e as { code?: unknown }).code === 'DNS_NXDOMAIN' ? 'NXDOMAIN' : null;
    return { name, ok: false, authentic: null, rcode, records: [], error: errorText(e) };
  }
}

function isLocal(server: string): boolean {
  const ip = server.replace(/^\[([^\]]+)\](?::\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1');
  return (net.isIP(ip) === 4 && ip.startsWith('127.')) || ip === '::1';
}

export async function checkResolverDnssec(deps: ReadinessDeps): Promise<ReadinessCheck> {
  const [signed, bogus] = await Promise.all([probe(deps, deps.targets.dnssecSigned), probe(deps, deps.targets.dnssecBogus)]);
  const evidence = { servers: deps.resolverServers, signed, bogus };
  const off = 'Use a validating resolver (for example unbound on this machine) in Settings → Sending → DNS servers.';
  if (!signed.ok) {
    return check('resolver-dnssec', 'unknown', `The resolver did not answer for the signed name ${signed.name}: ${signed.error}.`, 'Check your DNS resolver, then run the check again.', evidence);
  }
  if (!signed.authentic) {
    return check('resolver-dnssec', 'fail', `Your resolver does not validate DNSSEC (no AD bit for the signed name ${signed.name}), so DANE is off: no recipient's TLSA records are used.`, off, evidence);
  }
  if (bogus.ok || bogus.rcode === 'NXDOMAIN') {
    return check('resolver-dnssec', 'fail', `Your resolver sets the AD bit but answered for the mis-signed name ${bogus.name} instead of refusing it: its AD bit cannot be trusted, so DANE is off.`, off, evidence);
  }
  if (bogus.rcode !== 'SERVFAIL') {
    return check('resolver-dnssec', 'unknown', `The resolver validates ${signed.name}, but the test with the mis-signed ${bogus.name} was inconclusive: ${bogus.error}.`, 'Run the check again; if it persists, check your DNS resolver.', evidence);
  }
  const remote = deps.resolverServers.filter((s) => !isLocal(s));
  if (remote.length > 0) {
    return check(
      'resolver-dnssec',
      'warn',
      `Your resolver validates DNSSEC (DANE is on), but it is on another machine (${remote.join(', ')}): its AD bit crosses the network unprotected.`,
      'Run a validating resolver on this machine, or make sure the path to it is trusted.',
      evidence,
    );
  }
  return check('resolver-dnssec', 'pass', `Your resolver validates DNSSEC: AD for ${signed.name}, SERVFAIL for the mis-signed ${bogus.name}. DANE is on.`, null, evidence);
}
