/** Tabs and line breaks become spaces so a value stays one protocol field. */
export function oneLine(text: string): string {
  return text.replace(/[\t\r\n]+/g, ' ');
}

/** The first characters of a reply, on one line, for an error message. */
export function excerpt(text: string, max = 60): string {
  const flat = oneLine(text).trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** A number as the RRD wants it, or `U` (unknown) when the source gave none. */
export function numberOrU(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return 'U';
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? String(n) : 'U';
}
