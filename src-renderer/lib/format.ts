/** Small pure formatting helpers shared by the views (sizes, times, countdowns, short ids, breakable names). */

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateTimeSec = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const timeSec = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function formatDate(at: number): string {
  return dateTime.format(at);
}
export function formatDateSec(at: number): string {
  return dateTimeSec.format(at);
}
/** formatDateSec's date and time apart ("Dec 2, 2026", "2:14:31 PM"), for a narrow column: one above the other. */
export function formatDateSecParts(at: number): { date: string; time: string } {
  return { date: dateOnly.format(at), time: timeSec.format(at) };
}
/**
 * The part of a message id that tells messages apart: core/submit.ts's ids are the time in base
 * 36 (alike for messages sent close together, and shown beside them anyway), then random hex.
 * Its last six characters; of an id without that shape, those after its last "-".
 */
export function shortMessageId(id: string): string {
  const tail = id.slice(id.lastIndexOf('-') + 1) || id;
  return tail.slice(-6);
}

/** A domain, host or address in pieces ending after each "." and ":", where a narrow cell may break it. */
export function nameBreaks(name: string): string[] {
  return name.match(/[^.:]*[.:]|[^.:]+$/g) ?? [name];
}

export function formatTime(at: number): string {
  return timeOnly.format(at);
}

/** "in 3 min 20 s", "now" — a countdown to `at` seen from `now`. */
export function countdown(at: number, now: number): string {
  const s = Math.round((at - now) / 1000);
  if (s <= 0) return 'now';
  return `in ${duration(s)}`;
}

/** "5 min ago", "just now". */
export function ago(at: number, now: number): string {
  const s = Math.round((now - at) / 1000);
  if (s < 5) return 'just now';
  return `${duration(s)} ago`;
}

function duration(s: number): string {
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 && m < 10 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
