import { redactUrl } from '../core/config.js';
import { openStore, parseStoreUrl, type SchemaAction } from '../core/store/index.js';
import type { MetaStore } from '../core/store/types.js';

/**
 * The store for a maintenance command. SQLite is migrated on the spot (one machine, nothing to
 * coordinate); MySQL must have been migrated with `kurado db migrate`, else a clear error says so.
 */
export async function openStoreForCommand(url: string, schema?: SchemaAction): Promise<MetaStore> {
  return openStore(url, { schema: schema ?? (parseStoreUrl(url).kind === 'mysql' ? 'check' : 'migrate') });
}

/** The store URL as it may be printed: no password. */
export function shownStoreUrl(url: string): string {
  return redactUrl(url);
}

/** `2026-11-25 14:03:00` in the local time zone, for tables. */
export function localTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
