import { describe, expect, it } from 'vitest';
import { isStsRecord, parseMtaStsRecord, selectMtaStsRecord } from '../../../src-main/core/tls-policy/mta-sts-record';
import { TlsPolicyError } from '../../../src-main/core/tls-policy/policy-error';
import { DeliveryError } from '../../../src-main/core/errors';

describe('parseMtaStsRecord (RFC 8461 §3.1)', () => {
  const valid: [string, string][] = [
    ['v=STSv1; id=20160831085700Z;', '20160831085700Z'],
    ['v=STSv1;id=abc', 'abc'],
    ['v=STSv1 ; id=abc ;', 'abc'],
    ['v=STSv1;\tid=A1\t', 'A1'],
    ['v=STSv1; id=' + 'a'.repeat(32), 'a'.repeat(32)],
    ['v=STSv1; ext=val; id=1', '1'],
    ['v=STSv1; id=1; x.y_z-1=!"#$%&\'()*+,-./:<>?@[]^`{|}~', '1'],
    ['v=STSv1; ID=zzz; id=1', '1'], // keys are case-sensitive: "ID" is an extension
  ];
  it.each(valid)('accepts %j', (txt, id) => {
    expect(parseMtaStsRecord(txt).id).toBe(id);
  });

  it('keeps extensions', () => {
    expect(parseMtaStsRecord('v=STSv1; id=1; foo=bar').extensions).toEqual([{ key: 'foo', value: 'bar' }]);
  });

  const invalid: [string, RegExp][] = [
    ['v=STSv1', /expected ";"/],
    ['v=STSv1;', /malformed field|missing id/],
    ['v=STSv1; ', /malformed field|missing id/],
    ['v=STSv1 id=1', /expected ";"/],
    ['v=STSv1; id=', /id must be/],
    ['v=STSv1; id=' + 'a'.repeat(33), /id must be/],
    ['v=STSv1; id=abc-def', /id must be/],
    ['v=STSv1; id=ab c', /id must be/],
    ['v=STSv1; id=1; id=2', /more than one id/],
    ['v=STSv1;; id=1', /malformed field/],
    ['v=STSv1; id=1;;', /malformed field/],
    ['v=STSv1; =x; id=1', /malformed field/],
    ['v=STSv1; id=1; novalue', /malformed field/],
    ['v=STSv1; id=1; ext=', /malformed extension/],
    ['v=STSv1; id=1; ext=a=b', /malformed extension/],
    ['v=STSv1; id=1; _ext=a', /malformed extension/],
    ['v=STSv1; id=1; ' + 'e'.repeat(33) + '=a', /malformed extension/],
    ['v=STSv1; id=1; ext=caf\u00e9', /malformed extension/],
    ['v=STSv1; id=1; ext=a\u0000b', /malformed extension/],
    ['v=STSv1; id=1; ' + 'x=y; '.repeat(1000), /longer than/],
    ['v=stsv1; id=1', /does not start/],
  ];
  const labelled = invalid.map(([t, r]) => [t.length > 80 ? `${t.slice(0, 60)}… (${t.length} chars)` : t, t, r] as const);
  it.each(labelled)('rejects %j', (_label, txt, reason) => {
    let err: unknown;
    try {
      parseMtaStsRecord(txt);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TlsPolicyError);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as TlsPolicyError).message).toMatch(reason);
    expect((err as TlsPolicyError).tlsrptFailure).toBe('sts-policy-invalid');
    expect((err as TlsPolicyError).stage).toBe('policy');
    expect((err as TlsPolicyError).permanent).toBe(false);
  });
});

describe('selectMtaStsRecord', () => {
  it('returns null when there is no STSv1 record', () => {
    expect(selectMtaStsRecord([])).toBeNull();
    expect(selectMtaStsRecord(['v=spf1 -all', 'v=STSv10; id=1', 'hello'])).toBeNull();
  });
  it('ignores other records', () => {
    expect(selectMtaStsRecord(['v=spf1 -all', 'v=STSv1; id=abc', 'google-site-verification=x'])?.id).toBe('abc');
  });
  it('rejects more than one STSv1 record, even identical ones', () => {
    expect(() => selectMtaStsRecord(['v=STSv1; id=1', 'v=STSv1; id=2'])).toThrow(/2 MTA-STS TXT records/);
    expect(() => selectMtaStsRecord(['v=STSv1; id=1', 'v=STSv1; id=1'])).toThrow(TlsPolicyError);
  });
  it('reports an invalid single STSv1 record', () => {
    expect(() => selectMtaStsRecord(['v=STSv1; id=!'])).toThrow(/id must be/);
  });
  it('isStsRecord needs a delimiter after the version', () => {
    expect(isStsRecord('v=STSv1;id=1')).toBe(true);
    expect(isStsRecord('v=STSv1 ;id=1')).toBe(true);
    expect(isStsRecord('v=STSv1')).toBe(true);
    expect(isStsRecord('v=STSv12;id=1')).toBe(false);
    expect(isStsRecord(' v=STSv1;id=1')).toBe(false);
  });
});
