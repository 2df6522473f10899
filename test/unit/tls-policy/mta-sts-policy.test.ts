import { describe, expect, it } from 'vitest';
import {
  mxPatternMatches,
  normalizeHostName,
  parseMtaStsPolicy,
  policyAllowsMx,
} from '../../../src-main/core/tls-policy/mta-sts-policy';
import { TlsPolicyError } from '../../../src-main/core/tls-policy/policy-error';

const ok = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 86400\n';

function rejects(text: string): TlsPolicyError {
  try {
    parseMtaStsPolicy(text);
  } catch (e) {
    expect(e).toBeInstanceOf(TlsPolicyError);
    expect((e as TlsPolicyError).tlsrptFailure).toBe('sts-policy-invalid');
    return e as TlsPolicyError;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

describe('parseMtaStsPolicy (RFC 8461 §3.2)', () => {
  it('parses the RFC example', () => {
    expect(parseMtaStsPolicy(ok)).toEqual({
      version: 'STSv1',
      mode: 'enforce',
      mx: ['mail.example.com', '*.example.net'],
      maxAge: 86400,
      extensions: [],
    });
  });

  it.each([
    ['CRLF lines', ok.replace(/\n/g, '\r\n')],
    ['no final newline', ok.trimEnd()],
    ['trailing blank lines', ok + '\n\n'],
    ['trailing whitespace', ok.replace(/\n/g, ' \t\n')],
    ['no space after colon', ok.replace(/: /g, ':')],
    ['tabs after colon', ok.replace(/: /g, ':\t ')],
  ])('accepts %s', (_name, text) => {
    const p = parseMtaStsPolicy(text);
    expect(p.mode).toBe('enforce');
    expect(p.mx).toEqual(['mail.example.com', '*.example.net']);
    expect(p.maxAge).toBe(86400);
  });

  it('ignores unknown fields but keeps them', () => {
    const p = parseMtaStsPolicy('version: STSv1\nmode: testing\nfuture_key: some value here\nmx: a.example\nmax_age: 0\n');
    expect(p.mode).toBe('testing');
    expect(p.maxAge).toBe(0);
    expect(p.extensions).toEqual([{ key: 'future_key', value: 'some value here' }]);
  });

  it('allows mode none without mx', () => {
    expect(parseMtaStsPolicy('version: STSv1\nmode: none\nmax_age: 31557600\n')).toMatchObject({ mode: 'none', mx: [], maxAge: 31557600 });
  });

  it('normalizes mx patterns: case, trailing dot, U-labels', () => {
    const p = parseMtaStsPolicy('version: STSv1\nmode: enforce\nmx: MX.Example.COM.\nmx: *.bücher.example\nmax_age: 60\n');
    expect(p.mx).toEqual(['mx.example.com', '*.xn--bcher-kva.example']);
  });

  it.each([
    ['empty', '', /empty/],
    ['only newlines', '\n\n', /empty/],
    ['version not first', 'mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1\n', /must start with/],
    ['wrong version', 'version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n', /unsupported version/],
    ['version case', 'version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n', /unsupported version/],
    ['key case', 'Version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n', /must start with/],
    ['duplicate version', 'version: STSv1\nversion: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n', /duplicate version/],
    ['duplicate mode', 'version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n', /duplicate mode/],
    ['duplicate max_age', 'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nmax_age: 2\n', /duplicate max_age/],
    ['missing mode', 'version: STSv1\nmx: a.example\nmax_age: 1\n', /missing mode/],
    ['missing max_age', 'version: STSv1\nmode: enforce\nmx: a.example\n', /missing max_age/],
    ['enforce without mx', 'version: STSv1\nmode: enforce\nmax_age: 1\n', /without any mx/],
    ['testing without mx', 'version: STSv1\nmode: testing\nmax_age: 1\n', /without any mx/],
    ['bad mode', 'version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n', /invalid mode/],
    ['max_age too big', 'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n', /above/],
    ['max_age 11 digits', 'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n', /non-negative integer/],
    ['max_age negative', 'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n', /non-negative integer/],
    ['max_age float', 'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1.5\n', /non-negative integer/],
    ['max_age hex', 'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 0x10\n', /non-negative integer/],
    ['empty value', 'version: STSv1\nmode:\nmx: a.example\nmax_age: 1\n', /empty value/],
    ['space before colon', 'version: STSv1\nmode : enforce\nmx: a.example\nmax_age: 1\n', /malformed field name/],
    ['leading whitespace', 'version: STSv1\n mode: enforce\nmx: a.example\nmax_age: 1\n', /malformed field name/],
    ['no colon', 'version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n', /expected "key: value"/],
    ['blank line inside', 'version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 1\n', /expected "key: value"/],
    ['control char', 'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nx: a\u0001b\n', /malformed or empty value/],
    ['bare CR line ending', 'version: STSv1\rmode: enforce\rmx: a.example\rmax_age: 1\r', /malformed or empty value/],
    ['BOM', '\ufeffversion: STSv1\nmode: none\nmax_age: 1\n', /malformed field name/],
    ['oversized', ok + `x: ${'a'.repeat(64 * 1024)}\n`, /larger than 64 KiB/],
    ['HTML instead of policy', '<html><body>Not found</body></html>', /expected "key: value"/],
  ])('rejects %s', (_name, text, reason) => {
    expect(rejects(text).message).toMatch(reason);
  });

  it.each([
    '*.*.example.com',
    '*example.com',
    'a.*.example.com',
    '*',
    '*.',
    '.example.com',
    'example..com',
    'ex ample.com',
    '-mx.example.com',
    'mx-.example.com',
    'mx_1.example.com',
    '*.-a.com',
    `${'a'.repeat(64)}.example.com`,
    `${'a.'.repeat(127)}com`,
    'mx.example.com:25',
    '[127.0.0.1]',
  ])('rejects the mx pattern %j', (pattern) => {
    expect(rejects(`version: STSv1\nmode: enforce\nmx: ${pattern}\nmax_age: 1\n`).message).toMatch(/invalid mx pattern/);
  });

  it('accepts *.com syntactically (Domain may be one label) but it matches one label only', () => {
    const p = parseMtaStsPolicy('version: STSv1\nmode: enforce\nmx: *.com\nmax_age: 1\n');
    expect(p.mx).toEqual(['*.com']);
    expect(policyAllowsMx(p, 'evil.com')).toBe(true);
    expect(policyAllowsMx(p, 'com')).toBe(false);
    expect(policyAllowsMx(p, 'mx.attacker.com')).toBe(false);
  });
});

describe('mxPatternMatches (RFC 8461 §4.1)', () => {
  it.each([
    ['mail.example.com', 'mail.example.com', true],
    ['mail.example.com', 'MAIL.Example.Com', true],
    ['mail.example.com', 'mail.example.com.', true],
    ['mail.example.com.', 'mail.example.com', true],
    ['mail.example.com', 'mail.example.org', false],
    ['mail.example.com', 'xmail.example.com', false],
    ['mail.example.com', 'a.mail.example.com', false],
    ['*.example.com', 'mx.example.com', true],
    ['*.example.com', 'MX.EXAMPLE.COM.', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'a.b.example.com', false],
    ['*.example.com', 'mx.example.com.evil', false],
    ['*.example.com', 'mxexample.com', false],
    ['*.example.com', '.example.com', false],
    ['*.example.com', '*.example.com', false],
    ['*.example.com', 'mx.example.co', false],
    ['*.xn--bcher-kva.example', 'mx.bücher.example', true],
    ['mail.example.com', '', false],
  ])('%s vs %s → %s', (pattern, host, want) => {
    expect(mxPatternMatches(pattern, host)).toBe(want);
  });

  it('policyAllowsMx checks every pattern', () => {
    const p = { mx: ['a.example.com', '*.example.net'] };
    expect(policyAllowsMx(p, 'a.example.com')).toBe(true);
    expect(policyAllowsMx(p, 'z.example.net')).toBe(true);
    expect(policyAllowsMx(p, 'b.example.com')).toBe(false);
    expect(policyAllowsMx({ mx: [] }, 'a.example.com')).toBe(false);
  });

  it('normalizeHostName', () => {
    expect(normalizeHostName('Mx.Example.COM.')).toBe('mx.example.com');
    expect(normalizeHostName('ü.example')).toBe('xn--tda.example');
    expect(normalizeHostName('a..b')).toBeNull();
    expect(normalizeHostName('.')).toBeNull();
  });
});
