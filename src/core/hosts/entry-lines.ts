/**
 * Where each host entry of a server list is written: one pass over the TOML text (comments and
 * every string form skipped correctly), so locating the entries costs time linear in the file
 * and an entry is never confused with the same text in a comment, a label or another section.
 */

/** Key of a section: the service name as TOML decodes it, and the section's 0-based index. */
export function sectionKey(service: string, sectionIndex: number): string {
  return `${service}\u0000${sectionIndex}`;
}

type Token =
  | { kind: 'punct'; text: string; line: number }
  | { kind: 'word'; text: string; line: number }
  | { kind: 'string'; text: string; line: number }
  | { kind: 'newline'; line: number };

const PUNCT = new Set(['[', ']', '{', '}', '=', ',', '.']);
const BASIC_ESCAPES: Record<string, string> = {
  b: '\b',
  t: '\t',
  n: '\n',
  f: '\f',
  r: '\r',
  '"': '"',
  '\\': '\\',
  e: '\u001b',
};

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const length = text.length;
  while (i < length) {
    const c = text[i]!;
    if (c === '\n') {
      tokens.push({ kind: 'newline', line });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#') {
      while (i < length && text[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const startLine = line;
      const multi = text.startsWith(c.repeat(3), i);
      const quote = multi ? c.repeat(3) : c;
      i += quote.length;
      let value = '';
      while (i < length) {
        if (text.startsWith(quote, i)) {
          // A multi-line string may end in up to two more quotes than its delimiter.
          if (multi) while (text[i + 3] === c) value += text[i++];
          i += quote.length;
          break;
        }
        const ch = text[i]!;
        if (ch === '\n') line++;
        if (ch === '\\' && c === '"') {
          const next = text[i + 1] ?? '';
          if (next === 'u' || next === 'U') {
            const digits = next === 'u' ? 4 : 8;
            value += String.fromCodePoint(Number.parseInt(text.slice(i + 2, i + 2 + digits), 16) || 0);
            i += 2 + digits;
          } else if (BASIC_ESCAPES[next] !== undefined) {
            value += BASIC_ESCAPES[next];
            i += 2;
          } else {
            // A line-ending backslash in a multi-line string: skip the whitespace that follows.
            i++;
            while (i < length && /\s/.test(text[i]!)) {
              if (text[i] === '\n') line++;
              i++;
            }
          }
          continue;
        }
        value += ch;
        i++;
      }
      tokens.push({ kind: 'string', text: value, line: startLine });
    } else if (PUNCT.has(c)) {
      tokens.push({ kind: 'punct', text: c, line });
      i++;
    } else {
      const start = i;
      while (i < length && !/[\s[\]{}=,.#"']/.test(text[i]!)) i++;
      if (i === start) i++;
      tokens.push({ kind: 'word', text: text.slice(start, i), line });
    }
  }
  return tokens;
}

/**
 * For each `[[services.<name>]]` section (keyed by sectionKey), the line on which each element
 * of its `hosts = [...]` array starts, in array order. The text must be valid TOML.
 */
export function hostEntryLines(text: string): Map<string, number[]> {
  const tokens = tokenize(text);
  const result = new Map<string, number[]>();
  const sectionsSeen = new Map<string, number>();
  let section: string | undefined;
  let i = 0;
  const keyParts = (end: (t: Token) => boolean): string[] => {
    const parts: string[] = [];
    while (i < tokens.length && !end(tokens[i]!)) {
      const t = tokens[i]!;
      if (t.kind === 'word' || t.kind === 'string') parts.push(t.text);
      i++;
    }
    return parts;
  };
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t.kind === 'newline') {
      i++;
      continue;
    }
    if (t.kind === 'punct' && t.text === '[') {
      const arrayOfTables =
        tokens[i + 1]?.kind === 'punct' && (tokens[i + 1] as { text: string }).text === '[';
      i += arrayOfTables ? 2 : 1;
      const parts = keyParts((x) => x.kind === 'punct' && x.text === ']');
      i += arrayOfTables ? 2 : 1;
      section = undefined;
      if (arrayOfTables && parts.length === 2 && parts[0] === 'services') {
        const service = parts[1]!;
        const index = sectionsSeen.get(service) ?? 0;
        sectionsSeen.set(service, index + 1);
        section = sectionKey(service, index);
      }
      continue;
    }
    // key = value
    const parts = keyParts((x) => (x.kind === 'punct' && x.text === '=') || x.kind === 'newline');
    // The rest of a scalar that spans several tokens (`3.14`, a date): no key, skip to the newline.
    if (tokens[i]?.kind !== 'punct') continue;
    i++; // '='
    const lines: number[] | undefined =
      section !== undefined && parts.length === 1 && parts[0] === 'hosts' ? [] : undefined;
    let depth = 0;
    let expectElement = false;
    while (i < tokens.length) {
      const v = tokens[i]!;
      if (v.kind === 'newline') {
        if (depth === 0) break;
        i++;
        continue;
      }
      if (v.kind === 'punct' && (v.text === '[' || v.text === '{')) {
        if (depth === 1 && expectElement) lines?.push(v.line);
        expectElement = depth === 0 && v.text === '[';
        depth++;
        i++;
        continue;
      }
      if (v.kind === 'punct' && (v.text === ']' || v.text === '}')) {
        depth--;
        i++;
        expectElement = false;
        if (depth === 0) break;
        continue;
      }
      if (v.kind === 'punct' && v.text === ',') {
        if (depth === 1) expectElement = true;
        i++;
        continue;
      }
      if (depth === 1 && expectElement) {
        lines?.push(v.line);
        expectElement = false;
      }
      i++;
      if (depth === 0) break;
    }
    if (lines && section !== undefined) result.set(section, lines);
  }
  return result;
}
