import { DEFAULT_COLLECTORS } from './collectors/index.js';
/** A wire value must stay on one line and in one field. */
export function oneLine(text) {
  return text.replace(/[\t\r\n]+/g, ' ').trim();
}
function byKey(a, b) {
  const keyA = a.slice(0, a.indexOf('\t'));
  const keyB = b.slice(0, b.indexOf('\t'));
  return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
}
/**
 * Run every collector once. A collector that throws (file missing, layout unknown) becomes one
 * `base.warn.<collector>` line and the others still report; each group is sorted by key, the order
 * the design notes give (metrics, then meta, then warn).
 */
export function collectBase(files, now, collectors = DEFAULT_COLLECTORS) {
  const metrics = [];
  const meta = [];
  const warnings = [];
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
      warnings.push(`base.warn.${collector.name}\t${oneLine(String(error.message ?? error))}\t${now}`);
    }
  }
  return { metrics: metrics.sort(byKey), meta: meta.sort(byKey), warnings: warnings.sort(byKey) };
}
//# sourceMappingURL=collect.js.map
