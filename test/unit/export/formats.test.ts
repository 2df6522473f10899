import { describe, expect, it } from 'vitest';
import { csvField, csvRecord, encoderFor } from '../../../src-main/core/export/formats';
import { DeliveryError } from '../../../src-main/core/errors';
import { parseCsvStrict } from './rfc4180';

describe('csvField', () => {
  it('neutralises every formula starter with a leading quote (OWASP CSV injection)', () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('-2')).toBe("'-2");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('\tx')).toBe("'\tx");
    expect(csvField('\rx')).toBe(`"'\rx"`);
    expect(csvField('\nx')).toBe(`"'\nx"`);
    expect(csvField(-5)).toBe("'-5");
  });

  it('leaves ordinary text alone and quotes per RFC 4180 §2.6–2.7', () => {
    expect(csvField('a=b')).toBe('a=b');
    expect(csvField("'already")).toBe("'already");
    expect(csvField('Zürich 東京')).toBe('Zürich 東京');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('l1\r\nl2')).toBe('"l1\r\nl2"');
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(false)).toBe('false');
    expect(csvField(250)).toBe('250');
  });

  it('round-trips through a strict RFC 4180 reader', () => {
    const cells = ['plain', 'a,b', '"q"', 'l1\r\nl2\rl3\nl4', '', ' space ', 'ü'];
    const text = csvRecord(cells) + csvRecord(cells);
    expect(parseCsvStrict(text)).toEqual([cells, cells]);
  });
});

describe('the strict reader used by these tests', () => {
  it('rejects what RFC 4180 does not allow, so the round trips can fail', () => {
    expect(() => parseCsvStrict('a,b\nc,d\r\n')).toThrow(); // bare LF
    expect(() => parseCsvStrict('a,b\rc\r\n')).toThrow(); // bare CR
    expect(() => parseCsvStrict('a"b,c\r\n')).toThrow(); // quote in unquoted field
    expect(() => parseCsvStrict('"a"b,c\r\n')).toThrow(); // text after closing quote
    expect(() => parseCsvStrict('"a,c\r\n')).toThrow(); // unterminated
    expect(() => parseCsvStrict('a,b\r\nc\r\n')).toThrow(); // ragged
    expect(parseCsvStrict('"a""b",c\r\n')).toEqual([['a"b', 'c']]);
  });
});

describe('encoderFor', () => {
  it('writes an empty JSON array when there are no rows', () => {
    const e = encoderFor('json');
    expect(JSON.parse(e.begin() + e.end(0))).toEqual([]);
  });

  it('rejects an unknown format with a DeliveryError', () => {
    expect(() => encoderFor('xml' as never)).toThrow(DeliveryError);
  });
});
