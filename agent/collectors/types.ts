import type { DsType } from '../../src/core/protocol/index.js';
import type { HostFiles } from '../host-files.js';

/** One `base.metrics.<name>.<type>` value. Counters stay decimal strings: /proc counters are 64-bit. */
export interface BaseMetric {
  name: string;
  type: DsType;
  value: string;
}

/** One `base.meta.<name>` text value. */
export interface BaseMeta {
  name: string;
  value: string;
}

/** What one collector found. `problems` become one `base.warn.<collector>` line; values still count. */
export interface CollectorReport {
  metrics: BaseMetric[];
  meta: BaseMeta[];
  problems?: string[];
}

/** A default collector: reads its sources through `files`, parses them with pure functions. */
export interface Collector {
  /** Upstream function name, used in `base.warn.<name>`. */
  name: string;
  collect(files: HostFiles): CollectorReport;
}

/** Error for a file that is not in the layout its parser expects, naming the file. */
export class SourceFormatError extends Error {
  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = 'SourceFormatError';
  }
}

const UNSIGNED = /^\d+$/;

/** `text` when it is an unsigned decimal counter, else a SourceFormatError naming source and field. */
export function counter(text: string | undefined, source: string, field: string): string {
  if (text === undefined || !UNSIGNED.test(text)) {
    throw new SourceFormatError(source, `${field} is "${text ?? ''}", expected an unsigned integer`);
  }
  // Drop leading zeros so the wire value is canonical; "0" stays "0".
  return text.replace(/^0+(?=\d)/, '');
}

/** Device names in metric keys: anything but `[A-Za-z0-9_-]` becomes `_` (upstream rule). */
export function deviceKeyName(device: string): string {
  return device.replace(/[^A-Za-z0-9_-]/g, '_');
}
