/**
 * Upper bounds on what one web request may ask for or be answered with, so that a viewer (or a
 * script) cannot slow down the server for everyone else. The README's "Limits" table lists them.
 * Graph sizes and time ranges are the renderer's rules (src/core/graphs), not repeated here.
 */
import type { AuthLimits } from './access.js';

export interface WebLimits {
  /** Largest request body (only POST /api/status takes one). */
  bodyBytes: number;
  /** Hosts one request may name: /compare, /api/status?host=… and its POST body. */
  hostsPerRequest: number;
  /** Longest host name or address in a URL (a DNS name has at most 253 characters). */
  hostParamLength: number;
  /** Longest plugin identifier or graph key in a URL. */
  nameParamLength: number;
  /** Longest value of any other query parameter (search text, service name, times). */
  queryValueLength: number;
  /** Hosts per page of /api/hosts, /api/status and /api/servers, and services in the fleet sidebar (`limit` may ask for fewer). */
  pageSize: number;
  /** Hosts per fleet page (`limit` may ask for fewer); at most hostsPerRequest, so one status request refreshes a page. */
  fleetPageSize: number;
  /**
   * How long the fleet page reuses one read of every host and status (ms; 0 = every request
   * reads): each page needs the whole fleet (sidebar, counts, order), so viewers paging through
   * or reloading a fleet of 20,000 hosts cost one read per this time, not one per request.
   */
  fleetSnapshotMs: number;
  /** Meta entries in one /api/hosts/<host> answer and on one host page. */
  metaPerHost: number;
  /** Warnings in one /api/hosts/<host> answer and on one host page. */
  warningsPerHost: number;
  /** Longest meta value or warning message shown (longer ones are cut, with "…"). */
  valueLength: number;
  /**
   * Graphs (PNG or data) one client may have waiting for or in the rrdtool pool at once; 0 = no
   * limit. A browser keeps at most 6 requests in flight per server, so this only stops scripts
   * from queueing so much that everyone else's graphs wait behind theirs.
   */
  rendersPerClient: number;
  auth: Partial<AuthLimits>;
}

export const DEFAULT_WEB_LIMITS: WebLimits = {
  bodyBytes: 64 * 1024,
  hostsPerRequest: 500,
  hostParamLength: 255,
  nameParamLength: 255,
  queryValueLength: 1024,
  pageSize: 1000,
  fleetPageSize: 500,
  fleetSnapshotMs: 5000,
  metaPerHost: 1000,
  warningsPerHost: 200,
  valueLength: 4096,
  rendersPerClient: 64,
  auth: {},
};

/**
 * The value of `read`, reused for `ttlMs` after it was read; callers arriving while a read is
 * under way share it. A failed read is not kept.
 */
export function reusedFor<T>(ttlMs: number, read: () => Promise<T>, nowMs: () => number = Date.now) {
  let kept: { at: number; value: Promise<T> } | undefined;
  return (): Promise<T> => {
    const now = nowMs();
    if (kept && now - kept.at < ttlMs) return kept.value;
    const value = read();
    const entry = { at: now, value };
    kept = entry;
    value.catch(() => {
      if (kept === entry) kept = undefined;
    });
    return value;
  };
}

/** The first `max` items and whether any were left out. */
export function capped<T>(items: T[], max: number): { items: T[]; truncated: boolean } {
  return items.length > max ? { items: items.slice(0, max), truncated: true } : { items, truncated: false };
}

/** A text cut to `max` characters (with "…" when cut). */
export function cutText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
