import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { DataEncoder, dataEncodeStream } from '../../../src-main/core/smtp/data-encoder';

function encode(chunks: string[]): string {
  const e = new DataEncoder();
  return Buffer.concat([...chunks.map((c) => e.push(Buffer.from(c, 'latin1'))), e.end()]).toString('latin1');
}

describe('DataEncoder', () => {
  it.each([
    ['CRLF kept', 'a\r\nb\r\n', 'a\r\nb\r\n.\r\n'],
    ['bare LF → CRLF', 'a\nb\n', 'a\r\nb\r\n.\r\n'],
    ['bare CR → CRLF', 'a\rb\r', 'a\r\nb\r\n.\r\n'],
    ['no final line end', 'a\r\nb', 'a\r\nb\r\n.\r\n'],
    ['empty message', '', '.\r\n'],
    ['leading dot stuffed', '.hidden\r\n', '..hidden\r\n.\r\n'],
    ['lone dot line stuffed', 'a\r\n.\r\nb\r\n', 'a\r\n..\r\nb\r\n.\r\n'],
    ['dot after bare LF stuffed', 'a\n.\nb', 'a\r\n..\r\nb\r\n.\r\n'],
    ['dot after bare CR stuffed', 'a\r.\rb', 'a\r\n..\r\nb\r\n.\r\n'],
    ['smuggling: \\n.\\r\\n', 'x\n.\r\nMAIL FROM:<evil@x>\r\n', 'x\r\n..\r\nMAIL FROM:<evil@x>\r\n.\r\n'],
    ['dot mid-line untouched', 'a.b\r\n', 'a.b\r\n.\r\n'],
    ['two dots at line start', '..x\r\n', '...x\r\n.\r\n'],
    ['CR CR LF', 'a\r\r\nb', 'a\r\n\r\nb\r\n.\r\n'],
    ['8-bit bytes untouched', 'caf\xe9\n', 'caf\xe9\r\n.\r\n'],
  ])('%s', (_name, input, wire) => {
    expect(encode([input])).toBe(wire);
    // The same result whatever the chunk boundaries: split before every byte.
    expect(encode(input.split(''))).toBe(wire);
  });

  it('keeps CRLF state across a chunk boundary between CR and LF', () => {
    expect(encode(['a\r', '\n.b'])).toBe('a\r\n..b\r\n.\r\n');
  });

  it('the only CRLF.CRLF in the output is the terminator (random input)', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const alphabet = ['.', '\r', '\n', 'a'];
    for (let n = 0; n < 200; n++) {
      const input = Array.from({ length: 40 }, () => alphabet[rnd() % 4]).join('');
      const wire = encode([input]);
      expect(wire.endsWith('\r\n.\r\n') || wire === '.\r\n').toBe(true);
      const body = wire.slice(0, -3);
      expect(body.includes('\r\n.\r\n')).toBe(false);
      // No bare CR or LF anywhere.
      expect(/\r(?!\n)|(?<!\r)\n/.test(wire)).toBe(false);
      // Undoing the stuffing gives the input with normalised line ends.
      const unstuffed = ('\r\n' + body).replace(/\r\n\./g, '\r\n').slice(2);
      const normalised = input.replace(/\r\n|\r|\n/g, '\r\n');
      expect(unstuffed).toBe(normalised.length && !normalised.endsWith('\r\n') ? normalised + '\r\n' : normalised);
    }
  });

  it('works as a stream Transform', async () => {
    const out = await buffer(Readable.from([Buffer.from('.a\n'), Buffer.from('b')]).pipe(dataEncodeStream()));
    expect(out.toString()).toBe('..a\r\nb\r\n.\r\n');
  });
});
