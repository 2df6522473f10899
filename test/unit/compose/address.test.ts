import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddressList, parseMailbox, parseNamedMailbox, validateMailbox } from '../../../src-main/core/compose/address';

describe('parseMailbox: accepted forms', () => {
  const good: Array<[string, Partial<{ name: string; local: string; domainAscii: string; domainUnicode: string; envelope: string; display: string; needsSmtpUtf8: boolean }>]> = [
    ['a@example.com', { local: 'a', domainAscii: 'example.com', envelope: 'a@example.com', needsSmtpUtf8: false }],
    ['<a@example.com>', { envelope: 'a@example.com' }],
    ['Alice <alice@example.com>', { name: 'Alice', envelope: 'alice@example.com' }],
    ['"Last, First" <lf@example.com>', { name: 'Last, First', envelope: 'lf@example.com' }],
    ['first.last+tag@sub.example.co.uk', { local: 'first.last+tag', domainAscii: 'sub.example.co.uk' }],
    ["o'brien!#$%&*/=?^_`{|}~-@example.org", { local: "o'brien!#$%&*/=?^_`{|}~-" }],
    ['"john doe"@example.com', { local: '"john doe"', envelope: '"john doe"@example.com' }],
    ['"a\\"b"@example.com', { local: '"a\\"b"' }],
    ['User@EXAMPLE.COM', { local: 'User', domainAscii: 'example.com', envelope: 'User@example.com' }],
    // RFC 6531: UTF-8 local part (needs SMTPUTF8), IDN domain (A-label in the envelope).
    ['jöhn@bücher.de', { local: 'jöhn', domainAscii: 'xn--bcher-kva.de', domainUnicode: 'bücher.de', envelope: 'jöhn@xn--bcher-kva.de', display: 'jöhn@bücher.de', needsSmtpUtf8: true }],
    ['a@xn--bcher-kva.de', { domainUnicode: 'bücher.de', display: 'a@bücher.de', needsSmtpUtf8: false }],
    ['用户@例子.广告', { domainAscii: 'xn--fsqu00a.xn--4rr70v', needsSmtpUtf8: true }],
    ['a@例え.テスト', { domainAscii: 'xn--r8jz45g.xn--zckzah', needsSmtpUtf8: false }],
    [`${'x'.repeat(64)}@example.com`, { local: 'x'.repeat(64) }],
  ];
  for (const [input, want] of good) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      const r = parseMailbox(input, { field: 'to', index: 0 });
      if (!r.ok) throw new Error(`rejected: ${r.error.message}`);
      expect(r.value).toMatchObject(want);
    });
  }
});

describe('parseMailbox: rejected forms', () => {
  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['   ', 'empty'],
    ['Just A Name', 'missing-address'],
    ['a@b.com, c@d.com', 'multiple-addresses'],
    ['a.@example.com', 'bad-local-part'],
    ['.a@example.com', 'bad-local-part'],
    ['a..b@example.com', 'bad-local-part'],
    ['a b@example.com', 'bad-local-part'],
    ['a@b@example.com', 'bad-local-part'],
    ['"unterminated@example.com', 'bad-local-part'],
    [`${'x'.repeat(65)}@example.com`, 'local-part-too-long'],
    [`${'ü'.repeat(33)}@example.com`, 'local-part-too-long'], // 66 octets in UTF-8
    ['a@', 'bad-syntax'],
    ['@example.com', 'bad-syntax'],
    ['a@localhost', 'domain-not-fqdn'],
    ['a@[192.0.2.1]', 'address-literal'],
    ['a@192.0.2.1', 'bad-domain'],
    ['a@0x7f.1', 'bad-domain'],
    ['a@ex%61mple.com', 'bad-domain'],
    ['a@exa_mple.com', 'bad-domain'],
    ['a@example.com.', 'bad-domain'],
    ['a@example..com', 'bad-domain'],
    ['a@-example.com', 'bad-domain'],
    ['a@example-.com', 'bad-domain'],
    ['a@xn--zz.de', 'bad-domain'],
    [`a@${'l'.repeat(64)}.com`, 'bad-domain'],
    [`a@${Array.from({ length: 60 }, () => 'abcd').join('.')}.com`, 'domain-too-long'],
    ['x@exa\u202emple.com', 'control-char'],
    // Injection: any line break or NUL is rejected before parsing, wherever it is.
    ['a@example.com\r\nBcc: evil@example.net', 'control-char'],
    ['<a@example.com\r\nBcc: x@y.z>', 'control-char'],
    ['Name\n <a@example.com>', 'control-char'],
    ['a@exam\u0000ple.com', 'control-char'],
    ['a\u2028@example.com', 'control-char'],
    ['Evil\u0085 <a@example.com>', 'control-char'],
    ['a@example.com\ud800', 'control-char'],
  ];
  for (const [input, code] of bad) {
    it(`rejects ${JSON.stringify(input).slice(0, 80)} with ${code}`, () => {
      const r = parseMailbox(input, { field: 'cc', index: 3 });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toMatchObject({ field: 'cc', index: 3, code });
        expect(r.error.message.length).toBeGreaterThan(0);
      }
    });
  }

  it('rejects a path over 256 octets even when each part is within its limit', () => {
    const domain = `${Array.from({ length: 3 }, () => 'd'.repeat(63)).join('.')}.com`; // 195 chars
    expect(validateMailbox(`${'x'.repeat(64)}@${domain}`)).toMatchObject({ ok: false, error: { code: 'path-too-long' } });
  });
});

describe('parseNamedMailbox (identity)', () => {
  it('takes name and bare address separately', () => {
    const r = parseNamedMailbox({ name: ' Mé ', address: 'me@exämple.org' });
    expect(r).toMatchObject({ ok: true, value: { name: 'Mé', envelope: 'me@xn--exmple-cua.org', display: 'me@exämple.org' } });
  });
  it('rejects a display name with a line break', () => {
    expect(parseNamedMailbox({ name: 'Me\r\nBcc: x@y.example', address: 'me@example.org' })).toMatchObject({ ok: false, error: { field: 'from', code: 'control-char' } });
  });
});

describe('parseAddressList (pasted by a user)', () => {
  it('splits on commas, semicolons and line breaks, keeping quoted commas', () => {
    const r = parseAddressList('Name <a@b.example>, c@d.example; "x, y" <e@f.example>\nfoo@bar.example\r\n\r\n  \nbaz@qux.example', { field: 'to' });
    expect(r.errors).toEqual([]);
    expect(r.addresses.map(formatAddress)).toEqual(['Name <a@b.example>', 'c@d.example', 'x, y <e@f.example>', 'foo@bar.example', 'baz@qux.example']);
  });
  it('reports bad entries with their position and keeps the good ones', () => {
    const r = parseAddressList('good@example.com, bad@, "Only Name"\nother@example.org', { field: 'bcc' });
    expect(r.addresses.map((a) => a.envelope)).toEqual(['good@example.com', 'other@example.org']);
    expect(r.errors.map((e) => [e.field, e.index, e.code])).toEqual([
      ['bcc', 1, 'bad-syntax'],
      ['bcc', 2, 'missing-address'],
    ]);
  });
  it('a line break cannot smuggle a header: the pieces become separate, visible entries or errors', () => {
    const r = parseAddressList('<a@example.com\r\nBcc: evil@example.net>');
    for (const a of r.addresses) expect(JSON.stringify(a)).not.toMatch(/\\r|\\n/);
    expect(r.addresses.map((a) => a.envelope)).not.toContain('a@example.com\r\nBcc: evil@example.net');
  });
  it('flattens groups', () => {
    expect(parseAddressList('Team: a@x.example, b@y.example;').addresses.map((a) => a.envelope)).toEqual(['a@x.example', 'b@y.example']);
  });
});
