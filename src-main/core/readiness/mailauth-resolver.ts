/**
 * Our resolver in the shape mailauth's SPF and DMARC code asks for: node:dns `resolve(name,
 * type)` results and its error codes (ENOTFOUND for NXDOMAIN, ENODATA for an empty answer,
 * ETIMEOUT for anything temporary, which mailauth turns into RFC 7208 §2.6.6 temperror). So
 * SPF and DMARC are evaluated through the same resolver, and the same injected servers, as
 * everything else.
 */
import type { Resolver } from '../dns/types';

type MailauthResolver = (name: string, type: string) => Promise<never[]>;

function nodeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export function mailauthResolver(resolver: Resolver): MailauthResolver {
  return (async (name: string, type: string) => {
    const t = type.toUpperCase();
    let records: unknown[];
    try {
      switch (t) {
        case 'TXT':
          // node:dns gives each record as its character-strings; ours are joined already.
          records = (await resolver.txt(name)).records.map((s) => [s]);
          break;
        case 'A':
          records = (await resolver.a(name)).records;
          break;
        case 'AAAA':
          records = (await resolver.aaaa(name)).records;
          break;
        case 'MX':
          records = (await resolver.mx(name)).records.map((m) => ({ exchange: m.exchange, priority: m.preference }));
          break;
        case 'PTR':
          records = (await resolver.ptr(name)).records;
          break;
        default:
          throw nodeError('ENOTIMP', `query type ${t} not supported`);
      }
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'DNS_NXDOMAIN') throw nodeError('ENOTFOUND', `${name} ${t}: NXDOMAIN`);
      if (code === 'ENOTIMP') throw e;
      throw nodeError('ETIMEOUT', `${name} ${t}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (records.length === 0) throw nodeError('ENODATA', `${name} ${t}: no records`);
    return records;
  }) as MailauthResolver;
}
