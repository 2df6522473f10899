/**
 * Address suggestions for the composer: the mailboxes mail was sent to (the store's
 * recipient_history, kept apart from the messages so retention does not forget people) and
 * the user's own identities. Local only — nothing is looked up anywhere else.
 *
 * Ranking ("frecency", as mail clients do): each past recipient scores its number of messages,
 * halved for every 30 days since the last one, so someone written to every week beats someone
 * written to often two years ago, and a name typed once today beats both when it matches
 * better. An identity not written to scores like one message a month ago.
 */
import type { AddressSuggestion } from '../../shared/domain';
import { formatMailbox, parseMailbox } from './compose/address';
import type { Store } from './store/store';

const HALF_LIFE_MS = 30 * 24 * 3600 * 1000;
/** How many recent matches are ranked (the table can hold thousands). */
const CANDIDATES = 500;

/** The score of a mailbox sent to `uses` times, last at `lastUsed`. */
export function frecency(uses: number, lastUsed: number, now: number): number {
  const age = Math.max(0, now - lastUsed);
  return uses * 0.5 ** (age / HALF_LIFE_MS);
}

/** Does `query` (lower case) start the address, its domain, or a word of the name? */
function matches(query: string, address: string, name: string | null): boolean {
  const a = address.toLowerCase();
  if (a.startsWith(query) || a.slice(a.lastIndexOf('@') + 1).startsWith(query)) return true;
  return (name ?? '').toLowerCase().split(/\s+/).some((w) => w.replace(/^["'(]+/, '').startsWith(query)) || (name ?? '').toLowerCase().startsWith(query);
}

/** The bare address a field entry names ("Bob <bob@x>" → bob@x), lower case, for exclusion. */
function key(entry: string): string | null {
  const r = parseMailbox(entry, { field: 'to' });
  return r.ok ? r.value.envelope.toLowerCase() : null;
}

export function suggestAddresses(
  store: Store,
  req: { query: string; limit: number; exclude?: readonly string[] },
  now: number,
): AddressSuggestion[] {
  const query = req.query.trim().toLowerCase().replace(/^[<"]+/, '');
  if (query === '') return [];
  const excluded = new Set((req.exclude ?? []).map(key).filter((k): k is string => k !== null));
  const found = new Map<string, AddressSuggestion & { score: number }>();

  for (const row of store.recipientHistory(query, CANDIDATES)) {
    if (excluded.has(row.address)) continue;
    found.set(row.address, {
      address: row.display,
      name: row.name,
      mailbox: formatMailbox(row.name, row.display),
      source: 'recent',
      uses: row.uses,
      lastUsed: row.last_used,
      score: frecency(row.uses, row.last_used, now),
    });
  }
  for (const i of store.listIdentities()) {
    const k = key(i.address);
    if (!k || excluded.has(k) || !matches(query, i.address, i.displayName || null)) continue;
    const seen = found.get(k);
    const name = i.displayName || seen?.name || null;
    found.set(k, {
      address: i.address,
      name,
      mailbox: formatMailbox(name, i.address),
      source: 'identity',
      uses: seen?.uses ?? 0,
      lastUsed: seen?.lastUsed ?? null,
      score: Math.max(seen?.score ?? 0, frecency(1, now - HALF_LIFE_MS, now)),
    });
  }
  return [...found.values()]
    .sort((a, b) => b.score - a.score || (b.lastUsed ?? 0) - (a.lastUsed ?? 0) || a.address.localeCompare(b.address))
    .slice(0, req.limit)
    .map(({ score: _score, ...s }) => s);
}
