/**
 * Injected "disk full" for the unit layer: statements of a better-sqlite3 connection whose SQL
 * matches a pattern throw SQLITE_FULL while the fault is on — as SQLite does when the WAL
 * cannot grow. Every write point of the queue can be hit on its own.
 *
 *   const full = injectDiskFull(store.db);
 *   full.on(/INSERT INTO attempts/);  ...  full.off();
 */
import type { Database, Statement } from 'better-sqlite3';

export interface DiskFullFault {
  on(pattern?: RegExp): void;
  off(): void;
  /** How many statements were refused. */
  readonly hits: number;
}

export function injectDiskFull(db: Database): DiskFullFault {
  let pattern: RegExp | null = null;
  let hits = 0;
  const prepare = db.prepare.bind(db) as (sql: string, ...internal: unknown[]) => Statement;
  const refuse = () => {
    hits++;
    throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  };
  // better-sqlite3's own pragma()/transaction() pass extra internal arguments: keep them.
  (db as { prepare: unknown }).prepare = (sql: string, ...internal: unknown[]) => {
    const stmt = prepare(sql, ...internal);
    if (stmt.reader) return stmt;
    return new Proxy(stmt, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'run' && typeof value === 'function') {
          return (...args: unknown[]) => {
            if (pattern && pattern.test(sql)) refuse();
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return {
    on(p = /./) {
      pattern = p;
    },
    off() {
      pattern = null;
    },
    get hits() {
      return hits;
    },
  };
}
