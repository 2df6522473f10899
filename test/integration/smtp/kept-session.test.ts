/**
 * The next transaction on a kept session (RFC 5321 §4.1.1.5 RSET, RFC 2920 §3.1 pipelining),
 * and the writes a transaction makes, seen from the socket the session writes to:
 *
 * - under PIPELINING, resetBeforeNext() puts RSET in the same write as MAIL, RCPT and DATA;
 *   without it, RSET goes lock-step before MAIL;
 * - the body and its final dot go out in one write, the bytes on the wire unchanged
 *   (dot-stuffing, CRLF, terminator);
 * - a 421 to that RSET, or the connection lost before its reply, rejects with failedAtReset
 *   (the caller opens a new session; nothing of the message was sent); a failure after a 250
 *   to RSET is the transaction's own (failedAtReset false).
 */
import type net from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../src-main/core/errors';
import { SmtpSession } from '../../../src-main/core/smtp/client';
import { startScriptedPeer, type ScriptedConnection, type ScriptedPeer } from '../../helpers/smtp-peer';

const peers: ScriptedPeer[] = [];
const sessions: SmtpSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.close();
  for (const p of peers.splice(0)) await p.close();
});

type OnReset = 'ok' | '421' | 'drop';

/** A server that takes transactions and answers the RSET before the second one as told. */
function server(opts: { pipelining: boolean; onReset: OnReset; mail?: string }, got: { data: Buffer[]; afterReset: string[] }) {
  return async (c: ScriptedConnection) => {
    c.write('220 kept.test ESMTP\r\n');
    let reset = false;
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      if (reset) got.afterReset.push(line);
      const verb = line.split(' ')[0]!.toUpperCase();
      if (verb === 'EHLO') c.write(opts.pipelining ? '250-kept.test\r\n250 PIPELINING\r\n' : '250 kept.test\r\n');
      else if (verb === 'MAIL') c.write(reset && opts.mail ? `${opts.mail}\r\n` : '250 2.1.0 ok\r\n');
      else if (verb === 'RCPT') c.write('250 2.1.5 ok\r\n');
      else if (verb === 'DATA') {
        if (reset && opts.mail) {
          c.write('503 5.5.1 no valid recipients\r\n');
          continue;
        }
        c.write('354 go ahead\r\n');
        got.data.push(await c.readData());
        c.write('250 2.0.0 queued\r\n');
      } else if (verb === 'RSET') {
        reset = true;
        if (opts.onReset === 'drop') return c.destroy();
        if (opts.onReset === '421') {
          c.write('421 4.4.2 kept.test closing transmission channel\r\n');
          return c.end();
        }
        c.write('250 2.0.0 ok\r\n');
      } else if (verb === 'QUIT') {
        c.write('221 bye\r\n');
        return c.end();
      } else c.write('502 5.5.1 no\r\n');
    }
  };
}

/** A session on `peer` whose socket writes are logged, one string per write() call. */
async function open(peer: ScriptedPeer): Promise<{ session: SmtpSession; writes: string[] }> {
  const socket = await peer.connect();
  const writes: string[] = [];
  const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
  (socket as unknown as { write: (...a: unknown[]) => boolean }).write = (chunk: unknown, ...rest: unknown[]) => {
    writes.push(Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk));
    return write(chunk, ...rest);
  };
  const session = await SmtpSession.open({ socket: socket as net.Socket, host: 'mx.kept.test', ip: '127.0.0.1', ehloName: 'client.test' });
  sessions.push(session);
  return { session, writes };
}

const env = (to: string, size: number) => ({ mailFrom: 'sender@client.test', rcptTo: [to], size });
const body = (s: string) => () => Readable.from([Buffer.from(s)]);
const MESSAGE = 'Subject: kept\r\n\r\n.leading dot\r\n..two\r\n.\r\nbare LF\nno final line end';
/** The same message on the wire: dot-stuffed, CRLF everywhere, the terminator. */
const WIRE = 'Subject: kept\r\n\r\n..leading dot\r\n...two\r\n..\r\nbare LF\r\nno final line end\r\n.\r\n';

async function setup(opts: Parameters<typeof server>[0]) {
  const got = { data: [] as Buffer[], afterReset: [] as string[] };
  const peer = await startScriptedPeer(server(opts, got));
  peers.push(peer);
  const { session, writes } = await open(peer);
  const first = await session.send(env('a@kept.test', MESSAGE.length), body(MESSAGE));
  expect(first.dataAccepted).toBe(true);
  return { peer, session, writes, got };
}

describe('the next transaction on a kept session', () => {
  it('PIPELINING: RSET, MAIL, RCPT and DATA in one write; the body and its final dot in one write, bytes unchanged', async () => {
    const { session, writes, got } = await setup({ pipelining: true, onReset: 'ok' });
    // The first transaction: one write for the command group, one for the data (with its dot).
    expect(writes.slice(-2)).toEqual(['MAIL FROM:<sender@client.test>\r\nRCPT TO:<a@kept.test>\r\nDATA\r\n', WIRE]);
    writes.length = 0;
    session.resetBeforeNext();
    const second = await session.send(env('b@kept.test', MESSAGE.length), body(MESSAGE));
    expect(second.dataAccepted).toBe(true);
    expect(second.recipients[0]).toMatchObject({ status: 'accepted', code: 250 });
    expect(writes).toEqual(['RSET\r\nMAIL FROM:<sender@client.test>\r\nRCPT TO:<b@kept.test>\r\nDATA\r\n', WIRE]);
    expect(session.failedAtReset).toBe(false);
    // The server read the same data twice (as it is on the wire, up to the terminator).
    expect(got.data.map((d) => d.toString('latin1'))).toEqual([WIRE.slice(0, -3), WIRE.slice(0, -3)]);
    // Only once: a later transaction without resetBeforeNext() has no RSET.
    writes.length = 0;
    await session.send(env('c@kept.test', MESSAGE.length), body(MESSAGE));
    expect(writes[0]).toBe('MAIL FROM:<sender@client.test>\r\nRCPT TO:<c@kept.test>\r\nDATA\r\n');
  });

  it('without PIPELINING: RSET lock-step, its 250 awaited before MAIL', async () => {
    const { session, writes } = await setup({ pipelining: false, onReset: 'ok' });
    writes.length = 0;
    session.resetBeforeNext();
    const second = await session.send(env('b@kept.test', MESSAGE.length), body(MESSAGE));
    expect(second.dataAccepted).toBe(true);
    expect(writes).toEqual(['RSET\r\n', 'MAIL FROM:<sender@client.test>\r\n', 'RCPT TO:<b@kept.test>\r\n', 'DATA\r\n', WIRE]);
  });

  for (const pipelining of [true, false]) {
    for (const onReset of ['421', 'drop'] as const) {
      it(`${onReset === '421' ? 'a 421 to' : 'the connection lost at'} the RSET (${pipelining ? 'pipelined' : 'lock-step'}): rejects with failedAtReset, no message data sent`, async () => {
        const { session, writes, got } = await setup({ pipelining, onReset });
        writes.length = 0;
        session.resetBeforeNext();
        const err = await session.send(env('b@kept.test', MESSAGE.length), body(MESSAGE)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DeliveryError);
        expect(err).toMatchObject(onReset === '421' ? { code: 'SMTP_REPLY', smtpCode: 421, command: 'RSET', permanent: false } : { code: 'CONNECTION_CLOSED', command: 'RSET', permanent: false });
        expect(session.failedAtReset).toBe(true);
        expect(session.broken).toBe(true);
        // Nothing of the message went out: no data after the commands.
        expect(writes.some((w) => w.includes('Subject'))).toBe(false);
        expect(got.data).toHaveLength(1);
        if (!pipelining) expect(writes).toEqual(['RSET\r\n']);
      });
    }
  }

  it('RSET answered 250, then MAIL refused with 421: the transaction failed, not the reset', async () => {
    const { session } = await setup({ pipelining: true, onReset: 'ok', mail: '421 4.3.2 shutting down' });
    session.resetBeforeNext();
    const err = await session.send(env('b@kept.test', MESSAGE.length), body(MESSAGE)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SMTP_REPLY', smtpCode: 421, stage: 'mail' });
    expect(session.failedAtReset).toBe(false);
  });

  it('a multi-chunk body: each chunk but the last written alone, the last with the dot; bytes unchanged', async () => {
    const { session, writes, got } = await setup({ pipelining: true, onReset: 'ok' });
    writes.length = 0;
    const chunks = ['Subject: big\r\n\r\n', '.a\r\n', 'b\n.', '\r\nend'];
    const r = await session.send(env('b@kept.test', 40), () => Readable.from(chunks.map((c) => Buffer.from(c))));
    expect(r.dataAccepted).toBe(true);
    expect(writes.slice(1)).toEqual(['Subject: big\r\n\r\n', '..a\r\n', 'b\r\n..', '\r\nend\r\n.\r\n']);
    expect(got.data.at(-1)!.toString()).toBe('Subject: big\r\n\r\n..a\r\nb\r\n..\r\nend\r\n');
  });
});
