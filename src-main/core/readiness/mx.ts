/**
 * Check "mx" (per identity): can replies and bounces reach the From domain?
 *
 * RFC 5321 §5.1 (MX records, else the implicit MX of the domain's own address), RFC 7505 §3-4
 * (a null MX says the domain accepts no mail, and receivers may refuse mail from such a
 * domain), RFC 3834 / RFC 3464 (replies and delivery reports go back to this domain).
 */
import type { ReadinessCheck } from '../../../shared/readiness';
import { check, errorText, isNxdomain, type ReadinessDeps, type ReadinessIdentity } from './types';

export async function checkMx(deps: ReadinessDeps, identity: ReadinessIdentity): Promise<ReadinessCheck> {
  const domain = identity.address.split('@').pop()!.toLowerCase();
  const id = identity.address;
  const unknown = (e: unknown) => check('mx', 'unknown', `The MX records of ${domain} could not be looked up: ${errorText(e)}.`, 'Check your DNS resolver, then run the check again.', { domain, error: errorText(e) }, id);
  let records: { preference: number; exchange: string }[];
  try {
    records = (await deps.resolver.mx(domain)).records;
  } catch (e) {
    if (isNxdomain(e)) return check('mx', 'fail', `The domain ${domain} does not exist in DNS.`, `Check the address ${id}, or register ${domain}.`, { domain, mx: [] }, id);
    return unknown(e);
  }
  if (records.some((r) => r.exchange === '.')) {
    return check('mx', 'fail', `${domain} publishes a null MX: it accepts no mail, so replies and bounces cannot come back, and receivers may refuse its mail.`, `Publish real MX records for ${domain}.`, { domain, mx: records }, id);
  }
  if (records.length === 0) {
    const a = await deps.resolver.a(domain).then((x) => x.records, () => [] as string[]);
    if (a.length > 0) {
      return check('mx', 'warn', `${domain} has no MX record; mail to it goes to its address ${a[0]} (implicit MX), if that host runs a mail server.`, `Publish an MX record for ${domain} naming the host that receives its mail.`, { domain, mx: [], implicit: a }, id);
    }
    return check('mx', 'fail', `${domain} has no MX record and no address: replies and bounces cannot come back.`, `Publish an MX record for ${domain}.`, { domain, mx: [] }, id);
  }
  const hosts = [...records].sort((x, y) => x.preference - y.preference);
  const resolved = await Promise.all(
    hosts.map(async (h) => {
      const [a, aaaa] = await Promise.allSettled([deps.resolver.a(h.exchange), deps.resolver.aaaa(h.exchange)]);
      const addrs = [a, aaaa].flatMap((r) => (r.status === 'fulfilled' ? r.value.records : []));
      return { host: h.exchange, preference: h.preference, addresses: addrs };
    }),
  );
  const evidence = { domain, mx: resolved };
  if (resolved.every((h) => h.addresses.length === 0)) {
    return check('mx', 'fail', `The MX hosts of ${domain} (${hosts.map((h) => h.exchange).join(', ')}) have no address: replies and bounces cannot come back.`, `Give ${hosts[0]!.exchange} an address record, or fix the MX record.`, evidence, id);
  }
  return check('mx', 'pass', `${domain} receives mail at ${resolved.filter((h) => h.addresses.length).map((h) => h.host).join(', ')}.`, null, evidence, id);
}
