/**
 * The composer's body text, as both sides see it: the signature block of each identity (RFC
 * 3676 §4.3: a line "-- " separates it, so mail clients can recognise and hide it), in plain
 * text and in the rich-text editor's HTML, and the conversion of a plain body to rich text.
 *
 * One rule for "where is the signature": everything from the LAST separator line (plain) or
 * separator paragraph (rich) to the end. Applying a signature replaces that block, so inserting
 * it twice, reopening a draft or switching From between identities never duplicates it, and a
 * body typed above the signature is never touched.
 */
import { z } from 'zod';
import { unsafeMultilineTextProblem } from './text';

/** A signature as stored with an identity: plain text, lines separated by "\n". */
export const SignatureText = z.string().max(4000, 'a signature has at most 4000 characters').superRefine((s, ctx) => {
  const problem = unsafeMultilineTextProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: `signature ${problem}` });
});

/** RFC 3676 §4.3 signature separator: dash dash space, alone on its line. */
export const SIGNATURE_SEPARATOR = '-- ';

/** The body without its signature block (and without the blank lines before it). */
export function withoutSignature(text: string): string {
  const lines = text.split('\n');
  const at = lines.lastIndexOf(SIGNATURE_SEPARATOR);
  if (at < 0) return text;
  return lines.slice(0, at).join('\n').replace(/\n+$/, '');
}

/** The plain body with `signature` as its one signature block ('' removes it). */
export function applySignature(text: string, signature: string): string {
  const body = withoutSignature(text).replace(/\n+$/, '');
  const sig = signature.replace(/\s+$/, '');
  if (sig === '') return body;
  return `${body}\n\n${SIGNATURE_SEPARATOR}\n${sig}`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Blank-line separated paragraphs, single line breaks as <br>. */
function paragraphs(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((p) => `<p>${p.split('\n').map(escapeHtml).join('<br>')}</p>`)
    .join('');
}

/**
 * The separator paragraph as the editor keeps it: ProseMirror drops trailing spaces at the end
 * of a block, so "-- " comes back as "--" (or with a no-break space when typed).
 */
const HTML_SEPARATOR = /<p>--(?: |&nbsp;|\u00a0)?<\/p>/g;

/** The rich body without its signature block. */
export function htmlWithoutSignature(html: string): string {
  let last = -1;
  for (const m of html.matchAll(HTML_SEPARATOR)) last = m.index;
  const body = last < 0 ? html : html.slice(0, last);
  // Trailing empty paragraphs are the blank lines before the signature.
  return body.replace(/(?:<p>(?:<br ?\/?>)?<\/p>)+$/, '');
}

/** The rich body with `signature` as its one signature block ('' removes it). */
export function applyHtmlSignature(html: string, signature: string): string {
  const body = htmlWithoutSignature(html) || '<p></p>';
  const sig = signature.replace(/\s+$/, '');
  if (sig === '') return body;
  return `${body}<p>--</p>${paragraphs(sig)}`;
}

/** A plain body as the editor's HTML (for switching to rich text), its signature kept as one. */
export function textToHtml(text: string): string {
  const lines = text.split('\n');
  const at = lines.lastIndexOf(SIGNATURE_SEPARATOR);
  const body = withoutSignature(text);
  const html = body.trim() === '' ? '<p></p>' : paragraphs(body);
  if (at < 0) return html;
  const sig = lines.slice(at + 1).join('\n').replace(/\s+$/, '');
  return sig ? `${html}<p>--</p>${paragraphs(sig)}` : html;
}

/**
 * The editor's text (blocks separated by blank lines) as a plain body, for switching back to
 * plain text: the separator paragraph becomes the RFC 3676 separator line again.
 */
export function editorTextToPlain(text: string): string {
  const lines = text.split('\n');
  let last = -1;
  lines.forEach((l, i) => {
    if (/^--[ \u00a0]?$/.test(l)) last = i;
  });
  if (last < 0) return text;
  lines[last] = SIGNATURE_SEPARATOR;
  // The editor separates blocks by a blank line; the signature follows its separator directly.
  if (lines[last + 1] === '') lines.splice(last + 1, 1);
  return lines.join('\n');
}
