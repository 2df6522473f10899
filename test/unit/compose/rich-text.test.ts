import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { messageBody, sanitizeHtml, textFromHtml } from '../../../src-main/core/compose/body';
import { buildMessage } from '../../../src-main/core/compose/build';
import type { Draft } from '../../../src-main/core/compose/draft';
import { tmpDir } from '../../helpers/tmp';

const tmp = tmpDir('compose-rich-');
afterAll(() => tmp.cleanup());

function draft(over: Partial<Draft> = {}): Draft {
  return {
    from: { address: 'me@example.org', name: 'Me' },
    to: ['bob@example.com'],
    cc: [],
    bcc: [],
    subject: 'Rich',
    text: '',
    attachments: [],
    tlsMode: 'default',
    ...over,
  };
}

describe('sanitizeHtml (the renderer is untrusted)', () => {
  it('keeps the formatting the editor offers', async () => {
    const html = '<h2>Plan</h2><p><strong>bold</strong> <em>it</em> <s>gone</s> <code>x</code></p><ul><li>one</li></ul><ol start="3"><li>three</li></ol><blockquote><p>q</p></blockquote><pre><code>a  b</code></pre><hr><p>a<br>b <a href="https://example.com/x">link</a></p>';
    expect(await sanitizeHtml(html)).toBe(html.replace('<hr>', '<hr />').replace('<br>', '<br />'));
  });

  it('removes scripts, handlers, styles, images, frames and dangerous links', async () => {
    const hostile = [
      '<p onclick="steal()" style="display:none" class="x">hi</p>',
      '<script>alert(1)</script><style>p{background:url(https://t.example/p)}</style>',
      '<img src="https://tracker.example/pixel.gif"><img src="file:///etc/passwd">',
      '<iframe src="https://evil.example/"></iframe><object data="x"></object>',
      '<a href="javascript:alert(1)">js</a><a href="//evil.example/">rel</a><a href="data:text/html,x">data</a>',
      '<a href="mailto:bob@example.com" target="_blank" onmouseover="x()">mail</a>',
      '<svg><script>alert(2)</script></svg><math><mi>x</mi></math>',
    ].join('');
    const clean = await sanitizeHtml(hostile);
    expect(clean).toBe('<p>hi</p><a>js</a><a>rel</a><a>data</a><a href="mailto:bob@example.com">mail</a>');
    expect(clean).not.toMatch(/script|style|img|iframe|object|javascript|onclick|svg|tracker/i);
  });

  it('keeps the text of tags it drops (a pasted page keeps its words)', async () => {
    expect(await sanitizeHtml('<div><span style="color:red">Hello</span> <font>world</font></div>')).toBe('Hello world');
  });
});

describe('textFromHtml', () => {
  it('turns paragraphs, lists, links, quotes and the signature separator into readable text', async () => {
    const text = await textFromHtml(
      '<p>Hello <strong>Bob</strong>,</p><ul><li>first</li><li>second</li></ul><ol><li>one</li></ol><p>See <a href="https://example.com/a">the page</a> or <a href="https://example.com/">https://example.com/</a>.</p><blockquote><p>quoted</p></blockquote><p>--</p><p>Me</p>',
    );
    expect(text).toContain('Hello Bob,');
    expect(text).toMatch(/^ \* first$/m);
    expect(text).toMatch(/^ \* second$/m);
    expect(text).toMatch(/^ 1\. one$/m);
    expect(text).toContain('the page [https://example.com/a]');
    expect(text).not.toContain('[https://example.com/]');
    expect(text).toMatch(/^> quoted$/m);
    expect(text).toMatch(/^-- $/m);
  });
});

describe('messageBody', () => {
  it('is plain text by default', async () => {
    expect(await messageBody({ text: 'hi' })).toEqual({ text: 'hi' });
    expect(await messageBody({ text: 'hi', html: '  ' })).toEqual({ text: 'hi' });
  });

  it('generates the text part from the sanitised HTML, ignoring the text the renderer sent', async () => {
    const b = await messageBody({ text: 'something else entirely', html: '<p>Real <script>x()</script>content</p>' });
    expect(b.text).toBe('Real content');
    expect(b.html).toContain('<body>\r\n<p>Real content</p>\r\n</body>');
  });

  it('sends no HTML part when nothing is left after sanitising', async () => {
    expect(await messageBody({ text: 'x', html: '<script>alert(1)</script>' })).toEqual({ text: '' });
  });
});

describe('buildMessage with rich text', () => {
  it('writes multipart/alternative: a generated text/plain part, then the sanitised HTML', async () => {
    const out = path.join(tmp.dir, 'rich.eml');
    await buildMessage(
      draft({ text: 'renderer text', html: '<p>Hällo <strong>Bob</strong></p><ul><li>one</li></ul><img src="https://t.example/p.gif"><p onclick="x()">end</p>' }),
      { date: new Date('2024-03-04T05:06:07Z') },
      out,
    );
    const raw = fs.readFileSync(out);
    expect(raw.toString('latin1')).toMatch(/^Content-Type: multipart\/alternative;/m);
    const parsed = await simpleParser(raw);
    expect(parsed.text?.trim()).toBe('Hällo Bob\n\n * one\n\nend');
    expect(parsed.html).toContain('<p>Hällo <strong>Bob</strong></p><ul><li>one</li></ul><p>end</p>');
    expect(parsed.html).not.toMatch(/img|onclick|t\.example/);
    // RFC 2046 §5.1.4: the alternatives in increasing order of preference, plain text first.
    const s = raw.toString('latin1');
    expect(s.indexOf('Content-Type: text/plain')).toBeLessThan(s.indexOf('Content-Type: text/html'));
  });

  it('writes a single text/plain body without html', async () => {
    const out = path.join(tmp.dir, 'plain.eml');
    await buildMessage(draft({ text: 'Just text\n' }), { date: new Date('2024-03-04T05:06:07Z') }, out);
    const raw = fs.readFileSync(out, 'latin1');
    expect(raw).toMatch(/^Content-Type: text\/plain; charset=utf-8\r$/m);
    expect(raw).not.toMatch(/multipart|text\/html/);
  });
});
