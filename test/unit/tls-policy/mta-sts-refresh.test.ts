/**
 * Background refresh of cached MTA-STS policies (RFC 8461 §10.2, mox mtastsdb refresher),
 * driven by a ManualClock: policies are renewed before they expire, gently, with the lookup's
 * fetch rules and back-off; a failed refresh keeps the cached policy.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { DeliveryError } from '../../../src-main/core/errors';
import { MemoryPolicyCache } from '../../../src-main/core/tls-policy/mta-sts-cache';
import { FETCH_BACKOFF_MS, resolveMtaSts, type TxtResolver } from '../../../src-main/core/tls-policy/mta-sts';
import { DEFAULT_REFRESH_INTERVAL_MS, MtaStsRefresher } from '../../../src-main/core/tls-policy/mta-sts-refresh';
import { TlsPolicyError } from '../../../src-main/core/tls-policy/policy-error';

const HOUR = 3600_000;
const policy = (maxAge: number) => `version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: ${maxAge}\n`;

function world(domains = ['example.com']) {
  const clock = new ManualClock();
  const cache = new MemoryPolicyCache();
  const state = { txt: new Map(domains.map((d) => [d, ['v=STSv1; id=one'] as string[] | 'temporary'])), body: policy(86400) as string | Error, fetches: [] as string[] };
  const resolver: TxtResolver = {
    txt(name) {
      const t = state.txt.get(name.replace(/^_mta-sts\./, ''));
      if (t === 'temporary') return Promise.reject(new DeliveryError({ code: 'DNS_TEMPORARY', stage: 'dns', permanent: false, message: 'SERVFAIL' }));
      return Promise.resolve({ records: t ?? [] });
    },
  };
  const fetcher = (d: string) => {
    state.fetches.push(d);
    return state.body instanceof Error ? Promise.reject(state.body) : Promise.resolve(state.body);
  };
  const refresher = new MtaStsRefresher({ cache, resolver, fetcher, clock, batch: 2 });
  /** Advances the clock tick by tick (each tick's async refresh settles before the next). */
  const run = async (ms: number) => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      clock.advance(Math.min(DEFAULT_REFRESH_INTERVAL_MS, end - clock.now()));
      await refresher.settled();
    }
  };
  const lookup = (d: string) => resolveMtaSts(d, { resolver, fetcher, cache, clock });
  return { clock, cache, state, refresher, run, lookup };
}

describe('MTA-STS background refresh (RFC 8461 §10.2)', () => {
  it('MTA-STS policies are refreshed in the background before they expire', async () => {
    const w = world();
    await w.lookup('example.com'); // cached for 24 h
    const first = w.cache.get('example.com')!.policy!;
    w.refresher.start();
    await w.run(11 * HOUR);
    expect(w.state.fetches).toEqual(['example.com']); // only the lookup's own fetch so far
    await w.run(2 * HOUR); // inside the last 12 h
    expect(w.state.fetches).toEqual(['example.com', 'example.com']);
    const renewed = w.cache.get('example.com')!.policy!;
    expect(renewed.expiresAt).toBeGreaterThan(first.expiresAt);
    // Days later, the policy never lapsed: a lookup always finds it in force, without fetching.
    await w.run(72 * HOUR);
    const before = w.state.fetches.length;
    const r = await w.lookup('example.com');
    expect(r).toMatchObject({ mode: 'enforce', fromCache: true });
    expect(w.state.fetches.length).toBe(before);
    await w.refresher.stop();
  });

  it('a refresh failure keeps the cached policy, is recorded, and is not retried within the back-off', async () => {
    const w = world();
    await w.lookup('example.com');
    const cached = w.cache.get('example.com')!.policy!;
    w.state.body = new TlsPolicyError({ code: 'CERT_INVALID', message: 'certificate not trusted', tlsrptFailure: 'sts-webpki-invalid' });
    w.refresher.start();
    await w.run(12 * HOUR + 1);
    expect(w.state.fetches).toEqual(['example.com', 'example.com']);
    const e = w.cache.get('example.com')!;
    expect(e.policy).toEqual(cached);
    expect(e.lastFailure).toMatchObject({ tlsrptFailure: 'sts-webpki-invalid' });
    const failedAt = e.lastFailure!.at;
    const fetchesAfterFailure = w.state.fetches.length;
    // Ticks within FETCH_BACKOFF_MS do not fetch again.
    await w.run(FETCH_BACKOFF_MS - DEFAULT_REFRESH_INTERVAL_MS - 1);
    expect(w.state.fetches.length).toBe(fetchesAfterFailure);
    expect(w.clock.now() - failedAt).toBeLessThan(FETCH_BACKOFF_MS);
    // After it, the refresh is tried again and, once the server is fixed, renews the policy.
    w.state.body = policy(86400);
    await w.run(2 * DEFAULT_REFRESH_INTERVAL_MS);
    expect(w.state.fetches.length).toBe(fetchesAfterFailure + 1);
    expect(w.cache.get('example.com')!.policy!.expiresAt).toBeGreaterThan(cached.expiresAt);
    await w.refresher.stop();
  });

  it('a vanished or unreachable TXT record leaves the cached policy alone (RFC 8461 §3.3)', async () => {
    const w = world();
    await w.lookup('example.com');
    const cached = w.cache.get('example.com')!.policy!;
    w.state.txt.set('example.com', 'temporary');
    const r1 = await (w.clock.advance(13 * HOUR), w.refresher.runOnce());
    expect(r1).toEqual([expect.objectContaining({ outcome: 'kept' })]);
    w.state.txt.set('example.com', []);
    const r2 = await w.refresher.runOnce();
    expect(r2).toEqual([expect.objectContaining({ outcome: 'kept' })]);
    expect(w.cache.get('example.com')!.policy).toEqual(cached);
    expect(w.state.fetches).toEqual(['example.com']);
  });

  it('gentle: at most `batch` domains per tick, soonest-expiring first', async () => {
    const w = world(['a.test', 'b.test', 'c.test']);
    for (const d of ['c.test', 'a.test', 'b.test']) {
      await w.lookup(d);
      w.clock.advance(60_000);
    }
    w.clock.advance(12 * HOUR);
    w.state.fetches = [];
    const r = await w.refresher.runOnce();
    expect(r.map((x) => x.domain)).toEqual(['c.test', 'a.test']);
    expect(w.state.fetches).toEqual(['c.test', 'a.test']);
    expect((await w.refresher.runOnce()).map((x) => x.domain)).toEqual(['b.test']);
  });
});
