import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportAttempts } from '../../../src-main/core/export/export';
import { QueueRepo } from '../../../src-main/core/store/queue-repo';
import { parseCsvStrict } from '../export/rfc4180';
import { HOUR, T0, attempt, seedStore, type Seeded } from '../export/seed';

let s: Seeded;
beforeEach(() => {
  s = seedStore();
  // An attempt carried by a relay that route 7 chose.
  new QueueRepo(s.store).recordOutcome(
    'm3',
    [attempt({ startedAt: T0 + 5 * HOUR, domain: 'plain.example', transport: 'relay1', routeId: 7, host: 'smtp.relay.example', results: [{ recipientId: s.rcpt.get('c@plain.example')!, status: 'delivered', code: 250, enhancedCode: null, reply: null }] })],
    [],
    null,
    T0 + 5 * HOUR,
  );
});
afterEach(() => s.cleanup());

async function text(format: 'csv' | 'json' | 'ndjson'): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
  await exportAttempts(s.store, { format }, out);
  return Buffer.concat(chunks).toString('utf8');
}

describe('every export carries the transport and route of each attempt (rules §13)', () => {
  it('CSV: transport and route columns', async () => {
    const [header, ...rows] = parseCsvStrict(await text('csv'));
    const obj = rows.map((r) => Object.fromEntries(r.map((v, i) => [header![i]!, v])));
    expect(header).toEqual(expect.arrayContaining(['transport', 'route']));
    expect(obj.at(-1)).toMatchObject({ transport: 'relay1', route: '7', host: 'smtp.relay.example' });
    expect(obj[0]).toMatchObject({ transport: 'direct', route: '' });
  });
  it('JSON and NDJSON: "transport" and "route"', async () => {
    const json = JSON.parse(await text('json')) as { transport: string; route: number | null }[];
    expect(json.at(-1)).toMatchObject({ transport: 'relay1', route: 7 });
    expect(json[0]).toMatchObject({ transport: 'direct', route: null });
    const nd = (await text('ndjson')).trim().split('\n').map((l) => JSON.parse(l) as { transport: string; route: number | null });
    expect(nd.at(-1)).toMatchObject({ transport: 'relay1', route: 7 });
  });
});
