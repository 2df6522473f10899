/**
 * The enqueue path (Outbox.submit: settings, sender identity and its DKIM keys, the message,
 * recipients, recipient history, events) prepares its SQL statements once: after the first
 * message, queueing another compiles no SQL (issue 14 item 4, "SQLite statements prepared
 * once"; each prepare is a parse and plan on the main thread, inside the enqueue latency).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { Outbox } from '../../../src-main/core/outbox';
import { tmpDir } from '../../helpers/tmp';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('enqueue statements', () => {
  it('a second and third submit prepare no SQL statement', async () => {
    const t = tmpDir('outbox-enqueue-stmts-');
    const core = new Outbox({ dataDir: t.dir, clock: new ManualClock(Date.UTC(2026, 0, 1)), deliver: () => new Promise(() => {}) });
    cleanups.push(t.cleanup, () => core.close());
    const draft = (i: number) => ({
      from: 'me@example.org',
      to: [`someone${i}@example.net`, `other${i}@example.com`],
      cc: [],
      bcc: [],
      subject: `hello ${i}`,
      text: 'text',
      attachments: [],
      tlsMode: 'default' as const,
    });
    expect((await core.submit(draft(0))).ok).toBe(true);

    const db = core.store.db;
    const prepared: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      prepared.push(sql.replace(/\s+/g, ' ').trim().slice(0, 80));
      return prepare(sql);
    }) as typeof db.prepare;
    try {
      for (const i of [1, 2]) expect((await core.submit(draft(i))).ok).toBe(true);
    } finally {
      db.prepare = prepare;
    }
    expect(prepared).toEqual([]);
    expect(core.store.listMessages({ limit: 10 }).total).toBe(3);
  });
});
