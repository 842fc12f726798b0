import { GraphRequestError, TERMS, type Term } from './types.js';

/** Span (seconds before now), x-grid and title of every fixed term (upstream-inventory §4.3). */
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

/** x-grid of a custom range, by its length (upstream-inventory §4.3). */
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

/** Oldest data a custom range may start at: the yearly RRA keeps about 3 years. */
const OLDEST_CUSTOM_START = 946684800; // 2000-01-01

function formatEpoch(epoch: number): string {
  const d = new Date(epoch * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function isTerm(value: string): value is Term {
  return (TERMS as readonly string[]).includes(value);
}

/**
 * Start, end, x-grid and title for a term at `now` (epoch seconds). A custom range needs both
 * `from` and `to`, `from` before `to`; a fixed term may take `to` to look at the past.
 */
export function resolveRange(term: string, now: number, from?: number, to?: number): ResolvedRange {
  if (!isTerm(term)) throw new GraphRequestError(`unknown term "${term}"; use one of ${TERMS.join(', ')}`);
  if (term === 'custom') {
    if (from === undefined || to === undefined || !Number.isFinite(from) || !Number.isFinite(to)) {
      throw new GraphRequestError('term "custom" needs both from and to (epoch seconds)');
    }
    if (from >= to)
      throw new GraphRequestError(`from (${formatEpoch(from)}) must be before to (${formatEpoch(to)})`);
    if (from < OLDEST_CUSTOM_START) throw new GraphRequestError(`from (${from}) is before the year 2000`);
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
  const end = to !== undefined && Number.isFinite(to) ? Math.floor(to) : Math.floor(now);
  return { start: end - spec.span, end, xgrid: spec.xgrid, title: spec.title };
}
