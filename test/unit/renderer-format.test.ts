/** The Log view's compact forms (src-renderer/lib/format.ts): an id's telling part, names in breakable pieces, date and time apart. */
import { expect, test } from 'vitest';
import { newMessageId } from '../../src-main/core/submit';
import { formatDateSec, formatDateSecParts, nameBreaks, shortMessageId } from '../../src-renderer/lib/format';

test('a message id shows its random part, not its time part (alike for messages sent close together)', () => {
  // Two messages a second apart (within one 36² ms step of the base-36 time): the first seven of
  // the eight characters the view showed before are the same.
  const now = Math.floor(Date.UTC(2026, 11, 2, 14, 0, 0) / 1296) * 1296;
  const a = newMessageId(now);
  const b = newMessageId(now + 1000);
  expect(a.slice(0, 7)).toBe(b.slice(0, 7));
  expect(shortMessageId(a)).toBe(a.slice(-6));
  expect(shortMessageId(a)).toMatch(/^[0-9a-f]{6}$/);
  expect(shortMessageId('0mx5ogh8x-3f9c2a71be04')).toBe('71be04');
  // Ids of another shape (tests, imports): what follows the last "-", at most six characters.
  expect(shortMessageId('session-facts')).toBe('facts');
  expect(shortMessageId('abcdefghij')).toBe('efghij');
});

test('names break after each dot and colon, and put together are the name again', () => {
  expect(nameBreaks('mx.reuse.test')).toEqual(['mx.', 'reuse.', 'test']);
  expect(nameBreaks('[2001:db8::1b]')).toEqual(['[2001:', 'db8:', ':', '1b]']);
  expect(nameBreaks('[192.0.2.25]')).toEqual(['[192.', '0.', '2.', '25]']);
  for (const n of ['—', 'a.', 'example.test.', 'alt4.gmail-smtp-in.l.google.com', '::1']) expect(nameBreaks(n).join('')).toBe(n);
});

test('date and time apart say what formatDateSec says together', () => {
  const at = Date.UTC(2026, 11, 12, 23, 59, 58);
  const { date, time } = formatDateSecParts(at);
  expect(time).toMatch(/59.*58/);
  const whole = formatDateSec(at);
  expect(whole).toContain(date);
  expect(whole).toContain(time);
});
