/**
 * Issue 14 item 2 against REAL Postfix (test/peers): several messages to one domain in one
 * queue run share a session — real Postfix takes RSET, pipelined with the next transaction, on
 * the same STARTTLS connection — and the delivery log says which attempts reused a session. Postfix
 * logs one "connect from" for the kept session, however many messages it carried.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freshDataDir, peerFlags, runCli, unique } from './cli';
import type { Peers } from './peers';
import { usePeers } from './use-peers';

let peers: Peers;
let release: () => Promise<void>;

beforeAll(async () => {
  ({ peers, release } = await usePeers());
});
afterAll(() => release?.());

test('item 2: twelve messages to tls.test in one run: every one delivered, later ones on a reused session (RSET accepted by Postfix)', async () => {
  const dir = freshDataDir();
  const flags = peerFlags(peers, dir);
  const rcpts = Array.from({ length: 12 }, () => `${unique('reuse')}@tls.test`);
  const connectsBefore = (await peers.postfixLog('connect from')).filter((l) => !l.includes('disconnect')).length;
  for (const to of rcpts) {
    const r = await runCli(['send', ...flags, '--from', 'Sender <sender@outbox.test>', '--to', to, '--subject', 'reuse', '--text', '-'], 'Kept session.\n');
    expect(r.code, r.stderr).toBe(0);
  }
  const run = await runCli(['run', '--once', '--no-tls-reports', ...flags]);
  expect(run.code, run.stderr).toBe(0);
  for (const to of rcpts) expect(await peers.waitForMail(to)).toHaveLength(1);

  const exp = await runCli(['export', '--format', 'json', ...flags]);
  expect(exp.code, exp.stderr).toBe(0);
  const rows = JSON.parse(exp.stdout) as { recipient: string; status: string; reusedSession: boolean; verification: string; transcript?: { dir: string; text: string }[] }[];
  const mine = rows.filter((r) => rcpts.includes(r.recipient));
  expect(mine).toHaveLength(12);
  expect(mine.every((r) => r.status === 'delivered' && r.verification === 'pkix')).toBe(true);
  const reused = mine.filter((r) => r.reusedSession);
  // More due messages than the first per-domain concurrency (slow start at 5): a delivery that
  // ends gives its session back before the next message takes its slot, which reuses it.
  expect(reused.length).toBeGreaterThanOrEqual(1);
  for (const r of reused) {
    const t = r.transcript ?? [];
    const rset = t.findIndex((l) => l.dir === 'c' && l.text === 'RSET');
    expect(rset).toBeGreaterThanOrEqual(0);
    // RFC 2920 §3.1: RSET goes in one group with MAIL, RCPT and DATA (Postfix announces
    // PIPELINING); the replies come in order, the first one answering the RSET.
    expect(t[rset + 1]).toMatchObject({ dir: 'c' });
    expect(t[rset + 1]!.text).toMatch(/^MAIL FROM:/);
    const reply = t.slice(rset + 1).find((l) => l.dir === 's');
    expect(reply?.text).toMatch(/^250 /);
  }
  // Postfix saw fewer connections than messages.
  const connectsAfter = (await peers.postfixLog('connect from')).filter((l) => !l.includes('disconnect')).length;
  expect(connectsAfter - connectsBefore).toBeLessThanOrEqual(12 - reused.length);
});
