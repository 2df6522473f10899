import { expect, test } from 'vitest';
import { decideHostPolicy, type HostPolicyInput } from '../../../src-main/core/delivery/host-policy';

const base: HostPolicyInput = { tlsMode: 'default', stsMode: null, stsMatches: false, tlsa: 'none' };
const d = (over: Partial<HostPolicyInput>) => decideHostPolicy({ ...base, ...over });

test('§4 opportunistic: no policy → TLS when offered, nothing required or verified', () => {
  expect(d({})).toMatchObject({ allowed: true, tlsRequired: false, requiredVerification: 'none', requireTlsExtension: false });
});

test('§2 enforce: matching host requires STARTTLS and PKIX; non-matching host is skipped', () => {
  expect(d({ stsMode: 'enforce', stsMatches: true })).toMatchObject({ allowed: true, tlsRequired: true, requiredVerification: 'pkix', ignoreVerifyErrors: false });
  expect(d({ stsMode: 'enforce', stsMatches: false })).toMatchObject({ allowed: false, reason: 'sts-mismatch' });
});

test('§2 testing: delivers as without a policy, failures only reported', () => {
  expect(d({ stsMode: 'testing', stsMatches: false })).toMatchObject({ allowed: true, tlsRequired: false, requiredVerification: 'none', reportOnly: true });
  expect(d({ stsMode: 'none' })).toMatchObject({ allowed: true, tlsRequired: false });
});

test('§3 DANE: usable records require TLS and DANE verification, also over an enforce policy', () => {
  expect(d({ tlsa: 'usable' })).toMatchObject({ allowed: true, tlsRequired: true, requiredVerification: 'dane' });
  expect(d({ tlsa: 'usable', stsMode: 'enforce', stsMatches: true })).toMatchObject({ requiredVerification: 'dane' });
  // MTA-STS enforce still decides which hosts are allowed.
  expect(d({ tlsa: 'usable', stsMode: 'enforce', stsMatches: false })).toMatchObject({ allowed: false, reason: 'sts-mismatch' });
});

test('§3 DANE: only unusable records → STARTTLS required, certificate not verified', () => {
  expect(d({ tlsa: 'all-unusable' })).toMatchObject({ allowed: true, tlsRequired: true, requiredVerification: 'none', ignoreVerifyErrors: false });
});

test('§5 REQUIRETLS qualifies only through DANE or MTA-STS enforce', () => {
  expect(d({ tlsMode: 'requiretls' })).toMatchObject({ allowed: false, reason: 'requiretls-unqualified' });
  expect(d({ tlsMode: 'requiretls', stsMode: 'testing', stsMatches: true })).toMatchObject({ allowed: false, reason: 'requiretls-unqualified' });
  expect(d({ tlsMode: 'requiretls', tlsa: 'all-unusable' })).toMatchObject({ allowed: false, reason: 'requiretls-unqualified' });
  expect(d({ tlsMode: 'requiretls', tlsa: 'usable' })).toMatchObject({ allowed: true, tlsRequired: true, requiredVerification: 'dane', requireTlsExtension: true });
  expect(d({ tlsMode: 'requiretls', stsMode: 'enforce', stsMatches: true })).toMatchObject({ allowed: true, tlsRequired: true, requiredVerification: 'pkix', requireTlsExtension: true });
});

test('§6 TLS-Required: No: policies consulted but nothing blocks delivery', () => {
  expect(d({ tlsMode: 'tls-optional', stsMode: 'enforce', stsMatches: false })).toMatchObject({ allowed: true, tlsRequired: false, ignoreVerifyErrors: true });
  expect(d({ tlsMode: 'tls-optional', tlsa: 'usable' })).toMatchObject({ allowed: true, tlsRequired: false, requiredVerification: 'dane', ignoreVerifyErrors: true });
  expect(d({ tlsMode: 'tls-optional', tlsa: 'all-unusable' })).toMatchObject({ tlsRequired: false });
});
