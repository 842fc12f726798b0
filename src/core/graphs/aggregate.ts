import { ALL_ITEMS, SUMMARY_NAMES } from '../aggregate/summary.js';
import { type ResolvedGraph, resolveTemplateGraph } from './graphs.js';
import {
  type AggregateMode,
  type GraphTemplate,
  type PluginTemplate,
  parseMetricRef,
  splitDef,
} from './template.js';

/** What a per-item graph (traffic per interface) is called on a service page: every item summed. */
export const ALL_ITEMS_LABEL = 'all';

/** Variable holding the number of hosts that reported, drawn in every service-page graph's legend. */
const HOSTS_VNAME = 'kurado_hosts';

/** Does a template graph have a service-page version? */
export function isAggregated(graph: GraphTemplate): boolean {
  return graph.aggregate !== 'none';
}

/**
 * The service-page version of a template graph, with `{rrd …}` still to be resolved against the
 * scope's summary root (the scope's label takes the host's place in the layout):
 * - a DEF of the plugin's own metric reads the summed file (`aggregate = "sum"`), or the sum
 *   divided by the number of hosts that reported it (`"avg"`); `"none"`, or another host's or
 *   plugin's file, is drawn as unknown;
 * - LIMIT keeps its lower bound but not its upper one, a sanity bound for one host's rate that
 *   a sum over many hosts rightly passes;
 * - `aggregate_lines` follow, then a legend line with the number of hosts that reported.
 */
export function aggregateGraph(template: PluginTemplate, graph: GraphTemplate): ResolvedGraph {
  const resolved = resolveTemplateGraph(
    template.plugin,
    template,
    { ...graph, lines: [...graph.lines, ...graph.aggregateLines] },
    new Map(),
    graph.each ? ALL_ITEMS : undefined,
    graph.each ? ALL_ITEMS_LABEL : undefined,
  );
  const lines: string[] = [];
  const unknown: string[] = [];
  for (const line of resolved.lines) {
    if (line.startsWith('DEF:')) {
      const def = splitDef(line);
      const ref = def && parseMetricRef(def.file.slice(4, -1));
      if (!def || !ref || typeof ref === 'string') continue;
      const mode: AggregateMode = ref.plugin || ref.host ? 'none' : (ref.aggregate ?? graph.aggregate);
      const metric = `${ref.name}.${ref.type}`;
      const options = def.rest.join(':');
      if (mode === 'none') {
        unknown.push(def.vname);
      } else if (mode === 'sum') {
        lines.push(`DEF:${def.vname}={rrd ${SUMMARY_NAMES.sum(metric)}.gauge}:${options}`);
      } else {
        lines.push(`DEF:${def.vname}__sum={rrd ${SUMMARY_NAMES.sum(metric)}.gauge}:${options}`);
        lines.push(`DEF:${def.vname}__count={rrd ${SUMMARY_NAMES.count(metric)}.gauge}:${options}`);
        lines.push(`CDEF:${def.vname}=${def.vname}__sum,${def.vname}__count,/`);
      }
      continue;
    }
    if (line.startsWith('CDEF:')) {
      lines.push(line.replace(/,(-?[0-9.eE+]+),([0-9.eE+]+),LIMIT\b/g, ',$1,INF,LIMIT'));
      continue;
    }
    lines.push(line);
  }
  // DEFs come first in a template, so the stand-ins for unaggregated ones can follow them.
  const hostsDef = `DEF:${HOSTS_VNAME}={rrd ${SUMMARY_NAMES.hosts}.gauge}:n:AVERAGE`;
  const firstNonDef = lines.findIndex((l) => !l.startsWith('DEF:'));
  const at = firstNonDef < 0 ? lines.length : firstNonDef;
  lines.splice(at, 0, hostsDef, ...unknown.map((v) => `CDEF:${v}=${HOSTS_VNAME},POP,UNKN`));
  lines.push(
    `GPRINT:${HOSTS_VNAME}:LAST:Hosts reporting  Cur\\:%4.0lf`,
    `GPRINT:${HOSTS_VNAME}:MIN:Min\\:%4.0lf`,
    `GPRINT:${HOSTS_VNAME}:MAX:Max\\:%4.0lf\\l`,
  );
  // Per-item graphs lose their item: one graph over every item has the template's key.
  return { ...resolved, key: graph.key, lines };
}
