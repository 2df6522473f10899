/**
 * A strict RFC 4180 reader for the export tests: records end with CRLF (§2.1, §2.2), fields
 * are separated by commas (§2.4), a field with a quote, comma, CR or LF must be quoted and its
 * quotes doubled (§2.5–§2.7). Anything else — a bare CR or LF outside quotes, a quote inside an
 * unquoted field, text after a closing quote, an unterminated quote, ragged rows — throws, so a
 * sloppy encoder cannot pass the round-trip tests by accident.
 */
export function parseCsvStrict(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  const n = text.length;
  if (n === 0) return records;
  for (;;) {
    // One field.
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) throw new Error(`unterminated quoted field in record ${records.length + 1}`);
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += c;
        i++;
      }
    } else {
      while (i < n && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`quote inside an unquoted field at offset ${i}`);
        field += text[i]!;
        i++;
      }
    }
    record.push(field);
    // What may follow a field: a comma, CRLF, or the end of the text.
    if (i >= n) {
      records.push(record);
      break;
    }
    const c = text[i];
    if (c === ',') {
      i++;
      continue;
    }
    if (c === '\r' && text[i + 1] === '\n') {
      records.push(record);
      record = [];
      i += 2;
      if (i >= n) break; // the last record's line break is optional (§2.2)
      continue;
    }
    throw new Error(`unexpected ${JSON.stringify(c)} at offset ${i} (bare CR/LF or text after a closing quote)`);
  }
  const width = records[0]?.length ?? 0;
  records.forEach((r, k) => {
    if (r.length !== width) throw new Error(`record ${k + 1} has ${r.length} fields, the header has ${width}`);
  });
  return records;
}
