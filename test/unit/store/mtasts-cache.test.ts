import { expect, test } from 'vitest';
import { SqlitePolicyCache } from '../../../src-main/core/store/mtasts-cache';
import { Store } from '../../../src-main/core/store/store';
import { parseMtaStsPolicy } from '../../../src-main/core/tls-policy/mta-sts-policy';
import { tmpDir } from '../../helpers/tmp';

test('MTA-STS policies and fetch failures persist across restarts', () => {
  const { dir, cleanup } = tmpDir('outbox-sts-');
  try {
    const text = 'version: STSv1\nmode: enforce\nmx: mx.example.org\nmx: *.backup.example.org\nmax_age: 86400\n';
    let store = Store.open(dir);
    let cache = new SqlitePolicyCache(store);
    expect(cache.get('example.org')).toBeUndefined();
    cache.recordFetchFailure('other.example', { at: 5, id: 'x1', tlsrptFailure: 'sts-policy-fetch-error', message: 'timeout' });
    cache.put('Example.ORG', { domain: 'example.org', id: 'id1', policy: parseMtaStsPolicy(text), policyText: text, fetchedAt: 1000, expiresAt: 1000 + 86400_000 });
    cache.recordFetchFailure('example.org', { at: 2000, id: 'id2', tlsrptFailure: 'sts-webpki-invalid', message: 'self-signed' });
    store.close();

    store = Store.open(dir);
    cache = new SqlitePolicyCache(store);
    const e = cache.get('example.org')!;
    expect(e.policy).toMatchObject({ id: 'id1', expiresAt: 1000 + 86400_000, policy: { mode: 'enforce', mx: ['mx.example.org', '*.backup.example.org'] } });
    // A failed refetch keeps the cached policy (RFC 8461 §5.1) and remembers the failure.
    expect(e.lastFailure).toEqual({ at: 2000, id: 'id2', tlsrptFailure: 'sts-webpki-invalid', message: 'self-signed' });
    expect(cache.get('other.example')).toEqual({ policy: null, lastFailure: { at: 5, id: 'x1', tlsrptFailure: 'sts-policy-fetch-error', message: 'timeout' } });
    // A successful fetch clears the failure.
    cache.put('example.org', { ...e.policy!, id: 'id3', fetchedAt: 3000 });
    expect(cache.get('example.org')!.lastFailure).toBeNull();
    store.close();
  } finally {
    cleanup();
  }
});
