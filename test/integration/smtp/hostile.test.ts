/**
 * Scripted peers for the cases a well-behaved server does not produce: HELO-only servers,
 * garbage, overlong lines, silence (timeouts), dropped connections.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { DeliveryError } from '../../../src-main/core/errors';
import { SmtpSession, type SmtpSessionOptions } from '../../../src-main/core/smtp/client';
import { serveBasic, startScriptedPeer, type Script, type ScriptedConnection, type ScriptedPeer } from '../../helpers/smtp-peer';

/** Greets and accepts EHLO, MAIL and one RCPT; returns having read the DATA command. */
async function acceptUntilData(c: ScriptedConnection): Promise<void> {
  c.write('220 x\r\n');
  await c.readLine();
  c.write('250 x\r\n');
  await c.readLine();
  c.write('250 ok\r\n');
  await c.readLine();
  c.write('250 ok\r\n');
  await c.readLine();
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function peerWith(script: Script): Promise<ScriptedPeer> {
  const peer = await startScriptedPeer(script);
  cleanups.push(() => peer.close());
  return peer;
}

async function open(peer: ScriptedPeer, extra: Partial<SmtpSessionOptions> = {}): Promise<SmtpSession> {
  const s = await SmtpSession.open({ socket: await peer.connect(), host: 'mx.example.test', ip: '127.0.0.1', ehloName: 'client.test', ...extra });
  cleanups.push(() => s.close());
  return s;
}

async function openFails(peer: ScriptedPeer, extra: Partial<SmtpSessionOptions> = {}): Promise<DeliveryError> {
  const err = await SmtpSession.open({ socket: await peer.connect(), host: 'mx.example.test', ip: '127.0.0.1', ehloName: 'client.test', ...extra }).then(
    () => {
      throw new Error('open succeeded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

const env = (rcptTo: string[]) => ({ mailFrom: 'a@client.test', rcptTo, size: 10 });
const body = () => Readable.from([Buffer.from('hello\r\n')]);

describe('EHLO and greeting', () => {
  it('falls back to HELO when EHLO gets 502: no extensions, lock-step transaction', async () => {
    const received: Buffer[] = [];
    const peer = await peerWith(async (c) => {
      c.write('220 old.test SMTP\r\n');
      expect(await c.readLine()).toBe('EHLO client.test');
      c.write('502 5.5.2 command not recognized\r\n');
      expect(await c.readLine()).toBe('HELO client.test');
      c.write('250 old.test\r\n');
      // From here on a plain server; its EHLO branch is never used.
      await serveBasic(c, { ehlo: [], greeting: '', onData: (b) => received.push(b) });
    });
    const seen: string[] = [];
    const s = await open(peer, { onTranscript: (l) => seen.push(`${l.dir} ${l.text}`) });
    expect(s.usedHelo).toBe(true);
    expect(s.capabilities.pipelining || s.capabilities.starttls || s.capabilities.eightBitMime).toBe(false);
    const r = await s.send(env(['x@example.test', 'y@example.test']), body);
    expect(r.dataAccepted).toBe(true);
    // Lock-step: every command is answered before the next is sent.
    const dirs = s.transcript.filter((l) => l.dir !== 'i').map((l) => l.dir).join('');
    expect(dirs).toBe('s' + 'cs'.repeat(2) + 'cs'.repeat(4) + 'cs');
    expect(received[0]!.toString()).toBe('hello\r\n');
    await s.quit();
    // Every transcript line was also published as it happened.
    expect(seen).toEqual(s.transcript.map((l) => `${l.dir} ${l.text}`));
    expect(seen).toContain('c QUIT');
    expect(peer.errors).toEqual([]);
  });

  it('a 4xx to EHLO is a temporary failure, not a reason for HELO', async () => {
    const peer = await peerWith(async (c) => {
      c.write('220 busy.test\r\n');
      await c.readLine();
      c.write('421 4.3.2 try later\r\n');
    });
    const err = await openFails(peer);
    expect(err).toMatchObject({ code: 'SMTP_REPLY', stage: 'ehlo', permanent: false, smtpCode: 421, enhancedCode: '4.3.2', command: 'EHLO client.test', host: 'mx.example.test', ip: '127.0.0.1', lines: ['4.3.2 try later'] });
    expect(peer.connections[0]!.lines).toEqual(['EHLO client.test']);
  });

  it('a 554 greeting is a permanent failure at stage greeting', async () => {
    const peer = await peerWith((c) => c.write('554 5.7.1 no service for you\r\n'));
    const err = await openFails(peer);
    expect(err).toMatchObject({ code: 'SMTP_REPLY', stage: 'greeting', permanent: true, smtpCode: 554 });
  });

  it('the connection closed before the greeting is CONNECTION_CLOSED, temporary', async () => {
    const peer = await peerWith((c) => c.destroy());
    const err = await openFails(peer);
    expect(err).toMatchObject({ code: 'CONNECTION_CLOSED', stage: 'greeting', permanent: false });
  });

  it('the connection closed after EHLO is CONNECTION_CLOSED at stage ehlo', async () => {
    const peer = await peerWith(async (c) => {
      c.write('220 x\r\n');
      await c.readLine();
      c.end();
    });
    const err = await openFails(peer);
    expect(err).toMatchObject({ code: 'CONNECTION_CLOSED', stage: 'ehlo', command: 'EHLO client.test' });
  });
});

describe('malformed replies are SMTP_PROTOCOL', () => {
  it.each([
    ['garbage greeting', 'HTTP/1.1 400 Bad Request\r\n', 'greeting'],
    ['binary garbage', '\u0000\u0001\u0002\r\n', 'greeting'],
    ['a 1xx code', '150 hmm\r\n', 'greeting'],
  ])('%s', async (_name, greeting, stage) => {
    const peer = await peerWith((c) => c.write(greeting));
    const err = await openFails(peer);
    expect(err).toMatchObject({ code: 'SMTP_PROTOCOL', stage, permanent: false, host: 'mx.example.test' });
  });

  it('inconsistent codes in the EHLO reply', async () => {
    const peer = await peerWith(async (c) => {
      c.write('220 x\r\n');
      await c.readLine();
      c.write('250-x\r\n550 STARTTLS\r\n');
    });
    expect(await openFails(peer)).toMatchObject({ code: 'SMTP_PROTOCOL', stage: 'ehlo' });
  });

  it('an endless multi-line EHLO reply', async () => {
    const peer = await peerWith(async (c) => {
      c.write('220 x\r\n');
      await c.readLine();
      c.write('250-x\r\n'.repeat(5000));
    });
    expect(await openFails(peer)).toMatchObject({ code: 'SMTP_PROTOCOL', stage: 'ehlo', message: expect.stringMatching(/more than 100 lines/) });
  });

  it('a line that never ends', async () => {
    const peer = await peerWith((c) => c.write('220 ' + 'x'.repeat(5000)));
    expect(await openFails(peer)).toMatchObject({ code: 'SMTP_PROTOCOL', stage: 'greeting' });
  });

  it('a garbage reply to MAIL ends the session', async () => {
    const peer = await peerWith(async (c) => {
      c.write('220 x\r\n');
      await c.readLine();
      c.write('250 x\r\n');
      expect(await c.readLine()).toMatch(/^MAIL FROM:/);
      c.write('hello there\r\n');
      await c.readLine();
    });
    const s = await open(peer);
    const err = await s.send(env(['b@example.test']), body).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SMTP_PROTOCOL', stage: 'mail', command: 'MAIL FROM:<a@client.test>', permanent: false });
    await expect(s.send(env(['b@example.test']), body)).rejects.toMatchObject({ code: 'SMTP_PROTOCOL' });
  });

  it('a 354 where a RCPT reply belongs is a protocol error', async () => {
    const peer = await peerWith(async (c) => {
      await serveBasic(c, { ehlo: [], rcpt: () => '354 what' });
    });
    const s = await open(peer);
    await expect(s.send(env(['b@example.test']), body)).rejects.toMatchObject({ code: 'SMTP_PROTOCOL', stage: 'rcpt' });
  });
});

describe('timeouts (RFC 5321 §4.5.3.2)', () => {
  it('greeting: the default 5 minutes, on the injected clock', async () => {
    const clock = new ManualClock();
    const peer = await peerWith(() => {}); // never says anything
    const opening = SmtpSession.open({ socket: await peer.connect(), host: 'mx.example.test', ip: '127.0.0.1', ehloName: 'client.test', clock }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(clock.pendingTimers).toBe(1));
    clock.advance(5 * 60_000 - 1);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(1);
    const err = await opening;
    expect(err).toMatchObject({ code: 'TIMEOUT', stage: 'greeting', permanent: false, host: 'mx.example.test', ip: '127.0.0.1' });
  });

  it('MAIL: a short configured timeout', async () => {
    const peer = await peerWith(async (c) => {
      c.write('220 x\r\n');
      await c.readLine();
      c.write('250 x\r\n');
      await c.readLine(); // MAIL, never answered
      await c.readLine();
    });
    const s = await open(peer, { timeouts: { mail: 50 } });
    const err = await s.send(env(['b@example.test']), body).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT', stage: 'mail', command: 'MAIL FROM:<a@client.test>', permanent: false });
  });

  it('final dot: the 10 minute default, on the injected clock', async () => {
    const clock = new ManualClock();
    const peer = await peerWith(async (c) => {
      await acceptUntilData(c);
      c.write('354 go\r\n');
      await c.readData(); // and then silence
      await c.readLine();
    });
    const s = await open(peer, { clock });
    const sending = s.send(env(['b@example.test']), body).catch((e: unknown) => e);
    await vi.waitFor(() => expect(s.transcript.some((l) => l.text.startsWith('[message body'))).toBe(true));
    clock.advance(10 * 60_000 - 1);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(1);
    expect(await sending).toMatchObject({ code: 'TIMEOUT', stage: 'data', command: '.' });
  });

  it('data block: a peer that stops reading makes the write time out', async () => {
    // The peer stops reading once it accepted DATA.
    const stalled = await peerWith(async (c) => {
      await acceptUntilData(c);
      c.pause();
      c.write('354 go\r\n');
    });
    const s = await open(stalled, { timeouts: { dataBlock: 100 } });
    // Far more than socket buffers hold, produced lazily: only backpressure can stop it.
    const endless = () => Readable.from((function* () {
      for (let i = 0; i < 100_000; i++) yield Buffer.alloc(64 * 1024, 'b');
    })());
    const err = await s.send({ ...env(['b@example.test']), size: 1 }, endless).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT', stage: 'data', permanent: false });
  });
});

describe('connection lost', () => {
  it('dropped mid-DATA is CONNECTION_CLOSED at stage data, temporary', async () => {
    const peer = await peerWith(async (c) => {
      await acceptUntilData(c);
      c.write('354 go\r\n');
      await c.readLine(); // first line of the body
      c.destroy();
    });
    const s = await open(peer);
    const big = () => Readable.from((function* () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, 'a\r\n');
    })());
    const err = await s.send({ ...env(['b@example.test']), size: 4 << 20 }, big).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err).toMatchObject({ code: 'CONNECTION_CLOSED', stage: 'data', permanent: false, host: 'mx.example.test' });
  });
});
