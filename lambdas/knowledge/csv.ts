/**
 * The one CSV reader shared by the local retriever (catalogue passages) and the tenant CLI's
 * knowledge upload (one document per catalogue row), so both read a catalogue the same way.
 */

/**
 * Splits one CSV text into rows of fields (RFC 4180 quotes, `""` escapes, CRLF or LF); rows
 * whose fields are all blank are dropped. A leading byte-order mark is not removed: callers
 * strip it (they also read the header line before splitting).
 */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.some((f) => f.trim() !== ''));
}
