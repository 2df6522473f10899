/**
 * The outbox list's filters after migration 9 (indexes, FTS5 trigram search): the same rows as
 * the plain scans they replace, the search index kept in step with every write path (insert,
 * update, delete, retention's prune with its cascades), user text never parsed as FTS5 syntax,
 * and each filter served by an index (query plans, not timings).
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { RecipientState } from '../../../shared/domain';
import { pruneHistory } from '../../../src-main/core/retention/retention';
import { messageListSql, SORT_MATCHES_MAX, Store, textFilter } from '../../../src-main/core/store/store';
import { openDb } from '../../../src-main/core/store/db';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from './fixtures';

let t: ReturnType<typeof tmpDir>;
let store: Store;
beforeEach(() => {
  t = tmpDir('outbox-list-search-');
  store = Store.open(t.dir);
});
afterEach(() => {
  store.close();
  t.cleanup();
});

const T0 = Date.UTC(2025, 0, 1);
const SUBJECTS = [
  'Quarterly report',
  'Re: quarterly REPORT (final)',
  '50% off — "today" only',
  'under_score and back\\slash',
  'Grüße aus Köln',
  'C++ & C#: a comparison',
  'NEAR AND OR NOT',
  'star* wildcard? (maybe)',
  'column:subject ^caret -minus',
  'emoji 📬 inbox',
  'tab\tinside',
  '',
];
const FROMS = ['Alice <alice@sender.example>', 'Bob "The Builder" <bob@build.example>', 'Zoë <zoe@umlaut.example>'];
const RCPTS = [
  ['carol@example.org'],
  ['dave@example.net', 'erin@Example.ORG'],
  ['o\'brien@irish.example'],
  ['percent%sign@odd.example', 'under_score@odd.example'],
  ['quote"d@odd.example'],
];
const STATES: RecipientState[] = ['queued', 'delivered', 'deferred', 'failed', 'held', 'canceled'];

interface Seeded {
  id: string;
  subject: string;
  from: string;
  rcpts: { address: string; domain: string; state: RecipientState }[];
}

function seed(n: number): Seeded[] {
  const out: Seeded[] = [];
  for (let i = 0; i < n; i++) {
    const id = `m${String(i).padStart(4, '0')}`;
    const m = newMessage(id, T0 + i * 1000, RCPTS[i % RCPTS.length]);
    m.subject = `${SUBJECTS[i % SUBJECTS.length]}${i % 3 === 0 ? ` #${i}` : ''}`;
    m.fromHeader = FROMS[i % FROMS.length]!;
    store.insertMessage(m);
    const rows = store.db.prepare('SELECT id, address, domain FROM recipients WHERE message_id = ? ORDER BY id').all(id) as { id: number; address: string; domain: string }[];
    const rcpts = rows.map((r, k) => {
      const state = STATES[(i + k) % STATES.length]!;
      store.db.prepare('UPDATE recipients SET state = ? WHERE id = ?').run(state, r.id);
      return { address: r.address, domain: r.domain, state };
    });
    out.push({ id, subject: m.subject, from: m.fromHeader, rcpts });
  }
  return out;
}

/** What the old LIKE '%x%' scan matched: a substring, ASCII letters compared without case. */
function likeContains(hay: string, needle: string): boolean {
  const fold = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return fold(hay).includes(fold(needle));
}

function expectedIds(seeded: Seeded[], q: { status?: RecipientState; domain?: string; text?: string }): string[] {
  return seeded
    .filter((s) => !q.status || s.rcpts.some((r) => r.state === q.status))
    .filter((s) => !q.domain || s.rcpts.some((r) => r.domain === q.domain!.toLowerCase()))
    .filter((s) => !q.text || likeContains(s.subject, q.text) || likeContains(s.from, q.text) || s.rcpts.some((r) => likeContains(r.address, q.text!)))
    .map((s) => s.id)
    .reverse(); // newest first
}

function listedIds(q: { status?: RecipientState; domain?: string; text?: string }): { total: number; ids: string[] } {
  const r = store.listMessages({ ...q, limit: 500 });
  return { total: r.total, ids: r.items.map((i) => i.id) };
}

/**
 * FTS5's own check of an external-content index against its table (rank 1 = compare content),
 * once the rows still in the index's backlog are indexed (migration 15: index + backlog = table).
 */
function ftsInSync(): void {
  store.searchIndex.flush();
  store.db.prepare("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)").run();
  store.db.prepare("INSERT INTO recipients_fts(recipients_fts, rank) VALUES ('integrity-check', 1)").run();
}

const TEXTS = [
  'report',
  'REPORT',
  'quarterly report',
  '50%',
  '% o',
  '"today"',
  'under_score',
  'back\\slash',
  'Grüße',
  'Köln',
  'C++',
  'C#:',
  'NEAR',
  'AND OR',
  'star*',
  '(maybe)',
  'column:subject',
  '^caret',
  '-minus',
  '📬',
  'emoji 📬',
  'tab\tin',
  'alice@',
  'The Builder',
  'example.org',
  'EXAMPLE.ORG',
  "o'brien",
  'quote"d',
  'percent%sign',
  '#12',
  'nothing like this',
  // Shorter than a trigram: the LIKE path.
  'Re',
  'e',
  '%',
  '_',
  '"',
];

describe('filters give the same rows as the scans they replace', () => {
  test('by status, by domain, by text (special characters included), and combined', () => {
    const seeded = seed(120);
    for (const status of STATES) {
      const got = listedIds({ status });
      const want = expectedIds(seeded, { status });
      expect(got.ids, status).toEqual(want);
      expect(got.total).toBe(want.length);
    }
    for (const domain of ['example.org', 'EXAMPLE.net', 'odd.example', 'irish.example', 'nowhere.example']) {
      const got = listedIds({ domain });
      expect(got.ids, domain).toEqual(expectedIds(seeded, { domain }));
    }
    for (const text of TEXTS) {
      const got = listedIds({ text });
      const want = expectedIds(seeded, { text });
      expect(got.ids, JSON.stringify(text)).toEqual(want);
      expect(got.total, JSON.stringify(text)).toBe(want.length);
    }
    expect(listedIds({ text: 'report' }).ids.length).toBeGreaterThan(0);
    expect(listedIds({ text: '50%' }).ids.length).toBeGreaterThan(0);
    const q = { status: 'deferred' as const, domain: 'example.org', text: 'report' };
    expect(listedIds(q).ids).toEqual(expectedIds(seeded, q));
    // Paging: offsets walk the same order.
    const all = expectedIds(seeded, { text: 'example' });
    const page2 = store.listMessages({ text: 'example', limit: 10, offset: 10 }).items.map((i) => i.id);
    expect(page2).toEqual(all.slice(10, 20));
    const oldest = store.listMessages({ text: 'example', sort: 'oldest', limit: 5 }).items.map((i) => i.id);
    expect(oldest).toEqual([...all].reverse().slice(0, 5));
  });

  test('search text is one FTS5 phrase: quotes doubled, nothing else interpreted', () => {
    expect(textFilter('a"b OR c*').param).toBe('"a""b OR c*"');
    expect(textFilter('ab').sql).toContain('LIKE');
    expect(textFilter('abc').sql).toContain('MATCH');
    // Characters FTS5 would otherwise parse (or reject) do not throw.
    seed(12);
    for (const text of ['"', '""', '"""', 'a"', '*', '***', ':::', '(((', ')))', 'NEAR(', 'AND', '^^^', '---', '+++', '\u0000\u0000\u0000', '{x}', '[x]', "'''"]) {
      expect(() => store.listMessages({ text }), JSON.stringify(text)).not.toThrow();
    }
  });
});

describe('the search index follows every write', () => {
  test('insert, update of subject/From/address, delete, and cascades', () => {
    seed(30);
    ftsInSync();
    expect(listedIds({ text: 'zebra crossing' }).total).toBe(0);
    store.insertMessage({ ...newMessage('new1', T0 + 999_000, ['zed@zebra.example']), subject: 'zebra crossing' });
    ftsInSync();
    expect(listedIds({ text: 'zebra crossing' }).ids).toEqual(['new1']);
    expect(listedIds({ text: 'zed@zebra' }).ids).toEqual(['new1']);

    store.db.prepare("UPDATE messages SET subject = 'giraffe neck', from_header = 'Gina <gina@tall.example>' WHERE id = 'new1'").run();
    store.db.prepare("UPDATE recipients SET address = 'yak@tall.example' WHERE message_id = 'new1'").run();
    ftsInSync();
    expect(listedIds({ text: 'zebra' }).total).toBe(0);
    expect(listedIds({ text: 'giraffe' }).ids).toEqual(['new1']);
    expect(listedIds({ text: 'gina@' }).ids).toEqual(['new1']);
    expect(listedIds({ text: 'yak@' }).ids).toEqual(['new1']);
    // Other columns changing (state, attempts…) leave the index as it is.
    store.db.prepare("UPDATE recipients SET state = 'delivered', attempts = attempts + 1 WHERE message_id = 'new1'").run();
    ftsInSync();

    store.db.prepare("DELETE FROM messages WHERE id = 'new1'").run(); // cascades to recipients
    ftsInSync();
    expect(listedIds({ text: 'giraffe' }).total).toBe(0);
    expect(listedIds({ text: 'yak@' }).total).toBe(0);
  });

  test("retention's prune removes pruned messages from the search", async () => {
    const seeded = seed(40);
    store.db.prepare("UPDATE recipients SET state = 'delivered' WHERE message_id < 'm0020'").run();
    const r = await pruneHistory(store, { cutoff: T0 + 20 * 1000, batch: 7 });
    expect(r.messages).toBe(20);
    ftsInSync();
    const left = seeded.filter((s) => s.id >= 'm0020');
    for (const text of ['report', 'example', 'Köln', 'alice@']) {
      expect(listedIds({ text }).ids, text).toEqual(expectedIds(left, { text }));
    }
  });

  test('a database of the previous version gets its existing messages indexed by the migration', () => {
    store.close();
    const d = tmpDir('outbox-list-search-old-');
    try {
      // Rows as version 8 wrote them (today's Store writes tables of later versions too).
      const old = openDb(d.dir, { migrateTo: 8 });
      const m = { ...newMessage('old1', T0, ['kim@before.example']), subject: 'written before the index' };
      old.prepare('INSERT INTO messages (id, created_at, mail_from, from_header, subject, size, raw_path) VALUES (?, ?, ?, ?, ?, ?, ?)').run(m.id, m.createdAt, m.mailFrom, m.fromHeader, m.subject, m.size, m.rawPath);
      for (const r of m.recipients) {
        old.prepare("INSERT INTO recipients (message_id, address, envelope, domain, kind, state, updated_at) VALUES (?, ?, ?, ?, 'to', 'queued', ?)").run(m.id, r.address, r.envelope, r.domain, m.createdAt);
      }
      old.close();
      store = Store.open(d.dir);
      ftsInSync();
      expect(listedIds({ text: 'before the index' }).ids).toEqual(['old1']);
      expect(listedIds({ text: 'kim@before' }).ids).toEqual(['old1']);
    } finally {
      store.close();
      d.cleanup();
      store = Store.open(t.dir);
    }
  });
});

describe('each filter is an index walk, not a scan of every message', () => {
  type Q = { status?: RecipientState; domain?: string; text?: string; sort?: 'newest' | 'oldest' };
  function plan(q: Q, total: number): string {
    const sql = messageListSql(q);
    return (store.db.prepare(`EXPLAIN QUERY PLAN ${sql.page(total)}`).all({ ...sql.params, limit: 100, offset: 0 }) as { detail: string }[]).map((r) => r.detail).join('\n');
  }
  function countPlan(q: Q): string {
    const sql = messageListSql(q);
    return (store.db.prepare(`EXPLAIN QUERY PLAN ${sql.count}`).all(sql.params) as { detail: string }[]).map((r) => r.detail).join('\n');
  }

  test('plans', () => {
    seed(20);
    // The page order comes from an index: no sort of all messages.
    expect(plan({}, 20)).toContain('messages_list');
    expect(plan({}, 20)).not.toContain('TEMP B-TREE');
    expect(countPlan({ status: 'deferred' })).toContain('COVERING INDEX recipients_state_message');
    expect(countPlan({ status: 'deferred' })).not.toMatch(/\bm\b|messages/);
    expect(countPlan({ domain: 'example.org' })).toContain('COVERING INDEX recipients_domain_message');
    expect(plan({ status: 'deferred' }, 5)).toContain('recipients_state_message');
    expect(plan({ domain: 'example.org' }, 5)).toContain('recipients_domain_message');
    // Many matches: along the list's index, no sort of the matches.
    for (const q of [{ status: 'deferred' }, { domain: 'example.org' }, { text: 'report' }, { text: 'report', sort: 'oldest' }] as Q[]) {
      expect(plan(q, SORT_MATCHES_MAX + 1), JSON.stringify(q)).toContain('messages_list');
      expect(plan(q, SORT_MATCHES_MAX + 1), JSON.stringify(q)).not.toContain('TEMP B-TREE');
    }
    const text = plan({ text: 'report' }, 5);
    expect(text).toContain('messages_fts');
    expect(text).toContain('recipients_fts');
    expect(text).not.toMatch(/SCAN r\b|SCAN recipients\b/);
  });

  test('the two ways of reading a page give the same rows', () => {
    const seeded = seed(150);
    // The SQL alone reads the FTS index; Store.listMessages indexes the backlog first.
    store.searchIndex.flush();
    for (const q of [{ status: 'deferred' }, { status: 'queued', sort: 'oldest' }, { domain: 'odd.example' }, { text: 'example' }, { text: 'Re' }, { status: 'deferred', domain: 'example.org', text: 'example' }] as Q[]) {
      const sql = messageListSql(q);
      for (const offset of [0, 7, 40]) {
        const p = { ...sql.params, limit: 13, offset };
        const sorted = (store.db.prepare(sql.page(0)).all(p) as { id: string }[]).map((r) => r.id);
        const walked = (store.db.prepare(sql.page(SORT_MATCHES_MAX + 1)).all(p) as { id: string }[]).map((r) => r.id);
        expect(walked, JSON.stringify({ q, offset })).toEqual(sorted);
        const want = expectedIds(seeded, q);
        expect(sorted, JSON.stringify({ q, offset })).toEqual((q.sort === 'oldest' ? [...want].reverse() : want).slice(offset, offset + 13));
      }
    }
  });
});
