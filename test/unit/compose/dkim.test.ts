/**
 * DKIM signatures made by buildMessage must verify with two independent verifiers: mailauth
 * (with a resolver that serves our TXT record) and dkimpy (Debian python3-dkim) run as a child
 * process. Tampering with a signed header must make both fail.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMessage } from '../../../src-main/core/compose/build';
import type { DkimAlgorithm } from '../../../src-main/core/compose/build';
import { dkimDnsRecord, generateDkimKey } from '../../../src-main/core/compose/dkim-keys';
import type { Draft } from '../../../src-main/core/compose/draft';
import { tmpDir } from '../../helpers/tmp';

const tmp = tmpDir('compose-dkim-');
afterAll(() => tmp.cleanup());

const PYTHON = '/usr/bin/python3';
const hasDkimpy = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import dkim, nacl'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** dkimpy's verdict on a message file, with the TXT record served by a stub DNS function. */
function dkimpyVerify(file: string, name: string, txt: string): boolean {
  const script = [
    'import sys, dkim',
    'msg = open(sys.argv[1], "rb").read()',
    'txt = sys.argv[2].encode()',
    'def dns(name, timeout=5):',
    '    return txt if name.decode().rstrip(".").lower() == sys.argv[3] else None',
    'print("PASS" if dkim.verify(msg, dnsfunc=dns) else "FAIL")',
  ].join('\n');
  return execFileSync(PYTHON, ['-c', script, file, txt, name], { encoding: 'utf8' }).trim() === 'PASS';
}

async function mailauthVerify(file: string, name: string, txt: string) {
  const res = await dkimVerify(fs.createReadStream(file), {
    resolver: async (n: string, type: string) => {
      if (type === 'TXT' && n.toLowerCase() === name) return [[txt]];
      throw Object.assign(new Error(`no ${type} for ${n}`), { code: 'ENOTFOUND' });
    },
  });
  return res.results;
}

const draft = (attachment: string): Draft => ({
  from: { address: 'sender@exämple.org', name: 'Sënder' },
  to: ['Bob <bob@example.com>'],
  cc: ['carol@example.net'],
  bcc: ['dave@example.com'],
  replyTo: ['r@exämple.org'],
  subject: 'Signed – ünïcode subject',
  text: 'Line one\n\n  indented line with trailing spaces   \n\n\n',
  html: '<p>Hi</p>',
  attachments: [{ path: attachment }],
  tlsMode: 'tls-optional',
});

describe.each<DkimAlgorithm>(['rsa-sha256', 'ed25519-sha256'])('DKIM %s', (algorithm) => {
  const key = generateDkimKey(algorithm);
  const record = dkimDnsRecord({ selector: 'sel2024', domain: 'exämple.org', algorithm, publicKey: key.publicKeyBase64 });
  const att = path.join(tmp.dir, `att-${algorithm}.bin`);
  fs.writeFileSync(att, Buffer.from('attachment data\r\n'.repeat(500)));
  const out = path.join(tmp.dir, `signed-${algorithm}.eml`);

  it('signs a message that mailauth verifies', async () => {
    const r = await buildMessage(
      draft(att),
      { date: new Date(), dkim: { domain: 'exämple.org', selector: 'sel2024', algorithm, privateKeyPem: key.privateKeyPem } },
      out,
    );
    const msg = fs.readFileSync(out, 'utf8');
    expect(msg.startsWith('DKIM-Signature: v=1; a=' + algorithm)).toBe(true);
    expect(r.size).toBe(fs.statSync(out).size);
    expect(record.name).toBe('sel2024._domainkey.xn--exmple-cua.org');
    const sig = msg.slice(0, msg.indexOf('\r\n', msg.indexOf('b=')));
    const h = /h=([^;]+);/.exec(sig.replace(/\r\n\s+/g, ' '))?.[1]?.toLowerCase().split(/:\s*/) ?? [];
    for (const f of ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'reply-to', 'mime-version', 'content-type']) expect(h).toContain(f);
    expect(h).not.toContain('bcc');
    // TLS-Required is added at delivery time; signing it absent would break the signature then.
    expect(h).not.toContain('tls-required');

    const results = await mailauthVerify(out, record.name, record.value);
    expect(results).toHaveLength(1);
    expect(results[0]?.status.result).toBe('pass');
    expect(results[0]?.signingDomain).toBe('xn--exmple-cua.org');
  });

  it.skipIf(!hasDkimpy && !process.env.CI)('and dkimpy (python3-dkim) verifies independently', () => {
    expect(dkimpyVerify(out, record.name, record.value)).toBe(true);
  });

  it('both verifiers reject a tampered signed header, and a wrong key', async () => {
    const tampered = path.join(tmp.dir, `tampered-${algorithm}.eml`);
    fs.writeFileSync(tampered, fs.readFileSync(out, 'utf8').replace(/^To: Bob <bob@example\.com>/m, 'To: Bob <mallory@example.com>'));
    expect((await mailauthVerify(tampered, record.name, record.value))[0]?.status.result).toBe('fail');
    const other = dkimDnsRecord({ selector: 'sel2024', domain: 'exämple.org', algorithm, publicKey: generateDkimKey(algorithm).publicKeyBase64 });
    expect((await mailauthVerify(out, record.name, other.value))[0]?.status.result).toBe('fail');
    if (hasDkimpy) {
      expect(dkimpyVerify(tampered, record.name, record.value)).toBe(false);
      expect(dkimpyVerify(out, record.name, other.value)).toBe(false);
    }
  });
});

describe('DKIM configuration errors', () => {
  const att = path.join(tmp.dir, 'cfg.bin');
  fs.writeFileSync(att, 'x');
  const rsa = generateDkimKey('rsa-sha256');

  it('a key that does not match the algorithm is INVALID_INPUT, and nothing is written', async () => {
    const out = path.join(tmp.dir, 'mismatch.eml');
    const err = await buildMessage(draft(att), { date: new Date(), dkim: { domain: 'example.org', selector: 's', algorithm: 'ed25519-sha256', privateKeyPem: rsa.privateKeyPem } }, out).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DeliveryError', code: 'INVALID_INPUT', stage: 'compose' });
    expect(fs.readdirSync(tmp.dir).filter((f) => f.includes('mismatch'))).toEqual([]);
  });

  it('rejects a selector or domain that would inject into the signature header', async () => {
    for (const dkim of [
      { domain: 'example.org', selector: 's; h=from', algorithm: 'rsa-sha256' as const, privateKeyPem: rsa.privateKeyPem },
      { domain: 'example.org\r\nX: y', selector: 's', algorithm: 'rsa-sha256' as const, privateKeyPem: rsa.privateKeyPem },
      { domain: 'example.org', selector: 's', algorithm: 'rsa-sha256' as const, privateKeyPem: 'not a key' },
    ]) {
      const err = await buildMessage(draft(att), { date: new Date(), dkim }, path.join(tmp.dir, 'bad.eml')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INVALID_INPUT', stage: 'compose' });
    }
  });
});
