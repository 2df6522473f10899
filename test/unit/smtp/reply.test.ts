import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../src-main/core/errors';
import { MAX_REPLY_LINES, parseEnhancedCode, parseReply, ReplyParser } from '../../../src-main/core/smtp/reply';

const ctx = { stage: 'mail' as const, command: 'MAIL FROM:<a@b.test>', host: 'mx.b.test', ip: '127.0.0.1' };

describe('parseReply: good replies', () => {
  it.each([
    [['250 ok'], 250, ['ok'], undefined],
    [['250'], 250, [''], undefined],
    [['220 mx.example.test ESMTP'], 220, ['mx.example.test ESMTP'], undefined],
    [['250-mx.example.test', '250-PIPELINING', '250 SIZE 1000'], 250, ['mx.example.test', 'PIPELINING', 'SIZE 1000'], undefined],
    [['550 5.1.1 no such user'], 550, ['5.1.1 no such user'], '5.1.1'],
    [['550-5.7.1 policy', '550 5.7.1 more'], 550, ['5.7.1 policy', '5.7.1 more'], '5.7.1'],
    [['452 4.5.3 too many recipients'], 452, ['4.5.3 too many recipients'], '4.5.3'],
    [['250 2.0.0'], 250, ['2.0.0'], '2.0.0'],
    // Enhanced code whose class disagrees with the reply: ignored, not an error.
    [['550 2.0.0 odd'], 550, ['2.0.0 odd'], undefined],
    // Not an enhanced code (four parts / letters).
    [['550 5.1.1.1 x'], 550, ['5.1.1.1 x'], undefined],
    [['554 5.x.1 x'], 554, ['5.x.1 x'], undefined],
    [['250 ok\ttab'], 250, ['ok\ttab'], undefined],
    [['250 héllo wörld'], 250, ['héllo wörld'], undefined],
  ] as const)('%j', (lines, code, text, enhanced) => {
    const r = parseReply([...lines], ctx);
    expect(r.code).toBe(code);
    expect(r.lines).toEqual(text);
    expect(r.enhancedCode).toBe(enhanced);
    expect(r.raw).toEqual(lines);
  });

  it('normalises leading zeros in enhanced codes', () => {
    expect(parseEnhancedCode(550, '5.01.001 x')).toBe('5.1.1');
  });
});

describe('parseReply: hostile replies are SMTP_PROTOCOL errors', () => {
  it.each([
    ['empty line', ['']],
    ['two digits', ['25 ok']],
    ['four digits', ['2500 ok']],
    ['letters', ['2x0 ok']],
    ['first digit 1', ['150 ok']],
    ['first digit 6', ['650 ok']],
    ['second digit 6', ['260 ok']],
    ['bad separator', ['250_ok']],
    ['leading space', [' 250 ok']],
    ['inconsistent codes', ['250-first', '550 second']],
    ['inconsistent codes, last line', ['250-a', '250-b', '251 c']],
    ['html', ['<html>']],
    ['NUL in text', ['250 o\u0000k']],
    ['ESC in text', ['250 \u001b[31mred']],
    ['overlong line', ['250 ' + 'x'.repeat(2000)]],
    ['data after the last line', ['250 ok', '250 again']],
    ['incomplete', ['250-more coming']],
  ])('%s', (_name, lines) => {
    let err: unknown;
    try {
      parseReply(lines, ctx);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeliveryError);
    const d = err as DeliveryError;
    expect(d.code).toBe('SMTP_PROTOCOL');
    expect(d.stage).toBe('mail');
    expect(d.host).toBe('mx.b.test');
    expect(d.ip).toBe('127.0.0.1');
    expect(d.command).toBe('MAIL FROM:<a@b.test>');
    expect(d.permanent).toBe(false);
  });

  it('accepts a line of exactly 2000 bytes', () => {
    expect(parseReply(['250 ' + 'x'.repeat(1996)], ctx).code).toBe(250);
  });

  it(`rejects a reply of more than ${MAX_REPLY_LINES} lines`, () => {
    const p = new ReplyParser();
    for (let i = 0; i < MAX_REPLY_LINES - 1; i++) expect(p.feed('250-x', ctx)).toBeUndefined();
    expect(() => p.feed('250-x', ctx)).toThrow(/more than 100 lines/);
  });

  it('allows exactly 100 lines', () => {
    const lines = [...Array.from({ length: 99 }, () => '250-x'), '250 end'];
    expect(parseReply(lines, ctx).lines).toHaveLength(100);
  });
});

describe('ReplyParser', () => {
  it('yields replies one after another (pipelined replies)', () => {
    const p = new ReplyParser();
    expect(p.feed('250-a', ctx)).toBeUndefined();
    expect(p.pending).toBe(true);
    expect(p.feed('250 b', ctx)?.lines).toEqual(['a', 'b']);
    expect(p.pending).toBe(false);
    expect(p.feed('550 5.1.1 no', ctx)?.enhancedCode).toBe('5.1.1');
  });
});
