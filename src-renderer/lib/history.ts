/**
 * A message's history as one timeline, oldest first: what the store recorded about the message
 * (queued, held by a rule, released, the user's hold/resume/retry/cancel, a TLS mode change, an
 * interrupted delivery, a recovery) merged with what each attempt did to each recipient
 * (delivered, deferred, failed), in words, with the server's reply where there is one.
 */
import { describeReply, type MessageDetail } from '../../shared/domain';

export interface HistoryEntry {
  at: number;
  /** For the dot's colour and tests: ok | retry | bad | info. */
  tone: 'ok' | 'retry' | 'bad' | 'info';
  text: string;
  detail: string;
}

const EVENT_WORDS: Record<string, { text: string; tone: HistoryEntry['tone'] }> = {
  queued: { text: 'Queued', tone: 'info' },
  held: { text: 'Held', tone: 'retry' },
  released: { text: 'Released', tone: 'info' },
  hold: { text: 'Held by you', tone: 'retry' },
  resume: { text: 'Released by you', tone: 'info' },
  retry: { text: 'Retry requested', tone: 'info' },
  cancel: { text: 'Cancelled', tone: 'bad' },
  'tls-mode': { text: 'TLS mode changed', tone: 'info' },
  interrupted: { text: 'Interrupted', tone: 'retry' },
  recovered: { text: 'Recovered', tone: 'info' },
  suppressed: { text: 'Not sent (suppressed)', tone: 'bad' },
  'suppression-added': { text: 'Added to the suppression list', tone: 'info' },
};

export function messageHistory(m: MessageDetail): HistoryEntry[] {
  const who = new Map(m.recipients.map((r) => [r.id, r.address]));
  const entries: HistoryEntry[] = [];
  for (const ev of m.events) {
    const w = EVENT_WORDS[ev.kind] ?? { text: ev.kind, tone: 'info' as const };
    const rcpt = ev.recipientId !== null ? who.get(ev.recipientId) : undefined;
    entries.push({ at: ev.at, tone: w.tone, text: rcpt ? `${w.text}: ${rcpt}` : w.text, detail: ev.detail });
  }
  for (const a of m.attempts) {
    const server = a.host ? ` at ${a.host}` : '';
    if (a.results.length === 0) {
      entries.push({ at: a.startedAt, tone: 'retry', text: `Attempt to ${a.domain}${server} stopped at ${a.stage ?? 'connect'}`, detail: a.reply ?? '' });
    }
    for (const r of a.results) {
      if (r.status === 'not-attempted') continue;
      const rcpt = who.get(r.recipientId) ?? a.domain;
      // The one reply formatter: a code is never shown twice.
      const reply = describeReply(r);
      const text = r.status === 'delivered' ? `Delivered to ${rcpt}${server}` : r.status === 'deferred' ? `Deferred for ${rcpt}${server} (will retry)` : `Failed for ${rcpt}${server}`;
      entries.push({ at: a.startedAt, tone: r.status === 'delivered' ? 'ok' : r.status === 'deferred' ? 'retry' : 'bad', text, detail: reply });
    }
  }
  // Stable: a message's own events sort before attempts of the same millisecond (queued first).
  return entries.map((e, i) => ({ e, i })).sort((x, y) => x.e.at - y.e.at || x.i - y.i).map((x) => x.e);
}
