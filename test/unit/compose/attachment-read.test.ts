/**
 * Issue 10 item 9: attachment reading enforces the size limit on the bytes actually read, only
 * regular files are read, and no partial file is left behind on any error.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { buildMessage } from '../../../src-main/core/compose/build';
import type { Draft } from '../../../src-main/core/compose/draft';
import { tmpDir } from '../../helpers/tmp';

const tmp = tmpDir('compose-attach-read-');
afterAll(() => tmp.cleanup());

const draft = (p: string): Draft => ({
  from: { address: 'me@example.org' },
  to: ['you@example.com'],
  cc: [],
  bcc: [],
  subject: 'file',
  text: 'see attachment',
  attachments: [{ path: p }],
  tlsMode: 'default',
});

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f !== 'in');
}

test.skipIf(process.platform !== 'linux')('a /proc file that reports size 0 but streams without end is refused; nothing is left on disk', async () => {
  const out = fs.mkdtempSync(path.join(tmp.dir, 'proc-'));
  const err = await buildMessage(draft('/proc/self/pagemap'), { date: new Date() }, path.join(out, 'm.eml')).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'INVALID_INPUT', stage: 'compose', cause: [{ field: 'attachments', index: 0, code: 'changed' }] });
  expect(leftovers(out)).toEqual([]);
});

test.skipIf(process.platform === 'win32')('a FIFO is refused without blocking (it is never read)', async () => {
  const out = fs.mkdtempSync(path.join(tmp.dir, 'fifo-'));
  const fifo = path.join(tmp.dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  // validateDraft refuses it by stat; the opened-handle check refuses it when validation is bypassed.
  const err = await buildMessage(draft(fifo), { date: new Date() }, path.join(out, 'm.eml')).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'INVALID_INPUT', cause: [{ field: 'attachments', index: 0, code: 'not-a-file' }] });
  expect(leftovers(out)).toEqual([]);
});
