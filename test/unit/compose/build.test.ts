import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMessage } from '../../../src-main/core/compose/build';
import type { Draft } from '../../../src-main/core/compose/draft';
import { DeliveryError } from '../../../src-main/core/errors';
import { tmpDir } from '../../helpers/tmp';

const tmp = tmpDir('compose-build-');
afterAll(() => tmp.cleanup());
const date = new Date('2024-03-04T05:06:07Z');

function draft(over: Partial<Draft> = {}): Draft {
  return {
    from: { address: 'me@example.org', name: 'Märta Sender' },
    to: ['Bob <bob@example.com>', 'carol@example.net'],
    cc: ['"Last, First" <lf@example.com>'],
    bcc: ['hidden@example.com', 'bob@example.com'],
    replyTo: ['replies@example.org'],
    subject: 'Grüße aus Köln – test',
    text: 'Hällo,\nthis is the body.\n',
    attachments: [],
    tlsMode: 'default',
    ...over,
  };
}

function headerSection(msg: string): string {
  return msg.slice(0, msg.indexOf('\r\n\r\n') + 2);
}

/** The decoded body of the first MIME part whose headers match `re`. */
function partBody(msg: string, re: RegExp): Buffer {
  const boundary = /boundary="([^"]+)"/.exec(msg)?.[1];
  if (!boundary) throw new Error('no boundary');
  for (const part of msg.split(`--${boundary}`)) {
    const split = part.indexOf('\r\n\r\n');
    if (split < 0 || !re.test(part.slice(0, split))) continue;
    return Buffer.from(part.slice(split + 4).replace(/\s+/g, ''), 'base64');
  }
  throw new Error(`no part matching ${re}`);
}

describe('buildMessage', () => {
  it('writes an RFC 5322 message with attachment, encoded subject and no Bcc header', async () => {
    const attachment = path.join(tmp.dir, 'report.bin');
    const content = crypto.randomBytes(100_000);
    fs.writeFileSync(attachment, content);
    const out = path.join(tmp.dir, 'msg1.eml');
    const r = await buildMessage(draft({ attachments: [{ path: attachment, filename: 'Bericht ü.pdf', contentType: 'application/pdf' }] }), { date }, out);

    const msg = fs.readFileSync(out, 'latin1');
    const head = headerSection(msg);
    expect(r.size).toBe(fs.statSync(out).size);
    expect(head).toMatch(/^From: =\?UTF-8\?Q\?M=C3=A4rta_Sender\?= <me@example\.org>\r$/m);
    expect(head).toMatch(/^To: Bob <bob@example\.com>, carol@example\.net\r$/m);
    expect(head).toMatch(/^Cc: "Last, First" <lf@example\.com>\r$/m);
    expect(head).toMatch(/^Reply-To: replies@example\.org\r$/m);
    // RFC 2047 encoded word; decode it back.
    const subj = /^Subject: (.*(?:\r\n[ \t].*)*)\r$/m.exec(head)?.[1] ?? '';
    const decoded = [...subj.matchAll(/=\?UTF-8\?Q\?([^?]*)\?=/gi)]
      .map((m) => Buffer.from((m[1] ?? '').replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_s, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'))
      .join('');
    expect(decoded).toBe('Grüße aus Köln – test');
    expect(head).toMatch(/^Date: Mon, 04 Mar 2024 05:06:07 \+0000\r$/m);
    expect(head).toMatch(/^MIME-Version: 1\.0\r$/m);
    expect(head).toContain(`Message-ID: ${r.messageId}\r\n`);
    expect(r.messageId).toMatch(/^<[0-9a-f]{32}@example\.org>$/);
    expect(msg).not.toMatch(/^bcc:/im);
    expect(msg).not.toContain('hidden@example.com');
    expect(head).not.toMatch(/^TLS-Required:/im);
    expect(msg).not.toMatch(/[^\r]\n/); // CRLF line endings only

    // The attachment round-trips byte for byte, with its RFC 2231-encoded name.
    expect(partBody(msg, /Content-Disposition: attachment/).equals(content)).toBe(true);
    expect(msg).toContain("filename*0*=utf-8''Bericht%20%C3%BC.pdf");
    expect(msg).toMatch(/Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nH=C3=A4llo,\r\n/);

    expect(r.envelope).toEqual({
      mailFrom: 'me@example.org',
      recipients: [
        { address: 'bob@example.com', envelope: 'bob@example.com', domainAscii: 'example.com', needsSmtpUtf8: false, kind: 'to', name: 'Bob' },
        { address: 'carol@example.net', envelope: 'carol@example.net', domainAscii: 'example.net', needsSmtpUtf8: false, kind: 'to' },
        { address: 'lf@example.com', envelope: 'lf@example.com', domainAscii: 'example.com', needsSmtpUtf8: false, kind: 'cc', name: 'Last, First' },
        { address: 'hidden@example.com', envelope: 'hidden@example.com', domainAscii: 'example.com', needsSmtpUtf8: false, kind: 'bcc' },
      ],
    });
    expect(r.eightBit).toBe(false);
    expect(r.smtpUtf8).toBe(false);
  });

  it('is durable and private: mode 0600, no temporary files left behind', async () => {
    const dir = path.join(tmp.dir, 'queue');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'm.eml');
    await buildMessage(draft(), { date }, out);
    expect(fs.readdirSync(dir)).toEqual(['m.eml']);
    if (process.platform !== 'win32') expect(fs.statSync(out).mode & 0o777).toBe(0o600);
  });

  it('never writes TLS-Required into the stored message: the delivery adds it from the current TLS mode (RFC 8689 §5)', async () => {
    const a = path.join(tmp.dir, 'tls-optional.eml');
    const b = path.join(tmp.dir, 'requiretls.eml');
    await buildMessage(draft({ tlsMode: 'tls-optional' }), { date }, a);
    await buildMessage(draft({ tlsMode: 'requiretls' }), { date }, b);
    expect(fs.readFileSync(a, 'utf8')).not.toMatch(/TLS-Required/i);
    expect(fs.readFileSync(b, 'utf8')).not.toMatch(/TLS-Required/i);
  });

  it('IDN domains go out as A-labels; a UTF-8 Bcc local part flags that recipient, not the message (SMTPUTF8 per transaction)', async () => {
    const out = path.join(tmp.dir, 'idn.eml');
    const r = await buildMessage(
      draft({ from: { address: 'me@exämple.org' }, to: ['a@bücher.de'], cc: [], bcc: ['jöhn@例子.广告'] }),
      { date, messageIdDomain: 'mail.exämple.org' },
      out,
    );
    const head = headerSection(fs.readFileSync(out, 'utf8'));
    expect(head).toMatch(/^From: me@xn--exmple-cua\.org\r$/m);
    expect(head).toMatch(/^To: a@xn--bcher-kva\.de\r$/m);
    expect(r.messageId).toMatch(/@mail\.xn--exmple-cua\.org>$/);
    expect(r.envelope.mailFrom).toBe('me@xn--exmple-cua.org');
    expect(r.envelope.recipients.map((x) => [x.address, x.envelope, x.needsSmtpUtf8])).toEqual([
      ['a@bücher.de', 'a@xn--bcher-kva.de', false],
      ['jöhn@例子.广告', 'jöhn@xn--fsqu00a.xn--4rr70v', true],
    ]);
    // The headers are ASCII and the sender too: only the Bcc's own transaction needs SMTPUTF8.
    expect(r.smtpUtf8).toBe(false);
    expect(/[^\x00-\x7f]/.test(head)).toBe(false);
  });

  it('sends an html alternative when given', async () => {
    const out = path.join(tmp.dir, 'html.eml');
    await buildMessage(draft({ html: '<p>Hällo</p>' }), { date }, out);
    const msg = fs.readFileSync(out, 'utf8');
    expect(msg).toMatch(/Content-Type: multipart\/alternative/);
    expect(msg).toMatch(/Content-Type: text\/html/);
  });

  it('refuses an invalid draft with a DeliveryError and writes nothing', async () => {
    const out = path.join(tmp.dir, 'invalid.eml');
    const err = await buildMessage(draft({ subject: 'x\r\nBcc: evil@example.net' }), { date }, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err).toMatchObject({ code: 'INVALID_INPUT', stage: 'compose', permanent: true });
    expect((err as Error).message).toContain('subject');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses a bad Message-ID domain', async () => {
    const err = await buildMessage(draft(), { date, messageIdDomain: 'x>\r\nBcc: a@b.c' }, path.join(tmp.dir, 'mid.eml')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_INPUT', stage: 'compose' });
  });

  it('an attachment that vanishes after validation fails cleanly, leaving no file', async () => {
    const dir = path.join(tmp.dir, 'vanish');
    fs.mkdirSync(dir);
    const f = path.join(dir, 'gone.txt');
    fs.writeFileSync(f, 'x');
    const d = draft({ attachments: [{ path: f }] });
    const p = buildMessage(d, { date }, path.join(dir, 'out.eml'));
    fs.rmSync(f); // races validation; either way the result must be a DeliveryError
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
