/**
 * Splits pasted or typed recipient text into addresses: separators are comma, semicolon and
 * line breaks, except inside quotes ("Doe, Jane" <j@x>), angle brackets or comments, where
 * they belong to the address.
 */
export function splitAddresses(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = 0;
  let comment = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      cur += c;
      if (c === '\\' && i + 1 < text.length) cur += text[++i];
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '<') angle++;
    else if (c === '>' && angle > 0) angle--;
    else if (c === '(') comment++;
    else if (c === ')' && comment > 0) comment--;
    else if ((c === ',' || c === ';' || c === '\n' || c === '\r') && angle === 0 && comment === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}
