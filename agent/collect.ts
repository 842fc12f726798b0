import { parseMessage } from '../src/core/protocol/index.js';
import { type Collector, DEFAULT_COLLECTORS } from './collectors/index.js';
import type { HostFiles } from './host-files.js';

/** The `base` part of one tick, already as wire lines `key<TAB>value<TAB>epoch`. */
export interface BaseCollection {
  metrics: string[];
  meta: string[];
  warnings: string[];
}

/** A wire value must stay on one line and in one field. */
export function oneLine(text: string): string {
  return text.replace(/[\t\r\n]+/g, ' ').trim();
}

function byKey(a: string, b: string): number {
  const keyA = a.slice(0, a.indexOf('\t'));
  const keyB = b.slice(0, b.indexOf('\t'));
  return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
}

/**
 * Run every collector once. A collector that throws (file missing, layout unknown) becomes one
 * `base.warn.<collector>` line and the others still report; each group is sorted by key, the order
 * the upstream agent printed (metrics, then meta, then warn).
 */
export function collectBase(
  files: HostFiles,
  now: number,
  collectors: readonly Collector[] = DEFAULT_COLLECTORS,
): BaseCollection {
  const metrics: string[] = [];
  const meta: string[] = [];
  const warnings: string[] = [];
  for (const collector of collectors) {
    try {
      const report = collector.collect(files);
      for (const metric of report.metrics) {
        metrics.push(`base.metrics.${metric.name}.${metric.type}\t${metric.value}\t${now}`);
      }
      for (const entry of report.meta) meta.push(`base.meta.${entry.name}\t${oneLine(entry.value)}\t${now}`);
      if (report.problems && report.problems.length > 0) {
        warnings.push(`base.warn.${collector.name}\t${oneLine(report.problems.join('; '))}\t${now}`);
      }
    } catch (error) {
      warnings.push(
        `base.warn.${collector.name}\t${oneLine(String((error as Error).message ?? error))}\t${now}`,
      );
    }
  }
  // Check the lines as a receiver will: a device name too long for a metric key, or a meta list
  // longer than a line may be (hundreds of container veths), becomes one warning here instead of
  // a rejection on the server.
  const accepted = (lines: string[]) => {
    const parsed = parseMessage(lines.join('\n'), { host: 'localhost', now });
    if (parsed.rejected.length === 0) return lines;
    const rejected = new Set(parsed.rejected.map((rejection) => rejection.line));
    const first = parsed.rejected[0]!;
    const more = parsed.rejected.length > 1 ? ` (and ${parsed.rejected.length - 1} more)` : '';
    warnings.push(`base.warn.unsendable\t${oneLine(`${first.reason}${more}`)}\t${now}`);
    return lines.filter((_, index) => !rejected.has(index + 1));
  };
  const sendableMetrics = accepted(metrics);
  const sendableMeta = accepted(meta);
  return {
    metrics: sendableMetrics.sort(byKey),
    meta: sendableMeta.sort(byKey),
    warnings: warnings.sort(byKey),
  };
}
