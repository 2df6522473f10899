/**
 * Counts the statements a better-sqlite3 connection executes, by SQL text, so a test can say
 * "nothing read the queue while it was idle" without timing anything. Install it right after
 * opening the store: statements prepared before are not seen.
 *
 *   const spy = spyStatements(store.db);  ...  spy.reset();  ...  spy.count(/JOIN messages/)
 */
import type { Database, Statement } from 'better-sqlite3';

export interface StatementSpy {
  /** Executions since the last reset whose SQL matches `pattern` (all without one). */
  count(pattern?: RegExp): number;
  reset(): void;
  /** The SQL of every execution since the last reset, in order. */
  readonly executed: readonly string[];
}

export function spyStatements(db: Database): StatementSpy {
  const executed: string[] = [];
  const prepare = db.prepare.bind(db) as (sql: string, ...internal: unknown[]) => Statement;
  (db as { prepare: unknown }).prepare = (sql: string, ...internal: unknown[]) => {
    const stmt = prepare(sql, ...internal);
    return new Proxy(stmt, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'run' || prop === 'get' || prop === 'all' || prop === 'iterate') {
          return (...args: unknown[]) => {
            executed.push(sql);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        // Chainable modifiers (pluck, raw, …) return the statement itself: keep the proxy.
        return (...args: unknown[]) => {
          const r = (value as (...a: unknown[]) => unknown).apply(target, args);
          return r === target ? receiver : r;
        };
      },
    });
  };
  return {
    count: (pattern) => (pattern ? executed.filter((s) => pattern.test(s)).length : executed.length),
    reset: () => void (executed.length = 0),
    executed,
  };
}
