/** The IP family filter for DNS answers (the rule itself: net/ip-family.ts familyAllows). */
import type { IpFamily } from '../../../shared/transport';
import { familyAllows } from '../net/ip-family';
import type { DnsAnswer, Resolver } from './types';

/**
 * A resolver whose A or AAAA answers are emptied for the family a transport does not use, so
 * direct delivery never picks such an address (the answer's DNSSEC facts are kept).
 */
export function familyResolver(family: IpFamily, inner: Resolver): Resolver {
  if (family === 'both') return inner;
  const only = async (p: Promise<DnsAnswer<string>>) => {
    const ans = await p;
    return { ...ans, records: ans.records.filter((ip) => familyAllows(family, ip)) };
  };
  return {
    mx: (n) => inner.mx(n),
    a: (n) => only(inner.a(n)),
    aaaa: (n) => only(inner.aaaa(n)),
    txt: (n) => inner.txt(n),
    tlsa: (n) => inner.tlsa(n),
    cname: (n) => inner.cname(n),
    ptr: (n) => inner.ptr(n),
  };
}
