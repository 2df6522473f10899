/**
 * Issue 14 item 3: one TLS secure context per distinct CA configuration, built once. Building a
 * context with an extra trusted CA parses the whole root bundle (~20 ms of CPU); before, every
 * STARTTLS connection did it again. The count of contexts built with the test CA in their
 * store is what shows it (tls.createSecureContext is the one place contexts come from: Node's
 * tls.connect calls it through the module too when no secureContext is given).
 */
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, beforeEach, expect, test, vi } from 'vitest';
import { secureContextFor } from '../../../src-main/core/tls-policy/pkix';
import { createTestCa, type TestCa } from '../../helpers/certs';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { startHarness, type Harness } from './harness';

let ca: TestCa;
let h: Harness;
let peer: SmtpPeer;

beforeAll(() => {
  ca = createTestCa();
});
afterAll(() => ca.cleanup());
beforeEach(async () => {
  h = await startHarness({ extraCa: [ca.certPem] });
  const leaf = ca.issue({ names: ['mx.ctx.test'] });
  peer = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem } });
  h.dns.add('ctx.test', 'MX', [{ preference: 10, exchange: 'mx.ctx.test' }]);
  h.dns.add('mx.ctx.test', 'A', ['127.0.1.1']);
  h.routes.set('127.0.1.1', peer.port);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
  await peer.close();
});

/** How many of these createSecureContext calls put the test CA into the context's store. */
function withTestCa(calls: unknown[][]): number {
  return calls.filter(([o]) => {
    const store = (o as tls.SecureContextOptions | undefined)?.ca;
    return Array.isArray(store) && store.some((c) => String(c) === ca.certPem);
  }).length;
}

test('item 3: STARTTLS deliveries with an extra CA build its secure context once, not per connection', async () => {
  const spy = vi.spyOn(tls, 'createSecureContext');
  for (let i = 0; i < 3; i++) {
    const id = await h.send({ to: [`r${i}@ctx.test`] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]!.state).toBe('delivered');
    // The shared context still carries the extra CA: the peer's certificate verifies by PKIX.
    expect(m.attempts.at(-1)).toMatchObject({ starttls: true, verification: 'pkix' });
  }
  expect(peer.messages).toHaveLength(3);
  expect(withTestCa(spy.mock.calls)).toBeLessThanOrEqual(1);
});

test('item 3: one context per distinct CA configuration', () => {
  const other = createTestCa();
  try {
    const a = secureContextFor([ca.certPem]);
    expect(secureContextFor([ca.certPem])).toBe(a);
    expect(secureContextFor([other.certPem])).not.toBe(a);
    expect(secureContextFor(undefined)).toBe(secureContextFor([]));
    expect(secureContextFor(undefined)).not.toBe(a);
  } finally {
    other.cleanup();
  }
});
