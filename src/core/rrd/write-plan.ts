import type { DsType } from '../protocol/types.js';
import type { RrdUpdate, WriteReport } from './types.js';

/**
 * What one write sends, before any I/O: the updates grouped per file, sorted by timestamp, each
 * value formatted the way rrdtool accepts it, and the operations (CREATE, UPDATE of a range of a
 * file's values) a back end runs.
 */

/** One file's values inside one write, sorted by timestamp, no timestamp twice. */
export interface FileValues {
  path: string;
  type: DsType;
  timestamps: number[];
  values: (number | null)[];
  /** Set once the file failed for good in this write (its values are in `failed`). */
  failed: boolean;
  /** The file vanished underneath once in this write and was created again. */
  recreated: boolean;
}

/** A unit of work the back end runs: create a file, or update it with `[from, to)` of its values. */
export type Operation =
  | { kind: 'create'; file: FileValues }
  | { kind: 'update'; file: FileValues; from: number; to: number };

export function emptyReport(): WriteReport {
  return { accepted: 0, duplicates: 0, created: 0, failed: [] };
}

/**
 * The text of one value in an UPDATE. COUNTER and DERIVE refuse anything but a plain integer
 * ("not a simple signed integer: '1.5'"), and rrdcached only finds out when it writes the file,
 * losing the file's whole queue then; so those are rounded and written without exponent here.
 * A negative COUNTER is refused the same way and becomes unknown.
 */
export function formatValue(value: number | null, type: DsType): string {
  if (value === null || !Number.isFinite(value)) return 'U';
  if (type === 'gauge' || type === 'absolute') return String(value);
  const integer = Math.round(value);
  if (type === 'counter' && integer < 0) return 'U';
  if (Number.isSafeInteger(integer)) return String(integer);
  return BigInt(integer).toString();
}

/**
 * Group updates per file, sorted by timestamp; a timestamp seen twice for a file (a message
 * delivered twice inside one write) keeps its first value and counts as a duplicate.
 */
export function groupByFile(updates: readonly RrdUpdate[], report: WriteReport): FileValues[] {
  const grouping = new FileGrouping();
  grouping.add(updates, 0, updates.length);
  return grouping.finish(report);
}

/** `groupByFile` in slices (`add` each range, then `finish`), so a big write can yield between. */
export class FileGrouping {
  private readonly byPath = new Map<string, FileValues>();
  private unsorted: Set<FileValues> | undefined;

  /** Take `updates[from, to)`. */
  add(updates: readonly RrdUpdate[], from: number, to: number): void {
    const byPath = this.byPath;
    for (let index = from; index < to; index++) {
      const update = updates[index] as RrdUpdate;
      const file = byPath.get(update.path);
      if (file === undefined) {
        // Most files get one value per write: arrays of exactly that size, not the spare
        // capacity a first push() reserves.
        byPath.set(update.path, {
          path: update.path,
          type: update.type,
          timestamps: [update.timestamp],
          values: [update.value],
          failed: false,
          recreated: false,
        });
        continue;
      }
      const count = file.timestamps.length;
      if (count > 0 && update.timestamp <= (file.timestamps[count - 1] as number)) {
        this.unsorted ??= new Set();
        this.unsorted.add(file);
      }
      file.timestamps.push(update.timestamp);
      file.values.push(update.value);
    }
  }

  /** The files, each sorted with duplicates counted in `report`. */
  finish(report: WriteReport): FileValues[] {
    if (this.unsorted) for (const file of this.unsorted) sortAndDedupe(file, report);
    return [...this.byPath.values()];
  }
}

function sortAndDedupe(file: FileValues, report: WriteReport): void {
  const order = file.timestamps.map((_, index) => index);
  // Stable sort: among equal timestamps the first delivered stays first and is kept.
  order.sort((a, b) => (file.timestamps[a] as number) - (file.timestamps[b] as number));
  const timestamps: number[] = [];
  const values: (number | null)[] = [];
  for (const index of order) {
    const timestamp = file.timestamps[index] as number;
    if (timestamps.length > 0 && timestamps[timestamps.length - 1] === timestamp) {
      report.duplicates++;
      continue;
    }
    timestamps.push(timestamp);
    values.push(file.values[index] as number | null);
  }
  file.timestamps = timestamps;
  file.values = values;
}

/** First index in `[from, to)` whose timestamp is above `limit` (timestamps are sorted). */
export function firstAbove(timestamps: readonly number[], from: number, to: number, limit: number): number {
  let low = from;
  let high = to;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((timestamps[middle] as number) > limit) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** Mark a file failed for the rest of the write, once, with the reason the report shows. */
export function failFile(file: FileValues, reason: string, report: WriteReport): void {
  if (file.failed) return;
  file.failed = true;
  report.failed.push({ path: file.path, reason });
}
