import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  attemptRowsQuery,
  iterateAttemptRows,
  parseTimeBound,
  policyLabel,
  type ExportRow,
} from '../../../src-main/core/export/attempt-rows';
import { DeliveryError } from '../../../src-main/core/errors';
import { HOSTILE, HOUR, T0, seedStore, type Seeded } from './seed';

let s: Seeded;
beforeEach(() => {
  s = seedStore();
});
afterEach(() => s.cleanup());

const rowsOf = (f: Parameters<typeof iterateAttemptRows>[1] = {}, transcript = false): ExportRow[] => [
  ...iterateAttemptRows(s.store.db, f, { transcript }),
];

describe('iterateAttemptRows', () => {
  it('yields one row per attempt result, oldest first, with the attempt fields', () => {
    const rows = rowsOf();
    expect(rows.map((r) => [r.attemptId, r.recipient, r.status])).toEqual([
      [1, 'a@example.org', 'delivered'],
      [1, `${HOSTILE.hyperlink}@example.org`, 'failed'],
      [2, null, 'deferred'],
      [3, 'jörg@xn--bcher-kva.example', 'deferred'],
      [4, 'c@plain.example', 'delivered'],
    ]);
    expect(rows[0]).toEqual({
      attemptId: 1,
      messageId: 'm1',
      subject: HOSTILE.at,
      recipient: 'a@example.org',
      domain: 'example.org',
      time: '2024-05-01T10:00:00.000Z',
      status: 'delivered',
      transport: 'direct',
      route: null,
      security: 'Encrypted and verified (MTA-STS)',
      host: 'mx1.example.org',
      ip: '127.0.0.1',
      port: 25,
      tlsVersion: 'TLSv1.3',
      tlsCipher: 'TLS_AES_256_GCM_SHA384',
      certFingerprint: 'ab:cd',
      verification: 'pkix',
      verificationReason: null,
      policy: 'mta-sts enforce',
      tlsrptPolicy: 'sts',
      tlsrptFailure: null,
      requiretls: false,
      plaintextFallback: false,
      reusedSession: false,
      tlsResumed: false,
      code: 250,
      enhancedCode: '2.0.0',
      reply: 'OK queued as 1',
      errorCode: null,
      stage: null,
      durationMs: 120,
    });
    // Per-recipient values win over the attempt's.
    expect(rows[1]).toMatchObject({ code: 550, enhancedCode: '5.1.1', reply: HOSTILE.hyperlink });
    // The security column speaks the outbox's words (shared/verdict.ts); pending rows have none.
    expect(rows[1]!.security).toBe('Not delivered: the recipient’s server refused it');
    expect(rows[2]!.security).toBeNull();
  });

  it('keeps an attempt without result rows as one row with no recipient and the attempt outcome', () => {
    const row = rowsOf()[2]!;
    expect(row).toMatchObject({
      recipient: null,
      status: 'deferred',
      stage: 'dns',
      errorCode: 'DNS_TEMPORARY',
      host: null,
      reply: HOSTILE.multiline,
      time: '2024-05-01T11:00:00.000Z',
      policy: 'none',
    });
    // Permanent attempt-level failures read as failed.
    s.store.db.prepare('UPDATE attempts SET permanent = 1 WHERE id = 2').run();
    expect(rowsOf()[2]!.status).toBe('failed');
  });

  it('falls back to the attempt reply when the result has none, and labels policies', () => {
    const rows = rowsOf();
    expect(rows[4]).toMatchObject({ code: 250, enhancedCode: '2.0.0', reply: 'OK', plaintextFallback: true, tlsrptFailure: 'validation-failure' });
    expect(rows[3]!.policy).toBe('dane + mta-sts testing');
    expect(policyLabel(1, null)).toBe('dane');
    expect(policyLabel(0, 'none')).toBe('none');
    expect(policyLabel(0, 'testing')).toBe('mta-sts testing');
  });

  it('parses the transcript once per attempt and only when asked', () => {
    const rows = rowsOf({}, true);
    expect(rows[0]!.transcript).toEqual(s.transcript1);
    expect(rows[1]!.transcript).toEqual(s.transcript1);
    expect(rows[2]!.transcript).toEqual([]);
    expect('transcript' in rowsOf()[0]!).toBe(false);
  });

  it('survives corrupt stored values instead of throwing', () => {
    s.store.db.prepare("UPDATE attempts SET transcript = '{not json', started_at = 9e300, code = 'x5' WHERE id = 1").run();
    s.store.db.prepare("UPDATE attempts SET transcript = '[{\"at\":1}]' WHERE id = 3").run();
    const rows = rowsOf({}, true);
    const first = rows.find((r) => r.attemptId === 1)!;
    expect(first.transcript).toBeNull();
    expect(first.time).toBeNull();
    expect(rows.find((r) => r.attemptId === 3)!.transcript).toBeNull();
  });

  it('filters by since (inclusive) and until (exclusive), as ms or ISO 8601', () => {
    const ids = (f: Parameters<typeof rowsOf>[0]) => [...new Set(rowsOf(f).map((r) => r.attemptId))];
    expect(ids({ since: T0 + HOUR, until: T0 + 3 * HOUR })).toEqual([2, 3]);
    expect(ids({ since: '2024-05-01T11:00:00Z', until: '2024-05-01T13:00:00.000Z' })).toEqual([2, 3]);
    expect(ids({ since: '2024-05-01T13:00:00+02:00' })).toEqual([2, 3, 4]); // = 11:00Z
    expect(ids({ until: '2024-05-01' })).toEqual([]);
    expect(ids({ since: String(T0 + 3 * HOUR) })).toEqual([4]);
    expect(ids({ since: T0 + 3 * HOUR + 1 })).toEqual([]);
  });

  it('filters by status and by domain (U-label or A-label, any case)', () => {
    expect(rowsOf({ status: 'delivered' }).map((r) => r.recipient)).toEqual(['a@example.org', 'c@plain.example']);
    expect(rowsOf({ status: ['failed', 'deferred'] }).map((r) => r.attemptId)).toEqual([1, 2, 3]);
    expect(rowsOf({ status: [] })).toEqual([]);
    expect(rowsOf({ domain: 'BÜCHER.example.' }).map((r) => r.attemptId)).toEqual([2, 3]);
    expect(rowsOf({ domain: 'xn--bcher-kva.example' }).map((r) => r.attemptId)).toEqual([2, 3]);
    expect(rowsOf({ messageId: 'm3' }).map((r) => r.attemptId)).toEqual([4]);
  });

  it('rejects bad filters with INVALID_INPUT before reading', () => {
    for (const f of [
      { since: 'yesterday' },
      { since: '2024-05-01T10:00' }, // local time: ambiguous
      { until: Number.NaN },
      { until: 1e17 },
      { status: 'sent' as never },
      { domain: 'exa mple..org' },
    ]) {
      let err: unknown;
      try {
        iterateAttemptRows(s.store.db, f);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(f)).toBeInstanceOf(DeliveryError);
      expect((err as DeliveryError).code).toBe('INVALID_INPUT');
    }
    expect(parseTimeBound('2024-05-01', 'since')).toBe(Date.UTC(2024, 4, 1));
  });

  it('walks the attempts_started index: no sort buffer, however many rows', () => {
    for (const f of [{}, { since: T0 }, { since: T0, until: T0 + HOUR, status: 'delivered' as const }, { domain: 'example.org' }]) {
      const q = attemptRowsQuery(f, { transcript: true });
      const plan = (s.store.db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(q.params) as { detail: string }[]).map((p) => p.detail);
      expect(plan.join('\n')).toContain('attempts_started');
      expect(plan.join('\n')).not.toContain('TEMP B-TREE');
    }
  });

  it('closes the statement when the consumer stops early', () => {
    for (const _ of iterateAttemptRows(s.store.db)) break;
    // An open iterator would make this write fail with "connection is busy".
    expect(() => s.store.db.prepare('DELETE FROM attempts WHERE id = 4').run()).not.toThrow();
  });
});
