/**
 * The bytes of composed messages with attachments are pinned (issue 14, the 50 MB attachment:
 * the attachment bodies are base64-encoded by compose/ itself through reused buffers instead of
 * nodemailer's stream, and not one byte may change). The pinned digests were recorded from the
 * nodemailer-encoded output (main 58cc3d1) with `GOLDEN_WRITE=1`.
 *
 * Sizes around every place an encoder can go wrong: nothing, 1–3 bytes (padding), one 76-char
 * line (57 bytes) ± 1, 76·k bytes, a 76-line block, compose's read chunk (57 KiB) ± 1 and two
 * of them + 1, 64 KiB ± 1 (a typical stream chunk), 1 MiB + 7. Odd file names (RFC 2231
 * continuations, quotes, non-ASCII, none given), content types (given, guessed, none, text/*,
 * with parameters), several attachments in one message, text+HTML, and DKIM (the signed
 * messages must verify with mailauth; their bytes after the signature are pinned).
 *
 * What varies per build (the Message-ID's random left part and the multipart boundaries'
 * random part) is replaced by fixed text of the same length before hashing, so folding is
 * unchanged.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMessage } from '../../../src-main/core/compose/build';
import { dkimDnsRecord, generateDkimKey } from '../../../src-main/core/compose/dkim-keys';
import type { Draft } from '../../../src-main/core/compose/draft';
import { tmpDir } from '../../helpers/tmp';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden', 'attachments.json');
const tmp = tmpDir('compose-golden-');
afterAll(() => tmp.cleanup());
const date = new Date(Date.UTC(2026, 11, 2, 10, 0, 0));

/** Deterministic bytes (xorshift32), so the pinned digests do not depend on a random source. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

const SIZES = [
  0, 1, 2, 3, 56, 57, 58, 75, 76, 77, 113, 114, 115, 151, 152, 153, 228, 4331, 4332, 4333,
  57 * 1024 - 1, 57 * 1024, 57 * 1024 + 1, 2 * 57 * 1024 + 1, 65535, 65536, 65537, 1024 * 1024 + 7,
];

interface Att {
  size: number;
  filename?: string;
  contentType?: string;
  /** The file's own name (the filename nodemailer falls back to). */
  file?: string;
}

const NAMES: Omit<Att, 'size'>[] = [
  { filename: 'report.pdf', contentType: 'application/pdf' },
  { filename: 'Bericht ü.pdf' },
  { filename: 'a "quoted"; name=x.txt', contentType: 'text/plain' },
  { file: 'noext' },
  { filename: 'Ünïcödé – a very long file name that needs RFC 2231 continuation lines in the header, surely.bin', contentType: 'application/octet-stream' },
  { filename: 'image.png', contentType: 'image/png' },
  { filename: 'data', contentType: 'application/x-custom; charset=binary' },
  { file: 'письмо.docx' },
];

interface Case {
  name: string;
  attachments: Att[];
  html?: boolean;
  dkim?: 'rsa-sha256' | 'ed25519-sha256';
}

const CASES: Case[] = [
  ...SIZES.map((size, i) => ({ name: `size ${size}`, attachments: [{ size, ...NAMES[i % NAMES.length] }], html: i % 3 === 1 })),
  { name: 'three attachments, text and HTML', attachments: [{ size: 0, filename: 'empty.txt' }, { size: 58, ...NAMES[1] }, { size: 70_001, ...NAMES[4] }], html: true },
  { name: 'two attachments, DKIM ed25519', attachments: [{ size: 1, filename: 'one.bin' }, { size: 100_003, ...NAMES[2] }], dkim: 'ed25519-sha256' },
  { name: 'one attachment of 1 MiB + 7, DKIM rsa', attachments: [{ size: 1024 * 1024 + 7, ...NAMES[5] }], html: true, dkim: 'rsa-sha256' },
];

const keys = { 'rsa-sha256': generateDkimKey('rsa-sha256'), 'ed25519-sha256': generateDkimKey('ed25519-sha256') };

/** Same-length stand-ins for what is random per build. */
function normalize(msg: string): string {
  return msg
    .replace(/--_NmP-[0-9a-f]{16}-Part_/g, '--_NmP-0123456789abcdef-Part_')
    .replace(/<[0-9a-f]{32}@example\.org>/g, `<${'0'.repeat(32)}@example.org>`);
}

async function build(c: Case, index: number): Promise<string> {
  const dir = path.join(tmp.dir, `case-${index}`);
  fs.mkdirSync(dir);
  const attachments = c.attachments.map((a, j) => {
    const p = path.join(dir, a.file ?? `att-${j}.bin`);
    fs.writeFileSync(p, bytes(a.size, 1000 * index + j + 1));
    return { path: p, ...(a.filename ? { filename: a.filename } : {}), ...(a.contentType ? { contentType: a.contentType } : {}) };
  });
  const draft: Draft = {
    from: { address: 'sender@example.org', name: 'Sënder' },
    to: ['Bob <bob@example.com>'],
    cc: [],
    bcc: [],
    subject: `golden ${c.name}`,
    text: 'See the attachment.\n',
    ...(c.html ? { html: '<p>See the <b>attachment</b>.</p>' } : {}),
    attachments,
    tlsMode: 'default',
  };
  const out = path.join(dir, 'm.eml');
  const key = c.dkim ? keys[c.dkim] : undefined;
  const r = await buildMessage(draft, { date, limits: { maxMessageBytes: 64 * 1024 * 1024 }, ...(c.dkim && key ? { dkim: { domain: 'example.org', selector: 's1', algorithm: c.dkim, privateKeyPem: key.privateKeyPem } } : {}) }, out);
  const raw = fs.readFileSync(out);
  expect(r.size).toBe(raw.length);
  expect(r.sha256).toBe(crypto.createHash('sha256').update(raw).digest('hex'));
  if (c.dkim && key) {
    const record = dkimDnsRecord({ selector: 's1', domain: 'example.org', algorithm: c.dkim, publicKey: key.publicKeyBase64 });
    const res = await dkimVerify(fs.createReadStream(out), {
      resolver: async (n: string, type: string) => {
        if (type === 'TXT' && n.toLowerCase() === record.name) return [[record.value]];
        throw Object.assign(new Error(`no ${type} for ${n}`), { code: 'ENOTFOUND' });
      },
    });
    expect(res.results.map((x: { status: { result: string } }) => x.status.result)).toEqual(['pass']);
  }
  const text = raw.toString('latin1');
  // A signed message: what follows its DKIM-Signature field is pinned (the signature covers
  // the random Message-ID, so it differs per build).
  return normalize(c.dkim ? text.slice(/\r\n(?![ \t])/.exec(text.slice(text.indexOf('b=')))!.index + text.indexOf('b=') + 2) : text);
}

type Pinned = Record<string, { bytes: number; sha256: string; head: string }>;

describe('composed messages with attachments: bytes pinned', () => {
  const write = process.env.GOLDEN_WRITE === '1';
  const pinned: Pinned = write ? {} : (JSON.parse(fs.readFileSync(GOLDEN, 'utf8')) as Pinned);
  afterAll(() => {
    if (write) {
      fs.mkdirSync(path.dirname(GOLDEN), { recursive: true });
      fs.writeFileSync(GOLDEN, `${JSON.stringify(pinned, null, 1)}\n`);
    }
  });

  CASES.forEach((c, i) => {
    it(`${c.name}: byte-identical to the pinned output`, async () => {
      const msg = await build(c, i);
      // The part headers and the first lines of each body, for a readable diff.
      const head = msg
        .split(/\r\n----_NmP-0123456789abcdef-Part_\d+(?:--)?\r\n/)
        .map((p) => p.slice(0, p.indexOf('\r\n\r\n') + 4 + 160))
        .join('\n~~~\n');
      const got = { bytes: msg.length, sha256: crypto.createHash('sha256').update(msg, 'latin1').digest('hex'), head };
      if (write) pinned[c.name] = got;
      expect(got.head).toBe(pinned[c.name]?.head);
      expect(got).toEqual(pinned[c.name]);
    });
  });
});
