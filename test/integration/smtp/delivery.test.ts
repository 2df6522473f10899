/**
 * The session against a real SMTP server implementation (smtp-server) on loopback: pipelined
 * delivery, dot-stuffing round trip, per-recipient results, SIZE, SMTPUTF8, a large body.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryError } from '../../../src-main/core/errors';
import { SmtpSession, type Envelope } from '../../../src-main/core/smtp/client';
import { startSmtpPeer, type SmtpPeer, type SmtpPeerOptions } from '../../helpers/smtp-peer';

let peer: SmtpPeer | undefined;
const sessions: SmtpSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.close();
  await peer?.close();
  peer = undefined;
});

async function open(opts: SmtpPeerOptions = {}): Promise<{ peer: SmtpPeer; session: SmtpSession }> {
  peer = await startSmtpPeer(opts);
  const session = await SmtpSession.open({ socket: await peer.connect(), host: 'mx.example.test', ip: '127.0.0.1', ehloName: 'client.test' });
  sessions.push(session);
  return { peer, session };
}

const env = (rcptTo: string[], size: number, extra: Partial<Envelope> = {}): Envelope => ({ mailFrom: 'sender@client.test', rcptTo, size, ...extra });
const bodyOf = (s: string | Buffer) => () => Readable.from([Buffer.from(s)]);

describe('SmtpSession against smtp-server', () => {
  it('delivers to 3 recipients in one pipelined transaction, dot-stuffed body intact', async () => {
    const { peer, session } = await open({ size: 10_000_000 });
    expect(session.capabilities.pipelining).toBe(true);
    expect(session.capabilities.eightBitMime).toBe(true);
    const message = 'Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\nbare LF line\n';
    const progress: number[] = [];
    const result = await session.send(env(['a@example.test', 'b@example.test', 'c@example.test'], message.length), bodyOf(message), {
      onProgress: (n) => progress.push(n),
    });

    expect(result.dataAccepted).toBe(true);
    expect(result.recipients.map((r) => [r.address, r.status, r.code])).toEqual([
      ['a@example.test', 'accepted', 250],
      ['b@example.test', 'accepted', 250],
      ['c@example.test', 'accepted', 250],
    ]);
    expect(progress.at(-1)).toBe(message.length);
    expect(peer.messages).toHaveLength(1);
    const got = peer.messages[0]!;
    expect(got.mailFrom).toBe('sender@client.test');
    expect(got.rcptTo).toEqual(['a@example.test', 'b@example.test', 'c@example.test']);
    // smtp-server un-stuffs the dots: what arrives is the message with CRLF line ends.
    expect(got.body.toString()).toBe(message.replace(/\r?\n/g, '\r\n'));
    expect(got.mailParams).toMatchObject({ SIZE: String(message.length) });

    // Pipelining: MAIL, the RCPTs and DATA were logged as one group before any reply.
    const t = session.transcript.map((l) => `${l.dir} ${l.text}`);
    const mailAt = t.findIndex((l) => l.startsWith('c MAIL FROM:<sender@client.test>'));
    expect(t.slice(mailAt, mailAt + 5)).toEqual([
      `c MAIL FROM:<sender@client.test> SIZE=${message.length}`,
      'c RCPT TO:<a@example.test>',
      'c RCPT TO:<b@example.test>',
      'c RCPT TO:<c@example.test>',
      'c DATA',
    ]);
    // The body never enters the transcript.
    expect(t.some((l) => l.includes('leading dot'))).toBe(false);
    expect(t).toContain(`c [message body, ${result.bytesSent} bytes]`);
    await session.quit();
  });

  it('one recipient refused with 550 while the others are accepted', async () => {
    const { peer, session } = await open({ rejectRcpt: { 'nobody@example.test': 550 } });
    const result = await session.send(env(['a@example.test', 'nobody@example.test', 'c@example.test'], 10), bodyOf('hello\r\n'));
    const byAddr = Object.fromEntries(result.recipients.map((r) => [r.address, r]));
    expect(byAddr['a@example.test']).toMatchObject({ status: 'accepted', code: 250 });
    expect(byAddr['c@example.test']).toMatchObject({ status: 'accepted', code: 250 });
    expect(byAddr['nobody@example.test']).toMatchObject({ status: 'rejected', code: 550, enhancedCode: '5.1.1', permanent: true, stage: 'rcpt', errorCode: 'SMTP_REPLY' });
    expect(peer.messages[0]!.rcptTo).toEqual(['a@example.test', 'c@example.test']);
  });

  it('a temporary 450 on a recipient is a temporary rejection', async () => {
    const { session } = await open({ rejectRcpt: { 'later@example.test': 450 } });
    const result = await session.send(env(['later@example.test'], 10), bodyOf('hello\r\n'));
    expect(result.recipients[0]).toMatchObject({ status: 'rejected', code: 450, permanent: false });
    expect(result.dataAccepted).toBe(false);
    // No recipient accepted: the transaction was reset, the session is still usable.
    expect(session.transcript.some((l) => l.text === 'RSET')).toBe(true);
    const again = await session.send(env(['ok@example.test'], 10), bodyOf('hello\r\n'));
    expect(again.recipients[0]!.status).toBe('accepted');
  });

  it('a refusal of the data applies to every accepted recipient', async () => {
    const { session } = await open({ rejectData: 554 });
    const result = await session.send(env(['a@example.test', 'b@example.test'], 10), bodyOf('hello\r\n'));
    expect(result.dataAccepted).toBe(false);
    for (const r of result.recipients) expect(r).toMatchObject({ status: 'rejected', code: 554, permanent: true, stage: 'data' });
  });

  it('SIZE: a message bigger than announced fails permanently with 5.3.4 without sending', async () => {
    const { peer, session } = await open({ size: 1000 });
    expect(session.capabilities.size).toBe(1000);
    const err = await session.send(env(['a@example.test'], 1001), bodyOf('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err).toMatchObject({ code: 'MESSAGE_TOO_BIG', permanent: true, enhancedCode: '5.3.4', stage: 'mail', host: 'mx.example.test', ip: '127.0.0.1' });
    expect(session.transcript.some((l) => l.text.startsWith('MAIL'))).toBe(false);
    expect(peer.messages).toHaveLength(0);
    // A message within the limit still goes.
    const ok = await session.send(env(['a@example.test'], 1000), bodyOf('small\r\n'));
    expect(ok.dataAccepted).toBe(true);
  });

  it('SMTPUTF8 recipient without server support fails permanently with 5.6.7, ASCII ones still go', async () => {
    const { peer, session } = await open({ server: { hideSMTPUTF8: true } });
    expect(session.capabilities.smtpUtf8).toBe(false);
    const result = await session.send(env(['jörg@example.test', 'joe@example.test'], 10), bodyOf('hi\r\n'));
    expect(result.recipients[0]).toMatchObject({ status: 'rejected', enhancedCode: '5.6.7', permanent: true, errorCode: 'SMTPUTF8_UNSUPPORTED' });
    expect(result.recipients[1]).toMatchObject({ status: 'accepted' });
    expect(session.transcript.some((l) => l.text.includes('jörg'))).toBe(false);
    expect(peer.messages[0]!.rcptTo).toEqual(['joe@example.test']);
  });

  it('a message that needs SMTPUTF8 fails for every recipient without support, nothing sent', async () => {
    const { peer, session } = await open({ server: { hideSMTPUTF8: true } });
    const result = await session.send(env(['a@example.test', 'b@example.test'], 10, { smtpUtf8: true }), bodyOf('hi\r\n'));
    expect(result.recipients.every((r) => r.status === 'rejected' && r.enhancedCode === '5.6.7')).toBe(true);
    expect(session.transcript.some((l) => l.text.startsWith('MAIL'))).toBe(false);
    expect(peer.messages).toHaveLength(0);
  });

  it('SMTPUTF8 and BODY=8BITMIME are sent when announced and needed', async () => {
    const { peer, session } = await open();
    const body = 'Subject: caf\u00e9\r\n\r\nh\u00e9\r\n';
    const result = await session.send(env(['jörg@example.test'], Buffer.byteLength(body), { eightBit: true }), bodyOf(body));
    expect(result.recipients[0]!.status).toBe('accepted');
    const mail = session.transcript.find((l) => l.text.startsWith('MAIL'))!.text;
    expect(mail).toContain(' BODY=8BITMIME');
    expect(mail).toContain(' SMTPUTF8');
    expect(peer.messages[0]!.body.toString('utf8')).toBe(body);
  });

  it('8-bit content to a server without 8BITMIME fails permanently (5.6.3), nothing sent', async () => {
    const { peer, session } = await open({ server: { hide8BITMIME: true } });
    const result = await session.send(env(['a@example.test'], 10, { eightBit: true }), bodyOf('h\u00e9\r\n'));
    expect(result.recipients[0]).toMatchObject({ status: 'rejected', enhancedCode: '5.6.3', permanent: true });
    expect(peer.messages).toHaveLength(0);
  });

  it('REQUIRETLS requested but not announced: REQUIRETLS_UNSUPPORTED, permanent 5.7.30', async () => {
    const { session } = await open();
    expect(session.capabilities.requireTls).toBe(false);
    const err = await session.send(env(['a@example.test'], 10, { requireTls: true }), bodyOf('x')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REQUIRETLS_UNSUPPORTED', permanent: true, enhancedCode: '5.7.30', stage: 'mail' });
  });

  it('a header/body with CRLF in an address cannot inject commands', async () => {
    const { peer, session } = await open();
    const err = await session.send(env(['a@example.test>\r\nRCPT TO:<evil@example.test'], 10), bodyOf('x')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_INPUT', permanent: true });
    expect(peer.messages).toHaveLength(0);
  });

  it('streams a 10 MB body that arrives intact', async () => {
    const { peer, session } = await open();
    const chunk = Buffer.alloc(64 * 1024);
    // Lines of varied content, including leading dots, so stuffing happens throughout.
    for (let i = 0; i < chunk.length; i++) chunk[i] = i % 78 === 77 ? 0x0a : i % 78 === 0 ? 0x2e : 0x41 + (i % 26);
    const count = 160; // 10 MiB
    const expected = createHash('sha256');
    const normalised = Buffer.from(chunk.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    for (let i = 0; i < count; i++) expected.update(normalised);
    // The body does not end in a line break: the client ends the last line (RFC 5321 §4.1.1.4).
    expected.update('\r\n');
    function* gen() {
      for (let i = 0; i < count; i++) yield chunk;
    }
    let last = 0;
    const result = await session.send(env(['big@example.test'], chunk.length * count), () => Readable.from(gen()), { onProgress: (n) => (last = n) });
    expect(result.dataAccepted).toBe(true);
    expect(last).toBe(chunk.length * count);
    expect(peer.messages[0]!.sha256).toBe(expected.digest('hex'));
  });

  it('a body stream that fails mid-way drops the connection without ending the data', async () => {
    const { peer, session } = await open();
    const body = () =>
      new Readable({
        read() {
          this.push(Buffer.from('first part\r\n'));
          this.destroy(new Error('disk read error'));
        },
      });
    const err = await session.send(env(['a@example.test'], 100), body).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INTERNAL', stage: 'data', permanent: false });
    expect(peer.messages).toHaveLength(0);
    // The session is unusable afterwards.
    await expect(session.send(env(['a@example.test'], 1), bodyOf('x'))).rejects.toBeInstanceOf(DeliveryError);
  });
});
