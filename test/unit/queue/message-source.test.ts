/**
 * The bytes a delivery sends (queue/message-source.ts), for a message smaller than one read
 * chunk (read in one go) and for a larger one (streamed): the same bytes, the TLS-Required: No
 * header for "TLS optional", and a file that no longer matches its size or digest throws
 * before the last byte is handed over.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { TlsMode } from '../../../shared/domain';
import { messageBody, TLS_REQUIRED_NO, type StoredMessage } from '../../../src-main/core/queue/message-source';
import { tmpDir } from '../../helpers/tmp';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tmpDir());
});
afterEach(() => cleanup());

const SMALL = Buffer.from('Subject: hi\r\nFrom: a@b.test\r\n\r\nA small body.\r\n');
const LARGE = Buffer.from(`Subject: big\r\n\r\n${'0123456789abcdef'.repeat(10_000)}\r\n`);

function stored(bytes: Buffer, tlsMode: TlsMode = 'default'): StoredMessage {
  const file = path.join(dir, `${crypto.randomUUID()}.eml`);
  fs.writeFileSync(file, bytes);
  return { path: file, name: path.basename(file), size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), tlsMode };
}

async function collect(m: StoredMessage, onFirst?: () => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of messageBody(m)) {
    if (parts.length === 0) onFirst?.();
    parts.push(Buffer.from(c));
  }
  return Buffer.concat(parts);
}

for (const [label, bytes] of [
  ['small', SMALL],
  ['large', LARGE],
] as const) {
  test(`${label} message: the stored bytes, and TLS-Required: No in front for TLS optional`, async () => {
    expect((await collect(stored(bytes))).equals(bytes)).toBe(true);
    expect((await collect(stored(bytes, 'tls-optional'))).equals(Buffer.concat([TLS_REQUIRED_NO, bytes]))).toBe(true);
  });

  test(`${label} message: a file with other bytes of the same size throws (SHA-256)`, async () => {
    const m = stored(bytes);
    const other = Buffer.from(bytes);
    other[other.length - 3] = 0x21;
    fs.writeFileSync(m.path, other);
    await expect(collect(m)).rejects.toThrow(/SHA-256 does not match/);
  });

  test(`${label} message: a file that grew or shrank after the check throws`, async () => {
    const grown = stored(bytes);
    fs.appendFileSync(grown.path, 'more\r\n');
    await expect(collect(grown)).rejects.toThrow(/grew beyond/);
    const shrunk = stored(bytes);
    fs.truncateSync(shrunk.path, bytes.length - 1);
    await expect(collect(shrunk)).rejects.toThrow(/instead of/);
  });

  test(`${label} message: a missing file throws a MESSAGE_FILE error naming it`, async () => {
    const m = stored(bytes);
    fs.rmSync(m.path);
    await expect(collect(m)).rejects.toMatchObject({ code: 'MESSAGE_FILE', message: expect.stringContaining(m.name) });
  });
}
