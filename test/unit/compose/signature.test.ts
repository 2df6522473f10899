/**
 * Signatures per identity (issue 13 item 5): stored with the identity (IPC), and applied to the
 * body by the one rule of shared/compose-body.ts — inserted once, replaced when From changes,
 * never duplicated, the text above it untouched — in plain text and in the editor's HTML.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  applyHtmlSignature,
  applySignature,
  editorTextToPlain,
  htmlWithoutSignature,
  textToHtml,
  withoutSignature,
} from '../../../shared/compose-body';
import { textFromHtml, sanitizeHtml } from '../../../src-main/core/compose/body';
import { Outbox } from '../../../src-main/core/outbox';
import { createHandlers, dispatch, type HandlerTable } from '../../../src-main/ipc-handlers';
import { tmpDir } from '../../helpers/tmp';

describe('plain text', () => {
  test('inserted below the body after an RFC 3676 "-- " line', async () => {
    expect(applySignature('', 'Anna\nExample Ltd')).toBe('\n\n-- \nAnna\nExample Ltd');
    expect(applySignature('Hello Bob,\n\nsee you.\n\n', 'Anna  \n')).toBe('Hello Bob,\n\nsee you.\n\n-- \nAnna');
  });

  test('applying it again changes nothing; another identity replaces it; none removes it', async () => {
    const once = applySignature('Hi,\nthe text', 'Anna');
    expect(applySignature(once, 'Anna')).toBe(once);
    expect(applySignature(once, 'Bob\nBob Ltd')).toBe('Hi,\nthe text\n\n-- \nBob\nBob Ltd');
    expect(applySignature(applySignature(once, 'Bob'), 'Anna')).toBe(once);
    expect(applySignature(once, '')).toBe('Hi,\nthe text');
    expect(withoutSignature(once)).toBe('Hi,\nthe text');
  });

  test('only the last separator starts the signature (a quoted one above stays)', async () => {
    const body = '> quoted mail\n> -- \n> Old sig\n\nMy reply';
    expect(applySignature(applySignature(body, 'Anna'), 'Bob')).toBe(`${body}\n\n-- \nBob`);
    // "--" without the space is not a separator in plain text (someone's divider).
    expect(applySignature('a\n--\nb', 'S')).toBe('a\n--\nb\n\n-- \nS');
  });
});

describe('rich text', () => {
  test('a separator paragraph and the signature as paragraphs; replaced, never duplicated', async () => {
    const one = applyHtmlSignature('<p>Hello</p>', 'Anna\nExample <Ltd>');
    expect(one).toBe('<p>Hello</p><p>--</p><p>Anna<br>Example &lt;Ltd&gt;</p>');
    expect(applyHtmlSignature(one, 'Anna\nExample <Ltd>')).toBe(one);
    expect(applyHtmlSignature(one, 'Bob')).toBe('<p>Hello</p><p>--</p><p>Bob</p>');
    expect(applyHtmlSignature(one, '')).toBe('<p>Hello</p>');
    // The editor's empty document, and the trailing empty paragraphs before the signature.
    expect(applyHtmlSignature('<p></p>', 'Anna')).toBe('<p></p><p>--</p><p>Anna</p>');
    expect(htmlWithoutSignature('<p>x</p><p></p><p>--&nbsp;</p><p>A</p>')).toBe('<p>x</p>');
  });

  test('switching plain → rich keeps the body and the one signature; the text part has "-- " again', async () => {
    const plain = applySignature('Hello <b>Bob</b>,\n\nline one\nline two', 'Anna');
    const html = textToHtml(plain);
    expect(html).toBe('<p>Hello &lt;b&gt;Bob&lt;/b&gt;,</p><p>line one<br>line two</p><p>--</p><p>Anna</p>');
    expect(applyHtmlSignature(html, 'Bob')).toBe('<p>Hello &lt;b&gt;Bob&lt;/b&gt;,</p><p>line one<br>line two</p><p>--</p><p>Bob</p>');
    expect(await textFromHtml(await sanitizeHtml(html))).toBe('Hello <b>Bob</b>,\n\nline one\nline two\n\n-- \nAnna');
    expect(textToHtml('')).toBe('<p></p>');
  });

  test('switching rich → plain turns the separator paragraph back into "-- "', async () => {
    expect(editorTextToPlain('Hello\n\n--\n\nAnna')).toBe('Hello\n\n-- \nAnna');
    expect(editorTextToPlain('no signature\n\n')).toBe('no signature\n\n');
    expect(applySignature(editorTextToPlain('Hello\n\n--\n\nAnna'), 'Bob')).toBe('Hello\n\n-- \nBob');
  });
});

describe('stored with the identity (IPC)', () => {
  let core: Outbox;
  let table: HandlerTable;
  let cleanup: () => void;
  beforeAll(() => {
    const t = tmpDir('outbox-signature-');
    cleanup = t.cleanup;
    core = new Outbox({ dataDir: t.dir });
    table = createHandlers(core, { chooseFiles: async () => [], chooseSavePath: async () => null, openPath: async () => {} });
  });
  afterAll(async () => {
    await core.close();
    cleanup();
  });
  const call = (channel: string, payload: unknown) => dispatch(table, channel, payload) as Promise<{ ok: boolean; value?: any; error?: any }>;

  test('created with one, changed, cleared; multi-line text only', async () => {
    const created = await call('identities.create', { address: 'anna@example.org', algorithms: [], signature: 'Anna\n\tExample Ltd\n\n' });
    expect(created.value.signature).toBe('Anna\n\tExample Ltd');
    const id = created.value.id;
    expect((await call('identities.update', { id, signature: 'Anna B.\nhttps://example.org' })).value.signature).toBe('Anna B.\nhttps://example.org');
    expect((await call('identities.list', {})).value[0].signature).toBe('Anna B.\nhttps://example.org');
    for (const bad of ['a\r\nb', 'a\u0000b', 'invoice\u202efdp.exe', 'x'.repeat(4001)]) {
      const r = await call('identities.update', { id, signature: bad });
      expect(r.ok).toBe(false);
      expect(r.error.code).toBe('VALIDATION');
    }
    expect((await call('identities.update', { id, signature: '' })).value.signature).toBe('');
    expect((await call('identities.create', { address: 'b@example.org', algorithms: [] })).value.signature).toBe('');
  });
});
