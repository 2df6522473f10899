import { describe, expect, it } from 'vitest';
import { noCapabilities, parseCapabilities } from '../../../src-main/core/smtp/capabilities';

describe('parseCapabilities', () => {
  it('parses a typical Postfix EHLO reply', () => {
    const caps = parseCapabilities([
      'mx.example.test',
      'PIPELINING',
      'SIZE 10240000',
      'VRFY',
      'ETRN',
      'STARTTLS',
      'ENHANCEDSTATUSCODES',
      '8BITMIME',
      'DSN',
      'SMTPUTF8',
      'CHUNKING',
    ]);
    expect(caps).toMatchObject({
      domain: 'mx.example.test',
      pipelining: true,
      size: 10240000,
      eightBitMime: true,
      smtpUtf8: true,
      enhancedStatusCodes: true,
      starttls: true,
      requireTls: false,
      rcptMax: undefined,
      chunking: true,
      dsn: true,
    });
    expect(caps.raw).toHaveLength(10);
  });

  it.each([
    // [line, expected partial capabilities]
    ['pipelining', { pipelining: true }],
    ['REQUIRETLS', { requireTls: true }],
    ['SIZE', { size: 0 }],
    ['SIZE 0', { size: 0 }],
    ['SIZE abc', { size: 0 }],
    ['SIZE -5', { size: 0 }],
    ['SIZE 1e9', { size: 0 }],
    ['SIZE 99999999999999999999', { size: 0 }],
    ['SIZE   2048', { size: 2048 }],
    ['SIZE\t4096', { size: 4096 }],
    ['LIMITS RCPTMAX=20 MAILMAX=5', { rcptMax: 20 }],
    ['LIMITS MAILMAX=5 rcptmax=3', { rcptMax: 3 }],
    ['LIMITS RCPTMAX=0', { rcptMax: undefined }],
    ['LIMITS RCPTMAX=-1', { rcptMax: undefined }],
    ['LIMITS RCPTMAX=', { rcptMax: undefined }],
    ['LIMITS RCPTMAX=ten', { rcptMax: undefined }],
    ['LIMITS =5', { rcptMax: undefined }],
    ['LIMITS', { rcptMax: undefined }],
    ['STARTTLSX', { starttls: false }],
    ['-STARTTLS', { starttls: false }],
    ['START TLS', { starttls: false }],
    ['', { starttls: false }],
    ['\u0000STARTTLS', { starttls: false }],
  ] as const)('%j', (line, expected) => {
    const caps = parseCapabilities(['mx.example.test', line]);
    expect(caps).toMatchObject(expected);
  });

  it('does not treat the first line (the server name) as a keyword', () => {
    expect(parseCapabilities(['STARTTLS']).starttls).toBe(false);
    expect(parseCapabilities([]).domain).toBe('');
  });

  it('noCapabilities offers nothing', () => {
    const c = noCapabilities('x');
    expect(c.starttls || c.pipelining || c.eightBitMime || c.smtpUtf8 || c.requireTls).toBe(false);
    expect(c.size).toBeUndefined();
  });
});
