/**
 * The body of a message: plain text (the default), or rich text sent as RFC 2046 §5.1.4
 * multipart/alternative — a text/plain part first, generated here from the HTML, then the
 * text/html part. The one place that decides which parts a message has and what is in them.
 *
 * Threats: the HTML comes from the renderer, which is untrusted (a compromised renderer, or a
 * page pasted into the editor). Before it becomes MIME it is reduced to an allowlist of the
 * formatting the composer offers (paragraphs, headings, emphasis, lists, quotes, code, links):
 * no script, no event handlers, no style (CSS can fetch URLs and hide text), no images or
 * frames (remote content is a tracking pixel, and a `file:` or `cid:` source could name local
 * data), and links only to http(s) and mailto. The text part is generated from the SANITISED
 * HTML, never taken from the renderer, so both alternatives say the same thing (§5.1.4: they
 * are the same content) and a recipient reading the text part sees what the HTML shows.
 */
import type sanitizeLib from 'sanitize-html';
import type { convert as convertFn } from 'html-to-text';

/**
 * The HTML libraries load on first use: most messages are plain text, and every CLI start
 * would otherwise pay for parsing them.
 */
let libs: Promise<{ sanitize: typeof sanitizeLib; convert: typeof convertFn }> | undefined;
function htmlLibs() {
  libs ??= Promise.all([import('sanitize-html'), import('html-to-text')]).then(([s, h]) => ({
    sanitize: (s.default ?? s) as typeof sanitizeLib,
    convert: (h.convert ?? (h as unknown as { default: { convert: typeof convertFn } }).default.convert),
  }));
  return libs;
}

/** What the rich-text editor produces (TipTap StarterKit's nodes and marks), nothing else. */
const ALLOWED_TAGS = [
  'p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'blockquote', 'pre', 'code', 'ul', 'ol', 'li',
  'strong', 'b', 'em', 'i', 'u', 's', 'a',
];

const SANITIZE: sanitizeLib.IOptions = {
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: { a: ['href'], ol: ['start'] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  // Disallowed tags go, their text stays (a pasted <span> or <div> keeps its words); the
  // content of these is never text a person wrote into the message.
  disallowedTagsMode: 'discard',
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head', 'template', 'iframe', 'object', 'svg', 'math'],
};

/** The HTML reduced to the composer's allowlist (see the header). */
export async function sanitizeHtml(html: string): Promise<string> {
  const { sanitize } = await htmlLibs();
  return sanitize(html, SANITIZE).trim();
}

/**
 * The text/plain alternative of sanitised HTML: paragraphs as blank-line separated blocks,
 * lists with "* " / "1. ", links as "text [url]", quotes with "> ", wrapped at 76 columns.
 */
export async function textFromHtml(html: string): Promise<string> {
  const { convert } = await htmlLibs();
  const text = convert(html, {
    wordwrap: 76,
    selectors: [
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
      ...['h1', 'h2', 'h3', 'h4'].map((h) => ({ selector: h, options: { uppercase: false } })),
    ],
  });
  // RFC 3676 §4.3: the signature separator is "-- " (with its space; the converter trims it),
  // and the signature follows on the next line, not after a paragraph break.
  return text.replace(/^--\n\n?/gm, '-- \n').replace(/^--$/gm, '-- ');
}

export interface MessageBody {
  text: string;
  /** A complete HTML document, when the message is rich text. */
  html?: string;
}

/**
 * The parts to send for a draft's text and html. No html (or html with nothing left after
 * sanitising): one text/plain part with the draft's text. Otherwise the sanitised HTML and a
 * text part generated from it (the draft's own text is ignored: it is the renderer's claim).
 */
export async function messageBody(d: { text: string; html?: string | undefined }): Promise<MessageBody> {
  if (d.html === undefined || d.html.trim() === '') return { text: d.text };
  const clean = await sanitizeHtml(d.html);
  const text = await textFromHtml(clean);
  if (clean === '' || text.trim() === '') return { text };
  return {
    text,
    html: `<!DOCTYPE html>\r\n<html><head><meta charset="utf-8"></head><body>\r\n${clean}\r\n</body></html>\r\n`,
  };
}
