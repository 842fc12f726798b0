import { RRD_RETENTION_SECONDS } from '../rrd/layout.js';
import { GraphRequestError, TERMS, type Term } from './types.js';

/** Span (seconds before now), x-grid and title of every fixed term, as upstream Kurado drew them. */
export const TERM_SPECS: Record<Exclude<Term, 'custom'>, { span: number; xgrid: string; title: string }> = {
  '1hour': { span: 70 * 60, xgrid: 'MINUTE:10:MINUTE:20:MINUTE:10:0:%H:%M', title: 'Hour' },
  '4hours': { span: 4 * 3600, xgrid: 'MINUTE:30:HOUR:1:HOUR:1:0:%H:%M', title: '4 Hours' },
  '8hours': { span: 8 * 3600, xgrid: 'MINUTE:30:HOUR:1:HOUR:1:0:%H:%M', title: '8 Hours' },
  day: { span: 33 * 3600, xgrid: 'HOUR:2:HOUR:4:HOUR:4:0:%H:%M', title: 'Day' },
  '3days': { span: 3 * 86400, xgrid: 'HOUR:6:DAY:1:HOUR:12:0:%H:%M', title: '3 Days' },
  week: { span: 8 * 86400, xgrid: 'DAY:1:DAY:1:DAY:1:86400:%a', title: 'Week' },
  month: { span: 35 * 86400, xgrid: 'WEEK:1:WEEK:1:WEEK:1:604800:Week %W', title: 'Month' },
  year: { span: 400 * 86400, xgrid: 'MONTH:1:MONTH:1:MONTH:1:2592000:%b', title: 'Year' },
};

/** x-grid of a custom range, by its length (upstream Kurado's steps: 3 h, 4 d, 14 d, 45 d). */
export function customXgrid(seconds: number): string {
  if (seconds < 3 * 3600) return 'MINUTE:10:MINUTE:30:MINUTE:30:0:%H:%M';
  if (seconds < 4 * 86400) return 'HOUR:1:DAY:1:HOUR:2:0:%H:%M';
  if (seconds < 14 * 86400) return 'DAY:1:DAY:7:DAY:2:0:%m/%d';
  if (seconds < 45 * 86400) return 'DAY:1:WEEK:1:WEEK:1:0:%m/%d';
  return 'WEEK:1:MONTH:1:MONTH:1:2592000:%b';
}

export interface ResolvedRange {
  start: number;
  end: number;
  xgrid: string;
  /** "Day", "4 Hours", "2026-11-24 10:00 to 2026-11-25 10:00". */
  title: string;
}

/** Epoch seconds below this (2000-01-01T00:00Z) are a typo, not a time anyone has data for. */
export const EARLIEST_EPOCH = 946684800;
/** A range may end at most this far after now (clock skew between viewer and server). */
export const RANGE_MAX_FUTURE_SECONDS = 3600;
/** A range may reach back at most as far as the longest archive of the RRD files. */
export const RANGE_MAX_PAST_SECONDS = RRD_RETENTION_SECONDS;
/** Longest time text worth parsing; anything longer is refused before any pattern runs. */
const MAX_TIME_TEXT = 32;

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;

function shown(text: string): string {
  return JSON.stringify(text.length > MAX_TIME_TEXT ? `${text.slice(0, MAX_TIME_TEXT)}…` : text);
}

/**
 * A point in time as a user types it: epoch seconds (at least EARLIEST_EPOCH, so `1` is not
 * read as 1970 or 2001) or `YYYY-MM-DDTHH:MM[:SS]` (a space for the `T` too) in the server's
 * time zone, as `<input type=datetime-local>` sends it. Nothing else: no `Date.parse` guessing.
 */
export function parseTimeText(text: string, name: string): number {
  const value = text.trim();
  const usage = 'epoch seconds from 946684800 (2000-01-01) or YYYY-MM-DDTHH:MM';
  if (value.length > MAX_TIME_TEXT || value === '')
    throw new GraphRequestError(`${name}=${shown(value)} is not a time: use ${usage}`);
  if (/^\d+$/.test(value)) {
    const epoch = Number(value);
    if (epoch < EARLIEST_EPOCH)
      throw new GraphRequestError(`${name}=${value} is before 2000-01-01: use ${usage}`);
    return epoch;
  }
  const match = DATE_TIME.exec(value);
  if (!match) throw new GraphRequestError(`${name}=${shown(value)} is not a time: use ${usage}`);
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(year, month, 0).getDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59)
    throw new GraphRequestError(`${name}=${shown(value)} is not a valid date and time`);
  const epoch = Math.floor(new Date(year, month - 1, day, hour, minute, second).getTime() / 1000);
  if (epoch < EARLIEST_EPOCH) throw new GraphRequestError(`${name}=${shown(value)} is before 2000-01-01`);
  return epoch;
}

/** A range's edge must lie within what the RRD files hold, and not far in the future. */
function checkEdge(name: string, epoch: number, now: number): void {
  const oldest = now - RANGE_MAX_PAST_SECONDS;
  if (epoch < oldest) {
    throw new GraphRequestError(
      `${name} (${formatEpoch(epoch)}) is older than the data kept: RRD files hold ${Math.round(RANGE_MAX_PAST_SECONDS / 86400)} days, back to ${formatEpoch(oldest)}`,
    );
  }
  if (epoch > now + RANGE_MAX_FUTURE_SECONDS) {
    throw new GraphRequestError(
      `${name} (${formatEpoch(epoch)}) is more than ${RANGE_MAX_FUTURE_SECONDS / 3600} hour in the future (now ${formatEpoch(now)})`,
    );
  }
}

function formatEpoch(epoch: number): string {
  const d = new Date(epoch * 1000);
  if (Number.isNaN(d.getTime())) return String(epoch);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function isTerm(value: string): value is Term {
  return (TERMS as readonly string[]).includes(value);
}

/**
 * Start, end, x-grid and title for a term at `now` (epoch seconds). A custom range needs both
 * `from` and `to`, `from` before `to`; a fixed term may take `to` to look at the past. Every
 * edge lies within what the RRD files hold and at most an hour ahead: a range of centuries
 * makes rrdtool work for as long as the render timeout lets it.
 */
export function resolveRange(term: string, now: number, from?: number, to?: number): ResolvedRange {
  if (!isTerm(term)) throw new GraphRequestError(`unknown term "${term}"; use one of ${TERMS.join(', ')}`);
  if (term === 'custom') {
    if (from === undefined || to === undefined || !Number.isFinite(from) || !Number.isFinite(to)) {
      throw new GraphRequestError('term "custom" needs both from and to (epoch seconds)');
    }
    if (from >= to)
      throw new GraphRequestError(`from (${formatEpoch(from)}) must be before to (${formatEpoch(to)})`);
    checkEdge('from', from, now);
    checkEdge('to', to, now);
    const start = Math.floor(from);
    const end = Math.floor(to);
    return {
      start,
      end,
      xgrid: customXgrid(end - start),
      title: `${formatEpoch(start)} to ${formatEpoch(end)}`,
    };
  }
  const spec = TERM_SPECS[term];
  if (to !== undefined && !Number.isFinite(to)) throw new GraphRequestError('to must be epoch seconds');
  if (to !== undefined) checkEdge('to', to, now);
  const end = to !== undefined ? Math.floor(to) : Math.floor(now);
  return { start: end - spec.span, end, xgrid: spec.xgrid, title: spec.title };
}
