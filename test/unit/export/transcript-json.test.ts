/**
 * transcriptJson skips the parse and re-stringify of a stored transcript that is already in
 * JSON.stringify's form. Its contract is to give exactly JSON.stringify(parseTranscript(raw))
 * for any input; these tests compare the two on canonical texts, on near-misses of every rule
 * the fast check encodes (escapes, numbers, key order, whitespace, surrogates, extra keys) and
 * on seeded random mutations, so a check that accepts one non-canonical text fails.
 */
import { describe, expect, it } from 'vitest';
import { parseTranscript, transcriptJson } from '../../../src-main/core/export/attempt-rows';

const reference = (raw: unknown): string => JSON.stringify(parseTranscript(raw));

const canonical = JSON.stringify([
  { at: 1714557600000, dir: 's', text: '220 mx.example.org ESMTP' },
  { at: 1714557600005, dir: 'c', text: 'EHLO "quoted" \\ back\tslash\r\n\b\f' },
  { at: 0, dir: 'i', text: 'Zürich — 東京 \u2028 \u007f' },
]);

const NEAR_MISSES = [
  canonical,
  '[]',
  '[ ]',
  ' []',
  '[]\n',
  '[{"at":1,"dir":"c","text":"x"}]',
  '[{"at":-0,"dir":"c","text":"x"}]',
  '[{"at":-5,"dir":"c","text":"x"}]',
  '[{"at":01,"dir":"c","text":"x"}]',
  '[{"at":1.0,"dir":"c","text":"x"}]',
  '[{"at":1.5,"dir":"c","text":"x"}]',
  '[{"at":1e3,"dir":"c","text":"x"}]',
  '[{"at":123456789012345,"dir":"c","text":"x"}]',
  '[{"at":1234567890123456,"dir":"c","text":"x"}]',
  '[{"at":12345678901234567890123,"dir":"c","text":"x"}]',
  '[{"at":"1","dir":"c","text":"x"}]',
  '[{"dir":"c","at":1,"text":"x"}]',
  '[{"at":1,"dir":"c","text":"x","extra":1}]',
  '[{"at":1,"dir":"c"}]',
  '[{"at":1, "dir":"c","text":"x"}]',
  '[{"at":1,"dir":"c","text":"x"},]',
  '[{"at":1,"dir":"c","text":"x"}{"at":1,"dir":"c","text":"x"}]',
  '[{"at":1,"dir":"c","text":"\\/"}]',
  '[{"at":1,"dir":"c","text":"\\u0041"}]',
  '[{"at":1,"dir":"c","text":"\\u001f"}]',
  '[{"at":1,"dir":"c","text":"\\u2028"}]',
  '[{"at":1,"dir":"c","text":"\\ud800"}]',
  '[{"at":1,"dir":"c","text":"\\ud83d\\ude00"}]',
  '[{"at":1,"dir":"c","text":"\ud83d\ude00"}]',
  '[{"at":1,"dir":"c","text":"\ud800"}]',
  '[{"at":1,"dir":"c","text":"a\u0001b"}]',
  '[{"at":1,"dir":"c","text":"a\nb"}]',
  '[{"at":1,"dir":"c","text":"a\\x"}]',
  '[{"at":1,"dir":"c","text":"a\\"}]',
  '[{"at":1,"dir":null,"text":"x"}]',
  '{"at":1,"dir":"c","text":"x"}',
  '[1]',
  '[null]',
  'null',
  '',
  '{not json',
];

describe('transcriptJson', () => {
  it('is JSON.stringify(parseTranscript(raw)) on canonical texts and every near miss', () => {
    for (const raw of NEAR_MISSES) expect(transcriptJson(raw), raw).toBe(reference(raw));
    for (const raw of [null, undefined, 5, Buffer.from('[]')]) expect(transcriptJson(raw)).toBe(reference(raw));
  });

  it('agrees with the reference on random mutations of canonical transcripts', () => {
    // A small deterministic PRNG (mulberry32), so a failure is reproducible.
    let seed = 0x5eed;
    const rand = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const ALPHABET = ['"', '\\', ',', ':', '{', '}', '[', ']', ' ', '0', '1', '-', '.', 'e', 'u', 'n', 't', 'a', 'x', '\n', '\u0000', '\u2028', '\ud800', '\udc00', 'é', '/'];
    let fast = 0;
    for (let i = 0; i < 20_000; i++) {
      const lines = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => ({
        at: Math.floor(rand() * 2e12) - (rand() < 0.1 ? 1e12 : 0),
        dir: ['c', 's', 'i'][Math.floor(rand() * 3)]!,
        text: Array.from({ length: Math.floor(rand() * 6) }, () => ALPHABET[Math.floor(rand() * ALPHABET.length)]).join(''),
      }));
      let raw = JSON.stringify(lines);
      const edits = Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * raw.length);
        const op = rand();
        const ch = ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
        raw = op < 0.4 ? raw.slice(0, at) + ch + raw.slice(at) : op < 0.7 ? raw.slice(0, at) + raw.slice(at + 1) : raw.slice(0, at) + ch + raw.slice(at + 1);
      }
      if (transcriptJson(raw) === raw) fast++;
      expect(transcriptJson(raw), raw).toBe(reference(raw));
    }
    // The fast path is actually exercised (unedited canonical texts take it).
    expect(fast).toBeGreaterThan(2000);
  });
});
