/**
 * Issue 14 (enqueue p99): the text-search index is filled in batches (migration 15,
 * store/search-index.ts). An enqueue's transaction only records its rows in fts_backlog; the
 * index must still never be wrong: a search sees every committed row, a row changed or deleted
 * while still in the backlog leaves the index consistent (FTS5's integrity-check compares the
 * index with the table), and a process that stopped before indexing (a kill: the commit
 * happened, the batch did not) leaves a backlog the next start-up indexes.
 */
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from './fixtures';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function open(dir?: string): Store {
  let d = dir;
  if (!d) {
    const t = tmpDir('outbox-search-index-');
    cleanups.push(t.cleanup);
    d = t.dir;
  }
  const store = Store.open(d);
  cleanups.push(() => store.db.open && store.close());
  return store;
}

const backlog = (s: Store) => s.db.prepare('SELECT count(*) FROM fts_backlog').pluck().get() as number;
/** Rows the FTS index itself returns (no backlog), by subject trigram / address trigram. */
const indexed = (s: Store, text: string) => ({
  messages: s.db.prepare('SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?').pluck().get(`"${text}"`) as number,
  recipients: s.db.prepare('SELECT count(*) FROM recipients_fts WHERE recipients_fts MATCH ?').pluck().get(`"${text}"`) as number,
});
function inSync(s: Store): void {
  s.db.prepare("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)").run();
  s.db.prepare("INSERT INTO recipients_fts(recipients_fts, rank) VALUES ('integrity-check', 1)").run();
}

describe('the search index filled in batches', () => {
  test('an enqueue writes no FTS segment, only its backlog rows; a search right after finds it', () => {
    const s = open();
    s.insertMessage({ ...newMessage('m1', 1000, ['carol@example.org']), subject: 'quarterly invoice' });
    expect(backlog(s)).toBe(2);
    expect(indexed(s, 'invoice')).toEqual({ messages: 0, recipients: 0 });
    expect(s.listMessages({ text: 'invoice' }).items.map((m) => m.id)).toEqual(['m1']);
    expect(s.listMessages({ text: 'carol@' }).items.map((m) => m.id)).toEqual(['m1']);
    expect(backlog(s)).toBe(0);
    expect(indexed(s, 'invoice')).toEqual({ messages: 1, recipients: 0 });
    inSync(s);
  });

  test('changed or deleted while still in the backlog, and after: the index stays consistent', () => {
    const s = open();
    for (let i = 0; i < 6; i++) s.insertMessage(newMessage(`m${i}`, 1000 + i, [`r${i}@example.org`]));
    // In the backlog: changed, deleted (with its recipients, by cascade).
    s.db.prepare("UPDATE messages SET subject = 'renamed early' WHERE id = 'm0'").run();
    s.db.prepare("UPDATE recipients SET address = 'early@example.net' WHERE message_id = 'm1'").run();
    s.db.prepare("DELETE FROM messages WHERE id = 'm2'").run();
    s.searchIndex.flush();
    inSync(s);
    // Indexed: changed and deleted the same way.
    s.db.prepare("UPDATE messages SET subject = 'renamed late' WHERE id = 'm3'").run();
    s.db.prepare("DELETE FROM messages WHERE id = 'm4'").run();
    inSync(s);
    expect(s.listMessages({ text: 'renamed' }).items.map((m) => m.id).sort()).toEqual(['m0', 'm3']);
    expect(s.listMessages({ text: 'early@' }).items.map((m) => m.id)).toEqual(['m1']);
    expect(s.listMessages({ text: 'subject m2' }).total).toBe(0);
    expect(s.listMessages({ text: 'subject m4' }).total).toBe(0);
    expect(s.listMessages({ text: 'subject m5' }).total).toBe(1);
    inSync(s);
  });

  test('a process killed after its commits, before indexing them: the next start-up indexes the backlog', () => {
    const t = tmpDir('outbox-search-index-kill-');
    cleanups.push(t.cleanup);
    // A child queues messages and is SIGKILLed at once: no timer, no close ran.
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { Store } = await import(${JSON.stringify(new URL('../../../src-main/core/store/store.ts', import.meta.url).pathname)});
         const { newMessage } = await import(${JSON.stringify(new URL('./fixtures.ts', import.meta.url).pathname)});
         const s = Store.open(${JSON.stringify(t.dir)});
         for (let i = 0; i < 5; i++) s.insertMessage({ ...newMessage('k' + i, 1000 + i, ['killed' + i + '@example.org']), subject: 'before the kill ' + i });
         process.kill(process.pid, 'SIGKILL');`,
      ],
      { encoding: 'utf8' },
    );
    expect(child.signal).toBe('SIGKILL');
    // What the killed process left: committed rows, their backlog, nothing indexed.
    {
      const raw = new Database(`${t.dir}/outbox.sqlite3`, { readonly: true });
      expect(raw.prepare('SELECT count(*) FROM fts_backlog').pluck().get()).toBe(10);
      expect(raw.prepare("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '\"the kill\"'").pluck().get()).toBe(0);
      raw.close();
    }
    const s = open(t.dir);
    expect(backlog(s)).toBe(0);
    expect(indexed(s, 'the kill').messages).toBe(5);
    expect(indexed(s, 'killed').recipients).toBe(5);
    inSync(s);
  });

  test('a damaged text index (its FTS5 pages garbled) neither stops the store from opening nor hides messages from a search: it is rebuilt from the tables', () => {
    const t = tmpDir('outbox-search-index-damaged-');
    cleanups.push(t.cleanup);
    {
      const s = Store.open(t.dir);
      for (let i = 0; i < 3; i++) s.insertMessage({ ...newMessage(`d${i}`, 1000 + i, [`dora${i}@example.org`]), subject: `indexed ${i}` });
      s.searchIndex.flush();
      // Still in the backlog when the process stops.
      s.insertMessage({ ...newMessage('late', 2000, ['lena@example.org']), subject: 'not yet indexed' });
      s.searchIndex.close();
      s.close();
    }
    {
      const raw = new Database(`${t.dir}/outbox.sqlite3`);
      raw.unsafeMode(true);
      raw.prepare('UPDATE messages_fts_data SET block = randomblob(length(block)) WHERE id > 1').run();
      expect(raw.prepare('SELECT count(*) FROM fts_backlog').pluck().get()).toBe(2);
      raw.close();
    }
    const s = open(t.dir);
    expect(s.listMessages({}).total).toBe(4);
    expect(s.listMessages({ text: 'indexed' }).items.map((m) => m.id).sort()).toEqual(['d0', 'd1', 'd2', 'late']);
    expect(s.listMessages({ text: 'lena@' }).items.map((m) => m.id)).toEqual(['late']);
    expect(backlog(s)).toBe(0);
    inSync(s);
  });

  test('a long burst is indexed as it goes, not all at the next search', () => {
    const s = open();
    for (let i = 0; i < 200; i++) s.insertMessage(newMessage(`b${i}`, 1000 + i, [`x${i}@example.org`]));
    // 400 backlog rows were added; the batch ran at 256.
    expect(backlog(s)).toBeLessThan(256);
    expect(indexed(s, 'subject b1').messages).toBeGreaterThan(0);
    s.searchIndex.flush();
    inSync(s);
  });
});
