/**
 * `host:port` of a listening socket: `0.0.0.0:5434`, `[::1]:5434`, `:5434` (all addresses).
 * Throws a RangeError naming `what` (the flag) when the text is not of that form.
 */
export function parseListenAddress(value: string, what: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) throw new RangeError(`${what} "${value}" must be host:port, e.g. 0.0.0.0:5434`);
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
  return { host, port: Number(match[2]) };
}
