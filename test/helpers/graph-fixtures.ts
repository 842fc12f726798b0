import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { PluginTemplate } from '../../src/core/graphs/template.js';
import type { DsType } from '../../src/core/protocol/types.js';
import { createArguments, rrdFilePath } from '../../src/core/rrd/layout.js';
import { RrdtoolProcess } from '../../src/core/rrd/rrdtool-process.js';

export interface FixtureMetric {
  name: string;
  type: DsType;
}

/** Every metric a template's own DEFs read, with `{item}` replaced by each of `items`. */
export function templateMetrics(template: PluginTemplate, items: string[]): FixtureMetric[] {
  const out = new Map<string, FixtureMetric>();
  for (const graph of template.graphs) {
    for (const item of graph.each ? items : ['']) {
      for (const line of graph.lines) {
        for (const m of line.text.replaceAll('{item}', item).matchAll(/\{rrd ([^{}\s]+)\}/g)) {
          const spec = m[1]!;
          const dot = spec.lastIndexOf('.');
          out.set(spec, { name: spec.slice(0, dot), type: spec.slice(dot + 1) as DsType });
        }
      }
    }
  }
  return [...out.values()];
}

/**
 * Create one RRD file per metric for host+plugin under dataDir (the production layout and
 * schema) and fill it with `hours` of one-minute values ending at `end`: gauges wander, counters
 * grow, so every graph has something to draw.
 */
export async function writeFixtureRrds(options: {
  dataDir: string;
  host: string;
  plugin: string;
  metrics: FixtureMetric[];
  end: number;
  hours?: number;
}): Promise<string[]> {
  const hours = options.hours ?? 6;
  const end = options.end - (options.end % 60);
  const start = end - hours * 3600;
  const rrdtool = new RrdtoolProcess();
  const files: string[] = [];
  try {
    for (const [index, metric] of options.metrics.entries()) {
      const file = rrdFilePath(options.dataDir, options.host, options.plugin, metric.name, metric.type);
      mkdirSync(path.dirname(file), { recursive: true });
      await rrdtool.run(['create', file, ...createArguments(metric.type, start)]);
      const values: string[] = [];
      let counter = 1000 * (index + 1);
      for (let t = start; t <= end; t += 60) {
        const phase = (t - start) / 3600 + index;
        if (metric.type === 'gauge') {
          values.push(`${t}:${(50 + 40 * Math.sin(phase)) * (index + 1)}`);
        } else {
          counter += Math.round(60 * (20 + 10 * Math.sin(phase)) * (index + 1));
          values.push(`${t}:${counter}`);
        }
      }
      for (let i = 0; i < values.length; i += 200) {
        await rrdtool.run(['update', file, ...values.slice(i, i + 200)]);
      }
      files.push(file);
    }
  } finally {
    await rrdtool.close();
  }
  return files;
}
