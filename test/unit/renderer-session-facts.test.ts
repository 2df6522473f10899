/** How each attempt's session was made, in words (src-renderer/lib/session-facts.ts). */
import { expect, test } from 'vitest';
import { sessionFacts } from '../../src-renderer/lib/session-facts';

const texts = (a: Parameters<typeof sessionFacts>[0]) => sessionFacts(a).map((f) => f.text);

test('a new connection with a full handshake says nothing extra', () => {
  expect(sessionFacts({ reusedSession: false, tlsResumed: false, verification: 'pkix' })).toEqual([]);
});

test('a record made before reuse and resumption existed (no flags) says neither', () => {
  expect(sessionFacts({ verification: 'dane-ee' })).toEqual([]);
  expect(sessionFacts({ reusedSession: undefined, tlsResumed: undefined, verification: null })).toEqual([]);
});

test('a reused connection says it was opened for an earlier message, with the why', () => {
  const [f, ...rest] = sessionFacts({ reusedSession: true, tlsResumed: false, verification: 'pkix' });
  expect(rest).toEqual([]);
  expect(f).toMatchObject({ kind: 'reused-session', text: 'Reused connection (opened for an earlier message)' });
  expect(f!.why).toMatch(/kept open after an earlier message/);
  expect(f!.why).toMatch(/established when it was opened/);
});

test('a resumed TLS session names where the certificate was verified, and never claims a verification that did not happen', () => {
  for (const v of ['pkix', 'dane-ee', 'dane-ta'] as const) {
    expect(texts({ tlsResumed: true, verification: v })).toEqual(['TLS session resumed — certificate verified in the full handshake that established it']);
  }
  for (const v of ['none', null] as const) {
    expect(texts({ tlsResumed: true, verification: v })).toEqual(['TLS session resumed — the full handshake that established it did not verify the certificate']);
  }
  expect(sessionFacts({ tlsResumed: true, verification: 'pkix' })[0]!.why).toMatch(/sent no certificate this time/);
});

test('a reused connection whose TLS session had been resumed says both, connection first', () => {
  expect(sessionFacts({ reusedSession: true, tlsResumed: true, verification: 'pkix' }).map((f) => f.kind)).toEqual(['reused-session', 'tls-resumed']);
});

test('each fact has one short word for a compact place (the Log view), the sentence staying the full form', () => {
  const facts = sessionFacts({ reusedSession: true, tlsResumed: true, verification: 'pkix' });
  expect(facts.map((f) => [f.kind, f.short])).toEqual([
    ['reused-session', 'reused'],
    ['tls-resumed', 'resumed'],
  ]);
  // The short word does not change with the verification: the log shows that beside it, and
  // the sentence (accessible name, tooltip) says where the certificate was checked.
  expect(sessionFacts({ tlsResumed: true, verification: 'none' }).map((f) => f.short)).toEqual(['resumed']);
  for (const f of facts) expect(f.text.toLowerCase()).toContain(f.short);
});
