import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base64Size, validateDraft } from '../../../src-main/core/compose/draft';
import type { Draft } from '../../../src-main/core/compose/draft';
import { tmpDir } from '../../helpers/tmp';

const tmp = tmpDir('compose-draft-');
afterAll(() => tmp.cleanup());

function draft(over: Partial<Draft> = {}): Draft {
  return {
    from: { address: 'me@example.org', name: 'Me' },
    to: ['you@example.com'],
    cc: [],
    bcc: [],
    subject: 'Hello',
    text: 'Hi',
    attachments: [],
    tlsMode: 'default',
    ...over,
  };
}

describe('validateDraft', () => {
  it('accepts a plain valid draft', async () => {
    expect(await validateDraft(draft())).toEqual([]);
  });

  it('accepts a Bcc-only draft and rejects one without recipients', async () => {
    expect(await validateDraft(draft({ to: [], bcc: ['b@example.com'] }))).toEqual([]);
    expect(await validateDraft(draft({ to: [] }))).toEqual([expect.objectContaining({ field: 'to', code: 'no-recipients' })]);
  });

  it('names the field and the entry of each bad address', async () => {
    const errs = await validateDraft(
      draft({ from: { address: 'not an address' }, to: ['ok@example.com', 'bad@'], cc: ['x@localhost'], bcc: ['<b@example.com\r\nX: y>'], replyTo: ['r@@example.org'] }),
    );
    expect(errs.map((e) => [e.field, e.index, e.code])).toEqual([
      ['from', undefined, 'bad-syntax'],
      ['to', 1, 'bad-syntax'],
      ['cc', 0, 'domain-not-fqdn'],
      ['bcc', 0, 'control-char'],
      ['replyTo', 0, 'bad-local-part'],
    ]);
  });

  it('rejects header injection in the subject, the display name and attachment names', async () => {
    const a = path.join(tmp.dir, 'a.txt');
    fs.writeFileSync(a, 'x');
    const errs = await validateDraft(
      draft({
        subject: 'Hi\r\nBcc: evil@example.net',
        from: { address: 'me@example.org', name: 'Me\nX-Evil: 1' },
        attachments: [
          { path: a, filename: 'a.txt\r\nContent-Type: text/html' },
          { path: a, contentType: 'text/plain\r\nX: y' },
        ],
      }),
    );
    expect(errs.map((e) => [e.field, e.index, e.code])).toEqual([
      ['from', undefined, 'control-char'],
      ['subject', undefined, 'control-char'],
      ['attachments', 0, 'control-char'],
      ['attachments', 1, 'bad-content-type'],
    ]);
  });

  it('refuses a tab and every other control character in the subject (one-line text, shared/text.ts; issue 10 item 10)', async () => {
    expect(await validateDraft(draft({ subject: 'a b' }))).toEqual([]);
    for (const c of ['\t', '\u0000', '\u001b', '\u0085', '\u2028']) {
      expect((await validateDraft(draft({ subject: `a${c}b` })))[0]).toMatchObject({ field: 'subject', code: 'control-char' });
    }
  });

  it('rejects missing, relative, non-regular and unreadable attachments', async () => {
    const dirPath = path.join(tmp.dir, 'sub');
    fs.mkdirSync(dirPath);
    const noRead = path.join(tmp.dir, 'noread.bin');
    fs.writeFileSync(noRead, 'x');
    fs.chmodSync(noRead, 0o000);
    const rootCanReadAnything = process.getuid?.() === 0;
    const errs = await validateDraft(
      draft({
        attachments: [
          { path: path.join(tmp.dir, 'missing.pdf') },
          { path: 'relative/file.txt' },
          { path: 'https://example.com/x.pdf' },
          { path: dirPath },
          { path: noRead },
        ],
      }),
    );
    const codes = errs.map((e) => [e.index, e.code]);
    expect(codes.slice(0, 4)).toEqual([
      [0, 'unreadable'],
      [1, 'bad-path'],
      [2, 'bad-path'],
      [3, 'not-a-file'],
    ]);
    if (!rootCanReadAnything) expect(codes[4]).toEqual([4, 'unreadable']);
  });

  it('rejects a draft whose estimated size (base64 growth) exceeds the limit', async () => {
    const f = path.join(tmp.dir, 'big.bin');
    fs.writeFileSync(f, Buffer.alloc(300_000));
    // 300 000 bytes raw fit under 350 000, but base64 makes them ~405 000.
    const errs = await validateDraft(draft({ attachments: [{ path: f }] }), { maxMessageBytes: 350_000 });
    expect(errs).toEqual([expect.objectContaining({ field: 'attachments', code: 'too-large' })]);
    expect(await validateDraft(draft({ attachments: [{ path: f }] }), { maxMessageBytes: 500_000 })).toEqual([]);
    expect(base64Size(300_000)).toBe(400_000 + Math.ceil(400_000 / 76) * 2);
  });

  it('rejects an unknown TLS mode and wrongly typed fields without throwing', async () => {
    const bad = { ...draft(), tlsMode: 'both', to: 'a@example.com', subject: 42, attachments: null } as unknown as Draft;
    const errs = await validateDraft(bad);
    expect(errs.map((e) => e.field).sort()).toEqual(['attachments', 'subject', 'tlsMode', 'to', 'to'].sort());
  });
});
