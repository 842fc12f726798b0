import { readFileSync } from 'node:fs';

/** A recorded HTTP reply (`curl -si` output): status, lower-cased headers and body. */
export interface RecordedReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function readHttpFixture(file: string): RecordedReply {
  const raw = readFileSync(file, 'utf8');
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`${file} is not a recorded HTTP reply (no blank line after the headers)`);
  const [statusLine = '', ...headerLines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(split + 4) };
}
