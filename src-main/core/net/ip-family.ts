/**
 * The IP family a transport may use (mox: Transport*.IPFamily): both, IPv4 only or IPv6 only.
 * Decided here once, for addresses gathered from DNS and for every dial: an IPv4-only
 * transport never dials an IPv6 address, whatever asked for it (a common fix for a receiver
 * that rejects a desktop's IPv6 address without reverse DNS).
 */
import net from 'node:net';
import type { IpFamily } from '../../../shared/transport';
import { DeliveryError } from '../errors';
import type { Dialer } from './dialer';

export function familyAllows(family: IpFamily, ip: string): boolean {
  const v = net.isIP(ip);
  if (family === 'ipv4') return v === 4;
  if (family === 'ipv6') return v === 6;
  return v !== 0;
}

/** A dialer that refuses (without any packet) addresses outside the family. */
export function familyDialer(family: IpFamily, inner: Dialer): Dialer {
  if (family === 'both') return inner;
  return (opts) => {
    if (!familyAllows(family, opts.ip)) {
      return Promise.reject(
        new DeliveryError({
          code: 'CONNECT_FAILED',
          stage: 'connect',
          permanent: false,
          smtpCode: 451,
          enhancedCode: '4.4.1',
          ip: opts.ip,
          message: `${opts.ip} is not ${family === 'ipv4' ? 'an IPv4' : 'an IPv6'} address, and this transport uses ${family} only`,
        }),
      );
    }
    return inner(opts);
  };
}

