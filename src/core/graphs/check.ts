import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { aggregateRoot, createArguments } from '../rrd/layout.js';
import { RrdtoolProcess } from '../rrd/rrdtool-process.js';
import { aggregateGraph, isAggregated } from './aggregate.js';
import {
  type ArgumentContext,
  graphArguments,
  metricPath,
  type ResolvedGraph,
  resolveTemplateGraph,
  xportArguments,
} from './graphs.js';
import type { TemplateSet } from './loader.js';
import { parseMetricRef, splitDef, TemplateError } from './template.js';
import { resolveRange } from './terms.js';

const SAMPLE_HOST = 'check.invalid';
const SAMPLE_ITEM = 'item0';
const SAMPLE_SERVICE = 'check-service';

/**
 * Let rrdtool itself try every template: create an empty RRD file for every metric a graph
 * reads (in a temporary data_dir), then run `graphv` and `xport` with the exact arguments a
 * render would use. Whatever rrdtool refuses (a bad RPN, a misspelt option) comes back as a
 * TemplateError at the graph's line, at start-up rather than as a broken image.
 */
export async function checkTemplatesWithRrdtool(
  set: TemplateSet,
  options: { binary?: string } = {},
): Promise<TemplateError[]> {
  const errors: TemplateError[] = [];
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kurado-check-'));
  const rrdtool = new RrdtoolProcess(options.binary ? { binary: options.binary } : {});
  const now = Math.floor(Date.now() / 1000);
  const created = new Set<string>();
  try {
    for (const template of set.templates.values()) {
      const plugin = template.plugin;
      for (const graph of template.graphs) {
        const item = graph.each ? SAMPLE_ITEM : undefined;
        const versions: { resolved: ResolvedGraph; root: string; host: string; what: string }[] = [
          {
            resolved: resolveTemplateGraph(plugin, template, graph, new Map(), item),
            root: dataDir,
            host: SAMPLE_HOST,
            what: '',
          },
        ];
        // The service-page version reads summary files: the scope's label stands in the host's place.
        if (isAggregated(graph)) {
          versions.push({
            resolved: aggregateGraph(template, graph),
            root: aggregateRoot(dataDir, SAMPLE_SERVICE),
            host: '',
            what: ' (service page)',
          });
        }
        for (const { resolved, root, host, what } of versions) {
          for (const line of resolved.lines) {
            const def = line.startsWith('DEF:') ? splitDef(line) : undefined;
            const ref = def && parseMetricRef(def.file.slice(4, -1));
            if (!ref || typeof ref === 'string') continue;
            const file = metricPath(root, host, resolved.plugin, ref);
            if (created.has(file)) continue;
            mkdirSync(path.dirname(file), { recursive: true });
            await rrdtool.run(['create', file, ...createArguments(ref.type, now - 7200)]);
            created.add(file);
          }
          const ctx: ArgumentContext = {
            dataDir: root,
            host,
            exists: () => true,
            range: resolveRange('day', now),
            width: 500,
            height: 100,
          };
          const where = (error: unknown) =>
            new TemplateError(
              graph.file,
              graph.line,
              `rrdtool refuses graph "${graph.key}"${what}: ${(error as Error).message.replace(/ \(command: .*$/s, '')}`,
            );
          let args: ReturnType<typeof graphArguments>;
          try {
            args = graphArguments(resolved, ctx);
            await rrdtool.run(['graphv', '-', ...args.options, ...args.defs, ...args.drawing]);
          } catch (error) {
            errors.push(where(error));
            continue;
          }
          try {
            await rrdtool.run(xportArguments(args, ctx));
          } catch (error) {
            errors.push(where(error));
          }
        }
      }
    }
  } finally {
    await rrdtool.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return errors;
}
