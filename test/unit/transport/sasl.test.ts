import { describe, expect, it } from 'vitest';
import { cramMd5Client } from '../../../src-main/core/smtp/sasl/cram-md5';
import { pickMechanism, saslClient } from '../../../src-main/core/smtp/sasl';
import { loginClient } from '../../../src-main/core/smtp/sasl/login';
import { plainClient } from '../../../src-main/core/smtp/sasl/plain';
import { scramClient } from '../../../src-main/core/smtp/sasl/scram';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('SCRAM (RFC 5802, RFC 7677 test vectors)', () => {
  it('SCRAM-SHA-1: RFC 5802 §5 exchange', () => {
    const c = scramClient({ username: 'user', password: 'pencil' }, 'sha1', 'fyko+d2lbbFgONRv9qkxdawL');
    expect(c.initialResponse()!.toString()).toBe('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
    const final = c.respond(b('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096'));
    expect(final.toString()).toBe('c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=');
    expect(c.respond(b('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')).length).toBe(0);
    expect(c.verifySuccess(null)).toBeNull();
  });

  it('SCRAM-SHA-256: RFC 7677 §3 exchange', () => {
    const c = scramClient({ username: 'user', password: 'pencil' }, 'sha256', 'rOprNGfwEbeRWgbNEkqO');
    expect(c.initialResponse()!.toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = c.respond(b('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
    expect(final.toString()).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    // Server-final on the 235 reply instead of a 334 challenge.
    expect(c.verifySuccess(b('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))).toBeNull();
  });

  it('refuses a server that cannot prove the ServerSignature', () => {
    const c = scramClient({ username: 'user', password: 'pencil' }, 'sha256', 'rOprNGfwEbeRWgbNEkqO');
    c.initialResponse();
    c.respond(b('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
    expect(() => c.respond(b('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='))).toThrow(/signature does not match/);
    // Success without any server-final: refused too.
    expect(c.verifySuccess(null)).toMatch(/did not prove/);
  });

  it('refuses a nonce that does not extend ours, absurd iteration counts and extensions', () => {
    const mk = () => scramClient({ username: 'u', password: 'p' }, 'sha1', 'abc');
    expect(() => mk().respond(b('r=xyz123,s=QSXCR+Q6sek8bf92,i=4096'))).toThrow(/nonce/);
    expect(() => mk().respond(b('r=abc,s=QSXCR+Q6sek8bf92,i=4096'))).toThrow(/nonce/);
    expect(() => mk().respond(b('r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999'))).toThrow(/iteration/);
    expect(() => mk().respond(b('m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096'))).toThrow(/extension/);
    expect(() => mk().respond(b('garbage'))).toThrow(/malformed/);
  });

  it('prepares user name and password with SASLprep (RFC 5802 §2.2, RFC 4013 §3 examples)', () => {
    const first = (username: string) => scramClient({ username, password: 'p' }, 'sha1', 'n0nce').initialResponse()!.toString();
    // RFC 4013 §3: soft hyphen mapped to nothing; U+00AA and U+2168 by NFKC; case kept.
    expect(first('I\u00ADX')).toBe('n,,n=IX,r=n0nce');
    expect(first('USER')).toBe('n,,n=USER,r=n0nce');
    expect(first('\u00AA')).toBe('n,,n=a,r=n0nce');
    expect(first('\u2168')).toBe('n,,n=IX,r=n0nce');
    // A non-ASCII space is mapped to SPACE (RFC 4013 §2.1), so it proves the same password.
    const final = (password: string) => {
      const c = scramClient({ username: 'user', password }, 'sha1', 'fyko+d2lbbFgONRv9qkxdawL');
      c.initialResponse();
      return c.respond(b('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096')).toString();
    };
    expect(final('pen\u00ADcil')).toBe(final('pencil'));
    expect(final('a\u00A0b')).toBe(final('a b'));
    // Prohibited output (RFC 4013 §2.3) and the bidi rule (§2.4, RFC 3454 §6) are refused.
    expect(() => first('\u0007')).toThrow(/SCRAM-SHA-1: .*SASLprep/);
    expect(() => first('\uE000')).toThrow(/SASLprep/);
    expect(() => first('\u0627\u0031')).toThrow(/SASLprep/);
    expect(() => scramClient({ username: 'u', password: 'x\u200Fy' }, 'sha256')).toThrow(/SASLprep/);
  });

  it('escapes = and , in the user name (RFC 5802 §5.1)', () => {
    const c = scramClient({ username: 'a=b,c', password: 'p' }, 'sha1', 'n0nce');
    expect(c.initialResponse()!.toString()).toBe('n,,n=a=3Db=2Cc,r=n0nce');
  });
});

describe('CRAM-MD5 (RFC 2195 §2 example)', () => {
  it('answers the RFC challenge with the RFC digest', () => {
    const c = cramMd5Client({ username: 'tim', password: 'tanstaaftanstaaf' });
    expect(c.initialResponse()).toBeNull();
    expect(c.respond(b('<1896.697170952@postoffice.reston.mci.net>')).toString()).toBe('tim b913a602c7eda7a495b4e6e7334d3890');
    expect(c.verifySuccess(null)).toBeNull();
  });
});

describe('PLAIN (RFC 4616) and LOGIN', () => {
  it('PLAIN: NUL authcid NUL passwd as the initial response', () => {
    expect(plainClient({ username: 'tim', password: 'tanstaaftanstaaf' }).initialResponse()!.toString()).toBe('\0tim\0tanstaaftanstaaf');
    expect(() => plainClient({ username: 'a\0b', password: 'x' })).toThrow(/NUL/);
  });
  it('LOGIN: user name, then password, then nothing more', () => {
    const c = loginClient({ username: 'tim', password: 'secret' });
    expect(c.initialResponse()).toBeNull();
    expect(c.respond(b('Username:')).toString()).toBe('tim');
    expect(c.respond(b('Password:')).toString()).toBe('secret');
    expect(() => c.respond(b('More?'))).toThrow();
    expect(c.verifySuccess(null)).toBeNull();
  });
});

describe('picking a mechanism', () => {
  it('takes the strongest offered', () => {
    expect(pickMechanism(['PLAIN', 'LOGIN', 'CRAM-MD5'], null)).toEqual({ ok: true, name: 'CRAM-MD5' });
    expect(pickMechanism(['login', 'scram-sha-1', 'SCRAM-SHA-256'], null)).toEqual({ ok: true, name: 'SCRAM-SHA-256' });
  });
  it('takes the configured one only when offered', () => {
    expect(pickMechanism(['PLAIN', 'SCRAM-SHA-256'], 'PLAIN')).toEqual({ ok: true, name: 'PLAIN' });
    expect(pickMechanism(['PLAIN'], 'CRAM-MD5')).toMatchObject({ ok: false, reason: expect.stringMatching(/does not offer CRAM-MD5/) });
    expect(pickMechanism(['GSSAPI', 'XOAUTH2'], null)).toMatchObject({ ok: false });
  });
  it('builds each mechanism by name', () => {
    for (const n of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'CRAM-MD5', 'PLAIN', 'LOGIN'] as const) expect(saslClient(n, { username: 'u', password: 'p' }).name).toBe(n);
  });
});
