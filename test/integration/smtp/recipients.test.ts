/**
 * Recipients in one transaction (delivery-rules §8): LIMITS RCPTMAX (RFC 9422), "too many
 * recipients" 452/552 (RFC 5321 §4.5.3.1.10), MAIL refusals with pipelining (RFC 2920),
 * REQUIRETLS on MAIL (RFC 8689).
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpSession } from '../../../src-main/core/smtp/client';
import { serveBasic, startScriptedPeer, type Script, type ScriptedPeer } from '../../helpers/smtp-peer';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function session(script: Script): Promise<{ peer: ScriptedPeer; s: SmtpSession }> {
  const peer = await startScriptedPeer(script);
  cleanups.push(() => peer.close());
  const s = await SmtpSession.open({ socket: await peer.connect(), host: 'mx.example.test', ip: '127.0.0.1', ehloName: 'client.test' });
  cleanups.push(() => s.close());
  return { peer, s };
}

const env = (rcptTo: string[], extra = {}) => ({ mailFrom: 'a@client.test', rcptTo, size: 7, ...extra });
const body = () => Readable.from([Buffer.from('hello\r\n')]);
const rcptLines = (peer: ScriptedPeer) => peer.connections[0]!.lines.filter((l) => l.startsWith('RCPT'));

describe('recipient limits', () => {
  it('LIMITS RCPTMAX=1: one RCPT per transaction, the rest not attempted, then the next transaction', async () => {
    const bodies: Buffer[] = [];
    const { peer, s } = await session((c) => serveBasic(c, { ehlo: ['PIPELINING', 'LIMITS RCPTMAX=1'], onData: (b) => bodies.push(b) }));
    expect(s.capabilities.rcptMax).toBe(1);
    const rcpts = ['x@example.test', 'y@example.test', 'z@example.test'];
    const first = await s.send(env(rcpts), body);
    expect(first.recipients.map((r) => r.status)).toEqual(['accepted', 'not-attempted', 'not-attempted']);
    expect(first.recipients[1]).toMatchObject({ code: undefined, permanent: false });
    expect(rcptLines(peer)).toEqual(['RCPT TO:<x@example.test>']);

    const second = await s.send(env(first.recipients.filter((r) => r.status === 'not-attempted').map((r) => r.address)), body);
    expect(second.recipients.map((r) => r.status)).toEqual(['accepted', 'not-attempted']);
    expect(rcptLines(peer)).toEqual(['RCPT TO:<x@example.test>', 'RCPT TO:<y@example.test>']);
    expect(bodies).toHaveLength(2);
    await s.quit();
    expect(peer.errors).toEqual([]);
  });

  it('452 on the second RCPT (lock-step): that one and the rest are not attempted, the first is delivered', async () => {
    const { peer, s } = await session((c) =>
      serveBasic(c, { ehlo: ['8BITMIME'], rcpt: (_a, i) => (i === 0 ? '250 2.1.5 ok' : '452 4.5.3 too many recipients') }),
    );
    const r = await s.send(env(['x@example.test', 'y@example.test', 'z@example.test']), body);
    expect(r.dataAccepted).toBe(true);
    expect(r.recipients.map((x) => x.status)).toEqual(['accepted', 'not-attempted', 'not-attempted']);
    expect(r.recipients[1]).toMatchObject({ code: 452, enhancedCode: '4.5.3', permanent: false });
    // Lock-step: after the 452 no further RCPT is sent.
    expect(rcptLines(peer)).toHaveLength(2);
  });

  it('452 on the second RCPT (pipelined): every 452 after the first recipient is not attempted', async () => {
    const { s } = await session((c) =>
      serveBasic(c, { ehlo: ['PIPELINING'], rcpt: (_a, i) => (i === 0 ? '250 ok' : '452 4.5.3 too many recipients') }),
    );
    const r = await s.send(env(['x@example.test', 'y@example.test', 'z@example.test']), body);
    expect(r.dataAccepted).toBe(true);
    expect(r.recipients.map((x) => x.status)).toEqual(['accepted', 'not-attempted', 'not-attempted']);
  });

  it('historic 552 "too many recipients" on the second RCPT is not attempted; a 552 "mailbox full" is a rejection', async () => {
    const { s } = await session((c) =>
      serveBasic(c, {
        ehlo: ['PIPELINING'],
        rcpt: (a) => (a.startsWith('full') ? '552 5.2.2 mailbox full' : a.startsWith('many') ? '552 too many recipients' : '250 ok'),
      }),
    );
    const r = await s.send(env(['x@example.test', 'full@example.test', 'many@example.test']), body);
    expect(r.recipients.map((x) => x.status)).toEqual(['accepted', 'rejected', 'not-attempted']);
    expect(r.recipients[1]).toMatchObject({ code: 552, permanent: true });
  });

  it('452 on the first RCPT is a temporary rejection (not a recipient limit)', async () => {
    const { s } = await session((c) => serveBasic(c, { ehlo: ['PIPELINING'], rcpt: () => '452 4.2.2 over quota' }));
    const r = await s.send(env(['x@example.test']), body);
    expect(r.recipients[0]).toMatchObject({ status: 'rejected', code: 452, permanent: false });
    expect(r.dataAccepted).toBe(false);
  });
});

describe('pipelined refusals', () => {
  it('MAIL refused: SMTP_REPLY at stage mail after reading every pipelined reply; the session stays usable', async () => {
    let mails = 0;
    const { peer, s } = await session(async (c) => {
      c.write('220 x\r\n');
      await c.readLine();
      c.write('250-x\r\n250 PIPELINING\r\n');
      for (;;) {
        const line = await c.readLine();
        if (line === null) return;
        if (line.startsWith('MAIL')) c.write(mails++ === 0 ? '550 5.7.1 sender refused\r\n' : '250 ok\r\n');
        else if (line.startsWith('RCPT')) c.write(mails === 1 ? '503 5.5.1 need MAIL\r\n' : '250 ok\r\n');
        else if (line === 'DATA') {
          if (mails === 1) c.write('503 5.5.1 need RCPT\r\n');
          else {
            c.write('354 go\r\n');
            await c.readData();
            c.write('250 queued\r\n');
          }
        } else if (line === 'QUIT') {
          c.write('221 bye\r\n');
          return;
        }
      }
    });
    const err = await s.send(env(['x@example.test', 'y@example.test']), body).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SMTP_REPLY', stage: 'mail', smtpCode: 550, enhancedCode: '5.7.1', permanent: true, command: 'MAIL FROM:<a@client.test>' });
    const ok = await s.send(env(['x@example.test']), body);
    expect(ok.dataAccepted).toBe(true);
    await s.quit();
    expect(peer.errors).toEqual([]);
  });

  it('all RCPTs refused but DATA got 354: the client sends only the terminating dot', async () => {
    const { peer, s } = await session(async (c) => {
      c.write('220 x\r\n');
      await c.readLine();
      c.write('250-x\r\n250 PIPELINING\r\n');
      await c.readLine();
      await c.readLine();
      await c.readLine();
      c.write('250 ok\r\n550 5.1.1 no such user\r\n354 go ahead anyway\r\n');
      const data = await c.readData();
      expect(data.length).toBe(0);
      c.write('554 5.5.0 no valid recipients\r\n');
      expect(await c.readLine()).toBe('QUIT');
      c.write('221 bye\r\n');
    });
    const r = await s.send(env(['nobody@example.test']), body);
    expect(r.recipients[0]).toMatchObject({ status: 'rejected', code: 550, permanent: true });
    expect(r.dataAccepted).toBe(false);
    expect(r.bytesSent).toBe(0);
    await s.quit();
    expect(peer.errors).toEqual([]);
  });
});

describe('REQUIRETLS (RFC 8689)', () => {
  it('sends MAIL FROM with REQUIRETLS when announced', async () => {
    const { peer, s } = await session((c) => serveBasic(c, { ehlo: ['REQUIRETLS', 'SIZE 100'] }));
    const r = await s.send(env(['x@example.test'], { requireTls: true }), body);
    expect(r.dataAccepted).toBe(true);
    expect(peer.connections[0]!.lines).toContain('MAIL FROM:<a@client.test> SIZE=7 REQUIRETLS');
  });

  it('refuses to send when the server does not announce it', async () => {
    const { peer, s } = await session((c) => serveBasic(c, { ehlo: ['PIPELINING'] }));
    await expect(s.send(env(['x@example.test'], { requireTls: true }), body)).rejects.toMatchObject({
      code: 'REQUIRETLS_UNSUPPORTED',
      permanent: true,
      enhancedCode: '5.7.30',
    });
    expect(peer.connections[0]!.lines.some((l) => l.startsWith('MAIL'))).toBe(false);
  });
});
