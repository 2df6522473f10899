/**
 * isoTime is the export's cached ISO 8601 formatter; its contract is the exact text of
 * new Date(ms).toISOString() for every number Date accepts, and null for everything else.
 * Compared here on the edges (epoch, fractions, negative zero, leap days, the four-digit-year
 * boundary, Date's range ends, NaN/Infinity, other types) and on seeded random times in and out
 * of order, so the per-minute cache is exercised both ways.
 */
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../../src-main/core/export/iso-time';
import { prng } from '../../helpers/prng';

const reference = (ms: unknown): string | null =>
  typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;

const EDGES: unknown[] = [
  0, -0, 1, 0.5, 0.999, 1.5, -0.5, -1, -1.5, 59_999, 59_999.9, 60_000, 60_001, 86_399_999, 86_400_000,
  Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(2000, 1, 29, 12), Date.UTC(1900, 1, 28, 23, 59, 59, 999),
  Date.UTC(1969, 11, 31, 23, 59, 59, 999), Date.UTC(1, 0, 1), -62_167_219_200_000, -62_167_219_200_001, -62_198_755_200_000,
  253_402_300_799_999, 253_402_300_799_999.5, 253_402_300_800_000, 253_402_300_800_001, 8.64e15, 8.64e15 + 1, -8.64e15, -8.64e15 - 1,
  8.64e15 - 0.5, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, 9e300,
  Number.NaN, Infinity, -Infinity, null, undefined, '0', '2024-05-01T10:00:00.000Z', 1714557600000n, true, {}, [], Buffer.from('1'),
];

describe('isoTime', () => {
  it('is new Date(ms).toISOString() on the edges, null where Date has no time', () => {
    for (const ms of EDGES) expect(isoTime(ms), String(ms)).toBe(reference(ms));
    // Again in reverse, so each edge also meets a cache filled by a different minute.
    for (const ms of [...EDGES].reverse()) expect(isoTime(ms), String(ms)).toBe(reference(ms));
  });

  it('agrees with Date on random times, in order and out of order', () => {
    const rand = prng(0x150);
    let ms = Date.UTC(2023, 11, 31, 23, 58);
    for (let i = 0; i < 50_000; i++) {
      ms += Math.floor(rand() * 5000);
      expect(isoTime(ms)).toBe(reference(ms));
      const any = (rand() * 2 - 1) * 8.7e15 * (rand() < 0.5 ? 1 : rand());
      expect(isoTime(any), String(any)).toBe(reference(any));
      const frac = rand() * 253_402_300_800_000;
      expect(isoTime(frac), String(frac)).toBe(reference(frac));
    }
  });
});
