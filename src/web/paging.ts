/**
 * Paging of every listing the web answers (`/api/hosts`, `/api/status`, `/api/servers`, the fleet
 * page): `offset` and `limit` in the query, at most a fixed number of items per answer, and the
 * URL of the next (and previous) page.
 */
import { queryString, single } from './format.js';

export interface Page {
  limit: number;
  offset: number;
}

/** `limit` (default `max`, at most `max`) and `offset` of a listing; a bad value is a 400 reason. */
export function pageOf(query: Record<string, unknown>, max: number): Page | string {
  const limitText = single(query.limit);
  const offsetText = single(query.offset);
  if (limitText !== undefined && !/^\d{1,9}$/.test(limitText))
    return `limit="${limitText.slice(0, 20)}" must be a whole number`;
  if (offsetText !== undefined && !/^\d{1,9}$/.test(offsetText))
    return `offset="${offsetText.slice(0, 20)}" must be a whole number`;
  const limit = limitText === undefined ? max : Number(limitText);
  if (limit < 1 || limit > max) return `limit=${limit} must be between 1 and ${max}`;
  return { limit, offset: offsetText === undefined ? 0 : Number(offsetText) };
}

/** The same URL at another offset (the other parameters kept). */
function pageUrl(route: string, query: Record<string, unknown>, page: Page, offset: number): string {
  const params: Record<string, string | number | undefined> = {};
  for (const [key, value] of Object.entries(query)) params[key] = single(value);
  return `${route}${queryString({ ...params, offset, limit: page.limit })}`;
}

/** The URL of the next page, or null on the last one. */
export function nextPage(
  route: string,
  query: Record<string, unknown>,
  page: Page,
  total: number,
): string | null {
  if (page.offset + page.limit >= total) return null;
  return pageUrl(route, query, page, page.offset + page.limit);
}

/** The URL of the previous page, or null on the first one. */
export function previousPage(route: string, query: Record<string, unknown>, page: Page): string | null {
  if (page.offset === 0) return null;
  return pageUrl(route, query, page, Math.max(0, page.offset - page.limit));
}

/** The items of `page`. */
export function pageItems<T>(items: readonly T[], page: Page): T[] {
  return items.slice(page.offset, page.offset + page.limit);
}
