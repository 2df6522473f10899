/**
 * Property-style fuzzing of the address parser and draft validation: thousands of generated
 * hostile strings (seeded PRNG, reproducible) must never throw, and nothing accepted may carry
 * a CR, LF, NUL or other control character into an address, a name or an envelope.
 */
import { describe, expect, it } from 'vitest';
import { parseAddressList, parseMailbox, parseNamedMailbox } from '../../../src-main/core/compose/address';
import { parseDraftAddresses, validateDraft } from '../../../src-main/core/compose/draft';
import type { Draft } from '../../../src-main/core/compose/draft';
import { prng } from '../../helpers/prng';


const PIECES = [
  '\r', '\n', '\r\n', '\u0000', '\t', '\u007f', '\u0085', '\u2028', '\u2029', '\u202e', '\ud800', '\udc00',
  '"', '\\', '@', '@@', '<', '>', ',', ';', ':', '.', '..', ' ', '(', ')', '[', ']', '=?utf-8?q?=0D=0A?=',
  'a', 'bob', 'example.com', 'xn--', 'xn--bcher-kva', 'bücher', 'ü', '用户', '例子.广告', '💩', 'ß', '\u3002',
  '%0d%0a', '%41', '0x7f', '127.0.0.1', 'Bcc: evil@example.net', 'To: x@y.example', '-', '_', '\u200b', '\ufeff',
];
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function hostile(rand: () => number): string {
  const n = 1 + Math.floor(rand() * 12);
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.8) s += PIECES[Math.floor(rand() * PIECES.length)];
    else s += String.fromCharCode(Math.floor(rand() * 0x3000));
  }
  return s;
}

function assertClean(v: unknown): void {
  const json = JSON.stringify(v);
  // JSON escapes control characters as \uXXXX or \r, \n...; a raw one here would be a bug.
  expect(CONTROL.test(JSON.parse(json === undefined ? '""' : json) as string)).toBe(false);
  for (const s of Object.values(v as Record<string, unknown>)) {
    if (typeof s === 'string') expect(CONTROL.test(s), `control char in ${JSON.stringify(s)}`).toBe(false);
  }
}

describe('hostile input', () => {
  it('parseMailbox / parseAddressList / parseNamedMailbox never throw and never accept control characters', () => {
    const rand = prng(0xc0ffee);
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      // Half the cases are a valid address with hostile noise spliced in somewhere.
      const noise = hostile(rand);
      const input = rand() < 0.5 ? noise : `${noise.slice(0, 3)}ok${noise.slice(3)}@example.com`;
      const one = parseMailbox(input, { field: 'to', index: i });
      if (one.ok) {
        accepted++;
        assertClean(one.value);
        expect(CONTROL.test(input)).toBe(false);
      } else {
        expect(one.error.field).toBe('to');
        expect(typeof one.error.message).toBe('string');
      }
      const list = parseAddressList(input);
      for (const a of list.addresses) assertClean(a);
      const named = parseNamedMailbox({ name: hostile(rand), address: input });
      if (named.ok) assertClean(named.value);
    }
    // The generator must also produce some valid addresses, or the test proves little.
    expect(accepted).toBeGreaterThan(50);
  });

  it('validateDraft never throws and rejects every draft with a control character in a header value', async () => {
    const rand = prng(42);
    for (let i = 0; i < 1500; i++) {
      const pick = () => (rand() < 0.5 ? hostile(rand) : 'ok@example.com');
      const draft = {
        from: { address: rand() < 0.7 ? 'me@example.org' : hostile(rand), name: rand() < 0.5 ? hostile(rand) : 'Me' },
        to: [pick(), pick()],
        cc: rand() < 0.5 ? [pick()] : [],
        bcc: rand() < 0.3 ? [pick()] : [],
        replyTo: rand() < 0.3 ? [pick()] : undefined,
        subject: rand() < 0.5 ? hostile(rand) : 'Subject',
        text: hostile(rand),
        attachments: [],
        tlsMode: 'default',
      } as Draft;
      const errors = await validateDraft(draft);
      const headerValues = [draft.from.address, draft.from.name ?? '', ...draft.to, ...draft.cc, ...draft.bcc, ...(draft.replyTo ?? []), draft.subject.replace(/\t/g, ' ')];
      if (headerValues.some((v) => CONTROL.test(v))) expect(errors.length).toBeGreaterThan(0);
      if (errors.length === 0) {
        const parsed = parseDraftAddresses(draft).value;
        expect(parsed).toBeDefined();
        for (const a of [parsed!.from, ...parsed!.to, ...parsed!.cc, ...parsed!.bcc, ...parsed!.replyTo]) assertClean(a);
      }
    }
  });

  it('garbage in place of a draft is an error list, not an exception', async () => {
    for (const junk of [null, undefined, 0, 'draft', [], { from: null }, { from: { address: 1 }, to: [null, 3, {}] }]) {
      const errs = await validateDraft(junk as unknown as Draft);
      expect(errs.length).toBeGreaterThan(0);
    }
  });
});
