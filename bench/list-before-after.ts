/**
 * The outbox list before and after migration 9, on one database: main 54c6279's SQL (LIKE
 * scans, no list/filter indexes — dropped inside a transaction that is rolled back) against
 * Store.listMessages today; CPU and wall time of one call (count of all matches included),
 * median of 5. Not a part of `npm run bench` (it needs a big data dir made beforehand):
 *
 *   node --import tsx bench/parts/scale.ts --fill DIR 0 1000000
 *   node --import tsx bench/list-before-after.ts DIR
 */
import { Store } from '../src-main/core/store/store';
const store = Store.open(process.argv[2]!, { checkQueuedFiles: false });
const db = store.db;
function oldList(q: { status?: string; domain?: string; text?: string }) {
  const where: string[] = []; const params: Record<string, unknown> = {};
  if (q.status) { where.push('m.id IN (SELECT message_id FROM recipients WHERE state = @status)'); params.status = q.status; }
  if (q.domain) { where.push('m.id IN (SELECT message_id FROM recipients WHERE domain = @domain)'); params.domain = q.domain; }
  if (q.text) {
    where.push(`(m.subject LIKE @text ESCAPE '\\' OR m.from_header LIKE @text ESCAPE '\\' OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.address LIKE @text ESCAPE '\\'))`);
    params.text = `%${q.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  }
  const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const total = (db.prepare(`SELECT count(*) AS n FROM messages m ${w}`).get(params) as { n: number }).n;
  // NOT INDEXED BY the new indexes is not expressible; the old SQL is run as it was.
  const rows = db.prepare(`SELECT m.* FROM messages m ${w} ORDER BY m.created_at DESC, m.id DESC LIMIT 100 OFFSET 0`).all(params);
  return { total, n: rows.length };
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const total = (db.prepare('SELECT count(*) n FROM messages').get() as { n: number }).n;
console.log(`messages: ${total}`);
for (const q of [{}, { status: 'deferred' }, { domain: 'bench7.test' }, { text: 'invoice' }, { text: 'user12345@' }]) {
  const out: Record<string, string> = {};
  for (const [name, fn] of [['before', () => oldList(q)], ['after', () => store.listMessages({ ...q, limit: 100 } as never)]] as const) {
    // Before: main's schema had none of migration 9's indexes; dropped inside a transaction that
    // is rolled back afterwards (SQLite DDL is transactional).
    if (name === 'before') db.exec('BEGIN; DROP INDEX messages_list; DROP INDEX recipients_state_message; DROP INDEX recipients_domain_message;');
    const cpu: number[] = []; const wall: number[] = []; let res: unknown;
    for (let i = 0; i < 5; i++) {
      const c0 = process.cpuUsage(); const t0 = performance.now();
      res = fn();
      wall.push(performance.now() - t0); const c = process.cpuUsage(c0); cpu.push((c.user + c.system) / 1000);
    }
    if (name === 'before') db.exec('ROLLBACK');
    out[name] = `cpu ${med(cpu).toFixed(1)} ms, wall ${med(wall).toFixed(1)} ms (total ${(res as { total: number }).total})`;
  }
  console.log(JSON.stringify(q), '\n  before:', out.before, '\n  after: ', out.after);
}
store.close();
