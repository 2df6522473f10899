/**
 * The export's time column: a stored start time (ms since the epoch) as ISO 8601 UTC text
 * (RFC 3339 §5.6 profile), exactly the text of `new Date(ms).toISOString()`, or null when the
 * stored value is not a time ECMAScript can represent (any type but a number, NaN, ±Infinity,
 * beyond ±8.64e15 ms).
 *
 * Why not just toISOString(): a million rows meant a million Date objects and calendar
 * computations, and rows arrive in time order. The calendar part ("2024-05-01T10:00:") is
 * computed once per minute by Date itself and cached; seconds and milliseconds are two table
 * lookups. Only years 0000–9999 (the four-digit form) take this path; anything else — negative
 * times, the six-digit ±YYYYYY years — is left to Date.
 */

// ECMAScript's Date range (±8.64e15 ms, ECMA-262 §21.4.1.1); outside it toISOString() throws.
export const MAX_TIME = 8.64e15;
// 10000-01-01T00:00:00.000Z: from here on toISOString() writes a six-digit "+YYYYYY" year.
const FOUR_DIGIT_YEARS_END = 253_402_300_800_000;
const MINUTE = 60_000;

const PAD2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

let cachedMinute = Number.NaN;
let cachedPrefix = '';

/** new Date(ms).toISOString() for a valid time, else null. */
export function isoTime(ms: unknown): string | null {
  if (typeof ms !== 'number' || !(Math.abs(ms) <= MAX_TIME)) return null;
  if (!(ms >= 0 && ms < FOUR_DIGIT_YEARS_END)) return new Date(ms).toISOString();
  // Date's TimeClip truncates a fractional time toward zero; for ms >= 0 that is floor.
  const t = Math.floor(ms);
  const minute = Math.floor(t / MINUTE);
  if (minute !== cachedMinute) {
    cachedMinute = minute;
    cachedPrefix = new Date(minute * MINUTE).toISOString().slice(0, 17); // "YYYY-MM-DDTHH:MM:"
  }
  const inMinute = t - minute * MINUTE;
  const s = Math.floor(inMinute / 1000);
  return `${cachedPrefix}${PAD2[s]!}.${PAD3[inMinute - s * 1000]!}Z`;
}
