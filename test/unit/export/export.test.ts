import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../../src-main/core/export/formats';
import { exportAttempts, exportMessageEml } from '../../../src-main/core/export/export';
import { DeliveryError } from '../../../src-main/core/errors';
import { QueueRepo } from '../../../src-main/core/store/queue-repo';
import { newMessage } from '../store/fixtures';
import { parseCsvStrict } from './rfc4180';
import { EML, HOSTILE, HOUR, T0, attempt, seedStore, type Seeded } from './seed';

let s: Seeded;
beforeEach(() => {
  s = seedStore();
});
afterEach(() => s.cleanup());

/** A Writable that keeps what it gets; `slow` completes each write on a later turn. */
function sink(opts: { slow?: boolean; highWaterMark?: number; onWrite?: (n: number, self: Writable) => void } = {}) {
  const chunks: Buffer[] = [];
  let writes = 0;
  let maxBuffered = 0;
  const stream = new Writable({
    highWaterMark: opts.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      maxBuffered = Math.max(maxBuffered, this.writableLength);
      chunks.push(chunk);
      try {
        opts.onWrite?.(++writes, this);
      } catch (e) {
        cb(e as Error);
        return;
      }
      if (opts.slow) setImmediate(cb);
      else cb();
    },
  });
  return {
    stream,
    buffer: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString('utf8'),
    maxBuffered: () => maxBuffered,
  };
}

async function rejection(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DeliveryError);
    return e as DeliveryError;
  }
  throw new Error('expected a rejection');
}

const FORMULA_START = /^[=+\-@\t\r\n]/;

describe('exportAttempts csv', () => {
  it('writes RFC 4180 CSV that parses back strictly, with every formula neutralised', async () => {
    const out = sink();
    const { rows } = await exportAttempts(s.store, { format: 'csv' }, out.stream);
    expect(rows).toBe(5);
    expect(out.stream.writableFinished).toBe(true);
    const text = out.text();
    expect(text.endsWith('\r\n')).toBe(true);
    const records = parseCsvStrict(text);
    expect(records[0]).toEqual(CSV_COLUMNS.map((c) => c.header));
    expect(records).toHaveLength(6);
    const objs = records.slice(1).map((r) => Object.fromEntries(r.map((v, i) => [records[0]![i]!, v])));

    // No cell can start a formula, yet the text survives behind the quote.
    for (const r of records) for (const cell of r) expect(FORMULA_START.test(cell), JSON.stringify(cell)).toBe(false);
    expect(objs[0]).toMatchObject({
      time: '2024-05-01T10:00:00.000Z',
      message_id: 'm1',
      recipient: 'a@example.org',
      status: 'delivered',
      ip: '127.0.0.1',
      tls_version: 'TLSv1.3',
      verification: 'pkix',
      policy: 'mta-sts enforce',
      tlsrpt_policy: 'sts',
      plaintext_fallback: 'false',
      code: '250',
      subject: `'${HOSTILE.at}`,
    });
    expect(objs[1]).toMatchObject({ recipient: `'${HOSTILE.hyperlink}@example.org`, reply: `'${HOSTILE.hyperlink}`, code: '550' });
    // The attempt without results: empty recipient, the attempt's multi-line reply intact.
    expect(objs[2]).toMatchObject({ recipient: '', status: 'deferred', stage: 'dns', host: '', reply: HOSTILE.multiline, subject: HOSTILE.nonAscii });
    expect(objs[3]).toMatchObject({ reply: `'${HOSTILE.plus}`, verification_reason: `'${HOSTILE.minus}`, policy: 'dane + mta-sts testing' });
    expect(objs[4]).toMatchObject({ host: `'${HOSTILE.tab}`, verification_reason: `'${HOSTILE.cr}`, plaintext_fallback: 'true', subject: HOSTILE.multiline });
  });

  it('has a tls_resumed column right after reused_session, true only for a resumed TLS session', async () => {
    const out = sink();
    await exportAttempts(s.store, { format: 'csv' }, out.stream);
    const [header, ...records] = parseCsvStrict(out.text());
    const at = header!.indexOf('tls_resumed');
    expect(at).toBe(header!.indexOf('reused_session') + 1);
    // Attempt 3 (the DANE host) resumed its TLS session; the others did a full handshake.
    expect(records.map((r) => [r[header!.indexOf('attempt_id')], r[at]])).toEqual([
      ['1', 'false'],
      ['1', 'false'],
      ['2', 'false'],
      ['3', 'true'],
      ['4', 'false'],
    ]);
  });

  it('starts with a BOM only when asked', async () => {
    const out = sink();
    await exportAttempts(s.store, { format: 'csv', bom: true, status: 'failed' }, out.stream);
    const buf = out.buffer();
    expect([...buf.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(parseCsvStrict(buf.subarray(3).toString('utf8'))).toHaveLength(2);
  });
});

describe('exportAttempts json and ndjson', () => {
  it('writes one JSON array with the transcript', async () => {
    const out = sink();
    const { rows } = await exportAttempts(s.store, { format: 'json' }, out.stream);
    const parsed = JSON.parse(out.text()) as Record<string, unknown>[];
    expect(parsed).toHaveLength(rows);
    expect(parsed.map((r) => r.recipient)).toEqual(['a@example.org', `${HOSTILE.hyperlink}@example.org`, null, 'jörg@xn--bcher-kva.example', 'c@plain.example']);
    expect(parsed[0]!.transcript).toEqual(s.transcript1);
    expect(parsed[1]).toMatchObject({ reply: HOSTILE.hyperlink, subject: HOSTILE.at, code: 550, status: 'failed' });
    expect(parsed[2]).toMatchObject({ reply: HOSTILE.multiline, subject: HOSTILE.nonAscii, transcript: [] });
  });

  it('writes NDJSON: one object per line, line breaks in values escaped', async () => {
    const out = sink();
    await exportAttempts(s.store, { format: 'ndjson' }, out.stream);
    const text = out.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(5);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[4]).toMatchObject({ host: HOSTILE.tab, verificationReason: HOSTILE.cr, plaintextFallback: true, subject: HOSTILE.multiline });
    expect(parsed[1]!.transcript).toEqual(s.transcript1);
  });

  it('carries tlsResumed right after reusedSession, in JSON and NDJSON', async () => {
    for (const format of ['json', 'ndjson'] as const) {
      const out = sink();
      await exportAttempts(s.store, { format }, out.stream);
      const text = out.text();
      const parsed = (format === 'json' ? JSON.parse(text) : text.trim().split('\n').map((l) => JSON.parse(l))) as Record<string, unknown>[];
      expect(parsed.map((r) => [r.attemptId, r.tlsResumed])).toEqual([
        [1, false],
        [1, false],
        [2, false],
        [3, true],
        [4, false],
      ]);
      const keys = Object.keys(parsed[0]!);
      expect(keys.indexOf('tlsResumed')).toBe(keys.indexOf('reusedSession') + 1);
    }
  });

  it('applies since/until/status/domain', async () => {
    const run = async (o: Omit<Parameters<typeof exportAttempts>[1], 'format'>) => {
      const out = sink();
      await exportAttempts(s.store, { format: 'ndjson', ...o }, out.stream);
      return out
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { attemptId: number }).attemptId);
    };
    expect(await run({ since: '2024-05-01T11:00:00Z', until: T0 + 3 * HOUR })).toEqual([2, 3]);
    expect(await run({ since: T0 + 3 * HOUR })).toEqual([4]);
    expect(await run({ until: T0 })).toEqual([]);
    expect(await run({ status: 'delivered', domain: 'Example.ORG' })).toEqual([1]);
    const empty = sink();
    expect(await exportAttempts(s.store, { format: 'json', until: T0 }, empty.stream)).toEqual({ rows: 0 });
    expect(JSON.parse(empty.text())).toEqual([]);
  });
});

describe('exportAttempts streaming', () => {
  function addAttempts(n: number): void {
    const id = s.rcpt.get('a@example.org')!;
    const recs = Array.from({ length: n }, (_, i) =>
      attempt({ startedAt: T0 + 10 * HOUR + i, reply: `reply ${i} ${'x'.repeat(100)}`, results: [{ recipientId: id, status: 'deferred', code: 451, enhancedCode: '4.3.0', reply: null }] }),
    );
    new QueueRepo(s.store).recordOutcome('m1', recs, [], null, T0);
  }

  it('waits for drain: the destination never buffers more than about one chunk', async () => {
    addAttempts(2000);
    const out = sink({ slow: true, highWaterMark: 256 });
    const { rows } = await exportAttempts(s.store, { format: 'csv', chunkChars: 1024 }, out.stream);
    expect(rows).toBe(2005);
    expect(out.buffer().length).toBeGreaterThan(300_000);
    // Without backpressure the writes would pile up in the Writable's buffer.
    expect(out.maxBuffered()).toBeLessThan(8 * 1024);
    expect(parseCsvStrict(out.text())).toHaveLength(2006);
  });

  it('does not block the queue: writes on the main connection succeed mid-export', async () => {
    addAttempts(500);
    let wrote = false;
    const out = sink({
      slow: true,
      highWaterMark: 64,
      onWrite: (n) => {
        if (n !== 2) return;
        // The export is paused between chunks with its statement open; the queue records an outcome.
        s.store.insertMessage(newMessage('late', T0 + 20 * HOUR, ['late@example.org']));
        s.store.db.prepare("INSERT INTO attempts (message_id, started_at, domain) VALUES ('late', ?, 'example.org')").run(T0 + 20 * HOUR);
        wrote = true;
      },
    });
    const { rows } = await exportAttempts(s.store, { format: 'ndjson', chunkChars: 512 }, out.stream);
    expect(wrote).toBe(true);
    // The export read one snapshot, taken before the late attempt.
    expect(rows).toBe(505);
    expect((s.store.db.prepare('SELECT count(*) AS n FROM attempts').get() as { n: number }).n).toBe(505);
  });

  it('rejects with a DeliveryError when the destination fails, without crashing', async () => {
    addAttempts(300);
    const out = sink({
      slow: true,
      highWaterMark: 64,
      onWrite: (n) => {
        if (n === 3) throw new Error('disk full');
      },
    });
    const err = await rejection(exportAttempts(s.store, { format: 'csv', chunkChars: 256 }, out.stream));
    expect(err.stage).toBe('store');
    expect(err.message).toContain('disk full');
    // The reader connection and its statement are closed: the store still writes.
    expect(() => s.store.db.prepare('DELETE FROM attempts').run()).not.toThrow();
  });

  it('rejects when the destination is destroyed while the export waits for drain', async () => {
    addAttempts(300);
    const out = sink({
      slow: true,
      highWaterMark: 64,
      onWrite: (n, self) => {
        if (n === 2) setImmediate(() => self.destroy());
      },
    });
    const err = await rejection(exportAttempts(s.store, { format: 'json', chunkChars: 256 }, out.stream));
    expect(err.code).toBe('INTERNAL');
  });

  it('stops with CANCELED when the signal aborts', async () => {
    addAttempts(300);
    const ac = new AbortController();
    const out = sink({ slow: true, highWaterMark: 64, onWrite: (n) => n === 2 && ac.abort() });
    const err = await rejection(exportAttempts(s.store, { format: 'ndjson', chunkChars: 256, signal: ac.signal }, out.stream));
    expect(err.code).toBe('CANCELED');
  });

  it('rejects bad options before writing anything, and honours end: false', async () => {
    for (const o of [{ format: 'xml' as never }, { format: 'csv' as const, since: 'last week' }, { format: 'csv' as const, status: 'bounced' as never }]) {
      const out = sink();
      const err = await rejection(exportAttempts(s.store, o, out.stream));
      expect(err.code).toBe('INVALID_INPUT');
      expect(out.buffer().length).toBe(0);
    }
    const out = sink();
    await exportAttempts(s.store, { format: 'ndjson', end: false }, out.stream);
    expect(out.stream.writableEnded).toBe(false);
    out.stream.end();
  });
});

describe('exportMessageEml', () => {
  it('streams the stored file byte for byte', async () => {
    const out = sink({ slow: true, highWaterMark: 16 });
    const { bytes } = await exportMessageEml(s.store, 'm2', out.stream);
    expect(out.buffer().equals(EML)).toBe(true);
    expect(out.buffer().equals(fs.readFileSync(path.join(s.dir, 'messages', 'm2.eml')))).toBe(true);
    expect(bytes).toBe(EML.length);
    expect(out.stream.writableFinished).toBe(true);
  });

  it('streams a large file completely', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 'a');
    fs.writeFileSync(path.join(s.dir, 'messages', 'm1.eml'), big);
    const out = sink({ slow: true });
    await exportMessageEml(s.store, 'm1', out.stream);
    expect(out.buffer().equals(big)).toBe(true);
  });

  it('rejects an unknown message with INVALID_INPUT', async () => {
    const err = await rejection(exportMessageEml(s.store, 'nope', sink().stream));
    expect(err.code).toBe('INVALID_INPUT');
  });

  it('refuses a stored path that leads outside the data folder', async () => {
    const outside = path.join(path.dirname(s.dir), `${path.basename(s.dir)}-secret.txt`);
    fs.writeFileSync(outside, 'secret');
    try {
      s.store.db.prepare('UPDATE messages SET raw_path = ? WHERE id = ?').run(`../${path.basename(outside)}`, 'm1');
      const out1 = sink();
      expect((await rejection(exportMessageEml(s.store, 'm1', out1.stream))).code).toBe('INTERNAL');
      // A symlink inside messages/ pointing out is refused too.
      fs.symlinkSync(outside, path.join(s.dir, 'messages', 'link.eml'));
      s.store.db.prepare('UPDATE messages SET raw_path = ? WHERE id = ?').run('messages/link.eml', 'm1');
      const out2 = sink();
      expect((await rejection(exportMessageEml(s.store, 'm1', out2.stream))).code).toBe('INTERNAL');
      s.store.db.prepare('UPDATE messages SET raw_path = ? WHERE id = ?').run('messages', 'm1');
      expect((await rejection(exportMessageEml(s.store, 'm1', sink().stream))).code).toBe('INTERNAL');
      expect(out1.buffer().length + out2.buffer().length).toBe(0);
    } finally {
      fs.rmSync(outside, { force: true });
    }
  });

  it('rejects when the file is missing', async () => {
    fs.rmSync(path.join(s.dir, 'messages', 'm3.eml'));
    const err = await rejection(exportMessageEml(s.store, 'm3', sink().stream));
    expect(err.message).toContain('missing');
  });
});
