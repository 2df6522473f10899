import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { DeliveryError } from '../../../src-main/core/errors';
import { MemoryPolicyCache } from '../../../src-main/core/tls-policy/mta-sts-cache';
import { FETCH_BACKOFF_MS, resolveMtaSts, type TxtResolver } from '../../../src-main/core/tls-policy/mta-sts';
import { TlsPolicyError } from '../../../src-main/core/tls-policy/policy-error';

const DOMAIN = 'example.com';
const TXT_NAME = '_mta-sts.example.com';
const MIN = 60_000;
const DAY = 86_400_000;

type TxtAnswer = string[] | 'nxdomain' | 'temporary';

function policy(mode: string, maxAge: number, mx = 'mx.example.com'): string {
  return `version: STSv1\nmode: ${mode}\nmx: ${mx}\nmax_age: ${maxAge}\n`;
}

/** A world whose DNS answer and policy server can change between calls. */
function world() {
  const clock = new ManualClock();
  const cache = new MemoryPolicyCache();
  const state: { txt: TxtAnswer; body: string | Error; fetches: number; lookups: string[] } = {
    txt: ['v=STSv1; id=one'],
    body: policy('enforce', 86400),
    fetches: 0,
    lookups: [],
  };
  const resolver: TxtResolver = {
    txt(name) {
      state.lookups.push(name);
      if (state.txt === 'nxdomain') {
        return Promise.reject(new DeliveryError({ code: 'DNS_NXDOMAIN', stage: 'dns', permanent: true, message: `${name}: NXDOMAIN` }));
      }
      if (state.txt === 'temporary') {
        return Promise.reject(new DeliveryError({ code: 'DNS_TEMPORARY', stage: 'dns', permanent: false, message: `${name}: SERVFAIL` }));
      }
      return Promise.resolve({ records: state.txt });
    },
  };
  const fetcher = (domain: string) => {
    state.fetches++;
    expect(domain).toBe(DOMAIN);
    return state.body instanceof Error ? Promise.reject(state.body) : Promise.resolve(state.body);
  };
  const resolve = (domain = DOMAIN) => resolveMtaSts(domain, { resolver, fetcher, cache, clock });
  return { clock, cache, state, resolve };
}

const fetchFailure = () =>
  new TlsPolicyError({ code: 'CERT_INVALID', message: 'certificate of mta-sts.example.com rejected', tlsrptFailure: 'sts-webpki-invalid' });

describe('resolveMtaSts (RFC 8461 §3.3, §5.1)', () => {
  it('looks up the TXT record, fetches, parses and caches', async () => {
    const w = world();
    const r = await w.resolve('Example.COM.');
    expect(r).toMatchObject({ mode: 'enforce', id: 'one', fromCache: false, policy: { mx: ['mx.example.com'], maxAge: 86400 } });
    expect(r.error).toBeUndefined();
    expect(w.state.lookups).toEqual([TXT_NAME]);
    const entry = w.cache.get(DOMAIN);
    expect(entry?.policy).toMatchObject({ id: 'one', fetchedAt: w.clock.now(), expiresAt: w.clock.now() + DAY });
  });

  it('uses the cached policy while the id is unchanged', async () => {
    const w = world();
    await w.resolve();
    w.clock.advance(DAY - 1);
    const r = await w.resolve();
    expect(r).toMatchObject({ mode: 'enforce', id: 'one', fromCache: true });
    expect(w.state.fetches).toBe(1);
  });

  it('refetches when the TXT id changes', async () => {
    const w = world();
    await w.resolve();
    w.state.txt = ['v=STSv1; id=two'];
    w.state.body = policy('testing', 3600, '*.example.com');
    const r = await w.resolve();
    expect(r).toMatchObject({ mode: 'testing', id: 'two', fromCache: false, policy: { mx: ['*.example.com'] } });
    expect(w.state.fetches).toBe(2);
    expect((await w.resolve()).fromCache).toBe(true);
    expect(w.state.fetches).toBe(2);
  });

  it('refetches when the cached policy has expired (max_age honoured)', async () => {
    const w = world();
    w.state.body = policy('enforce', 600);
    await w.resolve();
    w.clock.advance(599_999);
    expect((await w.resolve()).fromCache).toBe(true);
    w.clock.advance(1);
    expect((await w.resolve()).fromCache).toBe(false);
    expect(w.state.fetches).toBe(2);
  });

  it('max_age 0 applies to this delivery only', async () => {
    const w = world();
    w.state.body = policy('enforce', 0);
    expect((await w.resolve()).mode).toBe('enforce');
    expect((await w.resolve()).fromCache).toBe(false);
    expect(w.state.fetches).toBe(2);
  });

  it('no TXT record and no cache → no policy, nothing fetched', async () => {
    for (const txt of ['nxdomain', [], ['v=spf1 -all']] as TxtAnswer[]) {
      const w = world();
      w.state.txt = txt;
      expect(await w.resolve()).toEqual({ mode: null, fromCache: false });
      expect(w.state.fetches).toBe(0);
    }
  });

  it('an invalid TXT record → no policy, with the reason recorded', async () => {
    const w = world();
    w.state.txt = ['v=STSv1; id=a', 'v=STSv1; id=b'];
    const r = await w.resolve();
    expect(r).toMatchObject({ mode: null, fromCache: false, error: { tlsrptFailure: 'sts-policy-invalid' } });
    expect(w.state.fetches).toBe(0);
  });

  it('mode none is returned as such (the caller treats it as no policy)', async () => {
    const w = world();
    w.state.body = 'version: STSv1\nmode: none\nmax_age: 86400\n';
    expect(await w.resolve()).toMatchObject({ mode: 'none', fromCache: false });
  });

  it('a TXT record that disappeared leaves the cached policy in force until it expires', async () => {
    const w = world();
    await w.resolve();
    w.state.txt = 'nxdomain';
    w.clock.advance(DAY - 1);
    expect(await w.resolve()).toMatchObject({ mode: 'enforce', fromCache: true, id: 'one' });
    w.state.txt = ['v=STSv1; id=!!'];
    expect(await w.resolve()).toMatchObject({ mode: 'enforce', fromCache: true, error: { tlsrptFailure: 'sts-policy-invalid' } });
    w.state.txt = 'nxdomain';
    w.clock.advance(1);
    expect(await w.resolve()).toEqual({ mode: null, fromCache: false });
    expect(w.state.fetches).toBe(1);
  });

  it('a temporary DNS error without a cached policy is a temporary failure', async () => {
    const w = world();
    w.state.txt = 'temporary';
    const e = await w.resolve().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DeliveryError);
    expect(e).toMatchObject({ code: 'DNS_TEMPORARY', permanent: false, stage: 'policy' });
  });

  it('a temporary DNS error with a valid cached policy uses the cache', async () => {
    const w = world();
    await w.resolve();
    w.state.txt = 'temporary';
    expect(await w.resolve()).toMatchObject({ mode: 'enforce', fromCache: true });
    w.clock.advance(DAY);
    await expect(w.resolve()).rejects.toMatchObject({ code: 'DNS_TEMPORARY' });
  });

  describe('fetch failures', () => {
    it('no cache: act as if no policy, remember the failure, back off 5 minutes', async () => {
      const w = world();
      w.state.body = fetchFailure();
      const r = await w.resolve();
      expect(r).toMatchObject({ mode: null, fromCache: false, error: { tlsrptFailure: 'sts-webpki-invalid' } });
      expect(w.cache.get(DOMAIN)?.lastFailure).toMatchObject({ at: w.clock.now(), id: 'one', tlsrptFailure: 'sts-webpki-invalid' });

      w.state.body = policy('enforce', 86400);
      w.clock.advance(FETCH_BACKOFF_MS - 1);
      const during = await w.resolve();
      expect(during).toMatchObject({ mode: null, error: { tlsrptFailure: 'sts-webpki-invalid' } });
      expect(during.error?.message).toMatch(/not retried before/);
      expect(w.state.fetches).toBe(1);

      w.clock.advance(1);
      expect(await w.resolve()).toMatchObject({ mode: 'enforce', fromCache: false });
      expect(w.state.fetches).toBe(2);
      expect(w.cache.get(DOMAIN)?.lastFailure).toBeNull();
    });

    it('the backoff is per TXT id: a new id is fetched at once', async () => {
      const w = world();
      w.state.body = fetchFailure();
      await w.resolve();
      w.state.txt = ['v=STSv1; id=two'];
      w.state.body = policy('enforce', 86400);
      w.clock.advance(MIN);
      expect(await w.resolve()).toMatchObject({ mode: 'enforce', id: 'two' });
      expect(w.state.fetches).toBe(2);
    });

    it('an unparsable policy counts as a failure (sts-policy-invalid) and is backed off too', async () => {
      const w = world();
      w.state.body = '<html>oops</html>';
      expect(await w.resolve()).toMatchObject({ mode: null, error: { tlsrptFailure: 'sts-policy-invalid' } });
      w.clock.advance(MIN);
      await w.resolve();
      expect(w.state.fetches).toBe(1);
    });

    it('an unexpected fetcher error is recorded as sts-policy-fetch-error', async () => {
      const w = world();
      w.state.body = new Error('socket hang up');
      expect(await w.resolve()).toMatchObject({ mode: null, error: { tlsrptFailure: 'sts-policy-fetch-error', message: 'socket hang up' } });
    });

    it('with a still-valid cached policy: keep applying it (RFC 8461 §3.3) and record the failure', async () => {
      const w = world();
      await w.resolve();
      w.state.txt = ['v=STSv1; id=two'];
      w.state.body = fetchFailure();
      w.clock.advance(MIN);
      const r = await w.resolve();
      expect(r).toMatchObject({ mode: 'enforce', id: 'one', fromCache: true, error: { tlsrptFailure: 'sts-webpki-invalid' } });
      expect(w.state.fetches).toBe(2);
      // Backed off: no fetch, still the cached policy.
      w.clock.advance(MIN);
      expect(await w.resolve()).toMatchObject({ mode: 'enforce', id: 'one', fromCache: true });
      expect(w.state.fetches).toBe(2);
      // After the backoff the new policy is fetched.
      w.clock.advance(FETCH_BACKOFF_MS);
      w.state.body = policy('testing', 86400);
      expect(await w.resolve()).toMatchObject({ mode: 'testing', id: 'two', fromCache: false });
      expect(w.cache.get(DOMAIN)?.policy?.id).toBe('two');
    });

    it('the cached policy is kept in the cache across a failure', async () => {
      const w = world();
      await w.resolve();
      w.state.txt = ['v=STSv1; id=two'];
      w.state.body = fetchFailure();
      await w.resolve();
      expect(w.cache.get(DOMAIN)?.policy?.id).toBe('one');
    });
  });

  it('rejects an invalid domain', async () => {
    const w = world();
    await expect(w.resolve('exa mple.com')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(w.state.lookups).toEqual([]);
  });

  it('the cache hands out copies', async () => {
    const w = world();
    await w.resolve();
    const e = w.cache.get(DOMAIN)!;
    e.policy!.policy.mode = 'none';
    expect(w.cache.get(DOMAIN)?.policy?.policy.mode).toBe('enforce');
  });
});
