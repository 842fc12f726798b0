import path from 'node:path';
import { rrdFilePath } from '../rrd/layout.js';
import type { MetaEntry } from '../store/types.js';
import { GRAPH_STYLE, styleArguments } from './style.js';
import {
  type GraphTemplate,
  type MetricRef,
  type PluginTemplate,
  parseMetricRef,
  splitDef,
  substituteText,
} from './template.js';
import type { ResolvedRange } from './terms.js';
import { type GraphGroup, type GraphInfo, GraphNotFoundError } from './types.js';

/** `nginx:8080:/nginx_status` → `nginx`. */
export function pluginName(identifier: string): string {
  return identifier.split(':')[0] ?? identifier;
}

/** `nginx:8080:/nginx_status` → `['8080', '/nginx_status']`, completed from the template's defaults. */
export function pluginArgs(identifier: string, defaults: string[] = []): string[] {
  const given = identifier.split(':').slice(1);
  const out = [...defaults];
  given.forEach((arg, i) => {
    if (arg !== '') out[i] = arg;
  });
  return out;
}

/** Meta of one plugin as name → value. */
export function metaMap(meta: MetaEntry[], plugin: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of meta) if (entry.plugin === plugin) map.set(entry.name, entry.value);
  return map;
}

function metaList(meta: Map<string, string>, name: string): string[] {
  return (meta.get(name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A graph ready to turn into rrdtool arguments: placeholders other than `{rrd …}` resolved. */
export interface ResolvedGraph {
  plugin: string;
  key: string;
  title: string;
  group: string;
  verticalLabel?: string;
  options: string[];
  lines: string[];
  item?: string;
  label?: string;
  auto: boolean;
}

function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Own-plugin metric refs of a template graph, `{item}` still in the name. */
function ownRefs(graph: GraphTemplate, args: string[]): MetricRef[] {
  const refs: MetricRef[] = [];
  for (const line of graph.lines) {
    if (!line.text.startsWith('DEF:')) continue;
    const text = substituteText(line.text, { args, item: '\u0000ITEM\u0000' });
    const def = splitDef(text);
    if (!def) continue;
    const ref = parseMetricRef(def.file.slice(4, -1));
    if (typeof ref !== 'string' && !ref.plugin && !ref.host) refs.push(ref);
  }
  return refs;
}

function refFile(ref: MetricRef, item?: string): string {
  const name = item === undefined ? ref.name : ref.name.split('\u0000ITEM\u0000').join(item);
  return `${name}.${ref.type}`;
}

/** Items of a per-item graph: the meta list first, then items only the files on disk show. */
function itemsOf(
  graph: GraphTemplate,
  refs: MetricRef[],
  meta: Map<string, string>,
  metrics: Set<string>,
): string[] {
  const items = graph.each ? metaList(meta, graph.each) : [];
  const seen = new Set(items);
  const inferred = new Set<string>();
  for (const ref of refs) {
    const pattern = `${ref.name}.${ref.type}`;
    if (!pattern.includes('\u0000ITEM\u0000')) continue;
    const re = new RegExp(`^${pattern.split('\u0000ITEM\u0000').map(regexEscape).join('(.+)')}$`);
    for (const metric of metrics) {
      const m = re.exec(metric);
      if (m?.[1] && !seen.has(m[1])) inferred.add(m[1]);
    }
  }
  return [...items, ...[...inferred].sort()];
}

function labelOf(graph: GraphTemplate, item: string, meta: Map<string, string>): string {
  let label = item;
  if (graph.itemLabel) {
    const value = meta.get(substituteText(graph.itemLabel, { item, args: [] }));
    if (value) label = value;
  }
  for (const [list, suffix] of Object.entries(graph.itemMarks)) {
    if (metaList(meta, list).includes(item)) label += suffix;
  }
  return label;
}

export function resolveTemplateGraph(
  plugin: string,
  template: PluginTemplate,
  graph: GraphTemplate,
  meta: Map<string, string>,
  item?: string,
  /** The item's label instead of the one meta gives (a service page's "all"). */
  itemLabel?: string,
): ResolvedGraph {
  const args = pluginArgs(plugin, template.defaultArgs);
  const label = item === undefined ? undefined : (itemLabel ?? labelOf(graph, item, meta));
  const values = { item, label, args };
  const resolved: ResolvedGraph = {
    plugin,
    key: item === undefined ? graph.key : `${graph.key}-${item}`,
    title: substituteText(graph.title, values),
    group: substituteText(graph.group, values),
    options: graph.options,
    lines: graph.lines.map((l) => substituteText(l.text, values)),
    auto: false,
  };
  if (graph.verticalLabel) resolved.verticalLabel = substituteText(graph.verticalLabel, values);
  if (item !== undefined) resolved.item = item;
  if (label !== undefined) resolved.label = label;
  return resolved;
}

/** rrdtool legend text: `:` must be escaped, `\` would start an escape. */
function legendText(text: string): string {
  return text.replace(/\\/g, '/').replace(/:/g, '\\:');
}

/** One graph for one metric file of a plugin without (or beyond) a template. */
export function autoGraph(plugin: string, metric: string, group: string): ResolvedGraph {
  const dot = metric.lastIndexOf('.');
  const name = metric.slice(0, dot);
  const type = metric.slice(dot + 1);
  const rate = type !== 'gauge';
  return {
    plugin,
    key: metric,
    title: rate ? `${name}/s` : name,
    group,
    ...(rate ? { verticalLabel: 'per second' } : {}),
    options: [],
    lines: [
      `DEF:v={rrd ${metric}}:n:AVERAGE`,
      `LINE1:v#${GRAPH_STYLE.autoColor}:${legendText(rate ? `${name}/s` : name)}`,
      'STATS:v:%6.2lf%s',
    ],
    auto: true,
  };
}

const AUTO_KEY = /^.+\.(gauge|counter|derive|absolute)$/;

/** Every graph of one plugin directory, in template order, then automatic ones. */
export function pluginGraphs(
  plugin: string,
  template: PluginTemplate | undefined,
  metrics: Set<string>,
  meta: Map<string, string>,
): ResolvedGraph[] {
  const out: ResolvedGraph[] = [];
  const covered = new Set<string>();
  if (template) {
    const args = pluginArgs(plugin, template.defaultArgs);
    for (const graph of template.graphs) {
      const refs = ownRefs(graph, args);
      const items: (string | undefined)[] = graph.each ? itemsOf(graph, refs, meta, metrics) : [undefined];
      for (const item of items) {
        const files = refs.map((r) => refFile(r, item));
        for (const f of files) covered.add(f);
        if (!files.some((f) => metrics.has(f))) continue;
        out.push(resolveTemplateGraph(plugin, template, graph, meta, item));
      }
      // Files of items not (or no longer) listed are still covered by this graph's pattern.
      if (graph.each) {
        for (const ref of refs) {
          const pattern = `${ref.name}.${ref.type}`;
          const re = new RegExp(`^${pattern.split('\u0000ITEM\u0000').map(regexEscape).join('.+')}$`);
          for (const m of metrics) if (re.test(m)) covered.add(m);
        }
      }
    }
  }
  if (!template || template.uncovered === 'auto') {
    const group = template ? `${plugin} (other metrics)` : plugin;
    for (const metric of [...metrics].sort()) {
      if (!covered.has(metric) && AUTO_KEY.test(metric)) out.push(autoGraph(plugin, metric, group));
    }
  }
  return out;
}

/** Graphs grouped under their headings, in order of first appearance. */
export function groupGraphs(graphs: ResolvedGraph[]): GraphGroup[] {
  const groups: GraphGroup[] = [];
  for (const g of graphs) {
    let group = groups.find((x) => x.title === g.group);
    if (!group) {
      group = { title: g.group, graphs: [] };
      groups.push(group);
    }
    const info: GraphInfo = { plugin: g.plugin, key: g.key, title: g.title };
    group.graphs.push(info);
  }
  return groups;
}

/**
 * The graph `key` of a plugin: a template graph, a per-item graph `<key>-<item>`, or an
 * automatic graph `<metric>.<type>` for any metric file the plugin has.
 */
export function findGraph(
  plugin: string,
  template: PluginTemplate | undefined,
  key: string,
  metrics: Set<string>,
  meta: Map<string, string>,
): ResolvedGraph {
  // A metric's own key (`traffic-eth0-rxbytes.derive`) wins over a per-item reading of it.
  if (AUTO_KEY.test(key) && metrics.has(key)) return autoGraph(plugin, key, plugin);
  if (template) {
    const exact = template.graphs.find((g) => !g.each && g.key === key);
    if (exact) return resolveTemplateGraph(plugin, template, exact, meta);
    const perItem = template.graphs
      .filter((g) => g.each && key.startsWith(`${g.key}-`) && key.length > g.key.length + 1)
      .sort((a, b) => b.key.length - a.key.length)[0];
    if (perItem)
      return resolveTemplateGraph(plugin, template, perItem, meta, key.slice(perItem.key.length + 1));
  }
  const known = pluginGraphs(plugin, template, metrics, meta).map((g) => g.key);
  throw new GraphNotFoundError(
    `no graph "${key}" for plugin "${plugin}"${known.length ? `; available: ${known.join(', ')}` : ''}`,
  );
}

export interface ArgumentContext {
  dataDir: string;
  host: string;
  /** Does this RRD file exist? (missing DEFs are drawn as unknown, all missing = not found) */
  exists: (file: string) => boolean;
  range: ResolvedRange;
  width: number;
  height: number;
  /** Shown in the title instead of the address. */
  hostLabel?: string;
  /** Only the plot (`--only-graph`): a sparkline. */
  onlyGraph?: boolean;
  daemon?: string;
  /** A DEF file's path as rrdtool is to name it (default: as it is, absolute). */
  pathOf?: (file: string) => string;
  /** The daemon a DEF reads through, when it may differ from `daemon` (another host's node). */
  daemonOfFile?: (file: string) => string | undefined;
}

export interface GraphArguments {
  /** Everything after `graphv -` (or `xport`): options, DEF/CDEF/VDEF, then drawing lines. */
  defs: string[];
  drawing: string[];
  options: string[];
  /** Drawn series: vname and legend, in order (for xport). */
  series: { vname: string; legend: string }[];
  /** Files read. */
  files: string[];
}

/** Path of a `{rrd …}` reference, always inside data_dir (escaped like the write path). */
export function metricPath(dataDir: string, host: string, plugin: string, ref: MetricRef): string {
  const root = path.resolve(dataDir);
  const file = rrdFilePath(root, ref.host ?? host, ref.plugin ?? plugin, ref.name, ref.type);
  if (!file.startsWith(root + path.sep))
    // Shown to viewers: the metric, not the server path (the layout escapes, so this never happens).
    throw new GraphNotFoundError(`metric file of ${ref.name} would be outside data_dir`);
  return file;
}

const STATS_LABELS: Record<string, string> = { LAST: 'Cur', AVERAGE: 'Ave', MAX: 'Max', MIN: 'Min' };

/** `STATS:v:FORMAT[:CF,CF…]` → one GPRINT per CF, the last ending the legend line. */
function expandStats(line: string): string[] {
  const parts = line.split(':');
  const vname = parts[1]!;
  let cfs = ['LAST', 'AVERAGE', 'MAX'];
  let formatParts = parts.slice(2);
  const last = formatParts[formatParts.length - 1]!;
  if (formatParts.length > 1 && /^(LAST|AVERAGE|MAX|MIN)(,(LAST|AVERAGE|MAX|MIN))*$/.test(last)) {
    cfs = last.split(',');
    formatParts = formatParts.slice(0, -1);
  }
  const format = formatParts.join(':');
  return cfs.map(
    (cf, i) => `GPRINT:${vname}:${cf}:${STATS_LABELS[cf]}\\:${format}${i === cfs.length - 1 ? '\\l' : ''}`,
  );
}

/** Printed length of a legend (`\\:` prints one character). */
function legendLength(legend: string): number {
  return legend.replace(/\\:/g, ':').length;
}

/** Split an element on unescaped colons. */
function splitColons(text: string): string[] {
  return text.split(/(?<!\\):/);
}

/** Turn a resolved graph into rrdtool arguments for `graphv -` and `xport`. */
export function graphArguments(graph: ResolvedGraph, ctx: ArgumentContext): GraphArguments {
  const defs: string[] = [];
  const missing: string[] = [];
  const drawing: string[] = [];
  const series: { vname: string; legend: string }[] = [];
  const files: string[] = [];
  const vdefs = new Set<string>();
  // Legends that begin a legend line (padded so the Cur/Ave/Max columns line up).
  const legends: { index: number; element: string; parts: string[] }[] = [];
  let atLineStart = true;
  let firstDef: string | undefined;
  for (const line of graph.lines) {
    if (line.startsWith('DEF:')) {
      const def = splitDef(line);
      const ref = def && parseMetricRef(def.file.slice(4, -1));
      if (!def || !ref || typeof ref === 'string')
        throw new GraphNotFoundError(`bad DEF in ${graph.key}: ${line}`);
      const file = metricPath(ctx.dataDir, ctx.host, graph.plugin, ref);
      if (ctx.exists(file)) {
        files.push(file);
        const named = ctx.pathOf ? ctx.pathOf(file) : file;
        const defDaemon = ctx.daemonOfFile?.(file);
        // `daemon=` per DEF: a host on another storage node than the graph's own host.
        const daemonOption =
          defDaemon !== undefined && defDaemon !== ctx.daemon
            ? `:daemon=${defDaemon.replace(/:/g, '\\:')}`
            : '';
        defs.push(`DEF:${def.vname}=${named.replace(/:/g, '\\:')}:${def.rest.join(':')}${daemonOption}`);
        firstDef ??= def.vname;
      } else {
        missing.push(def.vname);
      }
      continue;
    }
    if (line.startsWith('CDEF:') || line.startsWith('VDEF:')) {
      if (line.startsWith('VDEF:')) vdefs.add(line.slice(5, line.indexOf('=')));
      defs.push(line);
      continue;
    }
    if (line.startsWith('STATS:')) {
      drawing.push(...expandStats(line));
      atLineStart = true;
      continue;
    }
    const m = /^(AREA|LINE\d*(?:\.\d+)?|STACK):(.*)$/.exec(line);
    if (m) {
      const parts = splitColons(m[2]!);
      const vname = parts[0]!.split('#')[0]!;
      if (vname && !/^[0-9.eE+-]+$/.test(vname) && !vdefs.has(vname)) {
        const legend = (parts[1] ?? '').replace(/\\:/g, ':').trim() || vname;
        series.push({ vname, legend });
      }
      if (parts[1] !== undefined && parts[1] !== '' && atLineStart) {
        legends.push({ index: drawing.length, element: m[1]!, parts });
      }
      if (parts[1] !== undefined && parts[1] !== '') atLineStart = false;
    }
    drawing.push(line);
    if (/\\[lrcjn]$/.test(line)) atLineStart = true;
  }
  // Legends padded to one width, so the Cur/Ave/Max columns line up (rrdtool's font is monospace).
  const width = Math.max(0, ...legends.map((l) => legendLength(l.parts[1]!)));
  for (const l of legends) {
    const parts = [...l.parts];
    parts[1] = parts[1]! + ' '.repeat(width - legendLength(parts[1]!));
    drawing[l.index] = `${l.element}:${parts.join(':')}`;
  }
  if (!firstDef) {
    throw new GraphNotFoundError(
      `no data for graph "${graph.key}" of ${ctx.host}/${graph.plugin}: none of its RRD files exists`,
    );
  }
  // DEFs depend on nothing, so the stand-ins for missing files can follow all DEFs.
  const defLines = defs.filter((d) => d.startsWith('DEF:'));
  const otherDefs = defs.filter((d) => !d.startsWith('DEF:'));
  const standIns = missing.map((v) => `CDEF:${v}=${firstDef},POP,UNKN`);
  const title = `${graph.title}${graph.label !== undefined ? ` (${graph.label})` : ''} - ${ctx.range.title} - ${ctx.hostLabel ?? ctx.host}`;
  const options = [
    '--start',
    String(ctx.range.start),
    '--end',
    String(ctx.range.end),
    '--width',
    String(ctx.width),
    '--height',
    String(ctx.height),
    '--x-grid',
    ctx.range.xgrid,
    '--title',
    title,
    ...(graph.verticalLabel ? ['--vertical-label', graph.verticalLabel] : []),
    ...(ctx.daemon ? ['--daemon', ctx.daemon] : []),
    ...(ctx.onlyGraph ? ['--only-graph'] : []),
    ...styleArguments(),
    ...graph.options,
  ];
  return { options, defs: [...defLines, ...standIns, ...otherDefs], drawing, series, files };
}

/** `rrdtool xport --json` arguments for the same data: DEF/CDEF/VDEF, one XPORT per drawn series. */
export function xportArguments(args: GraphArguments, ctx: ArgumentContext): string[] {
  return [
    'xport',
    '--json',
    '--showtime',
    '--start',
    String(ctx.range.start),
    '--end',
    String(ctx.range.end),
    '--maxrows',
    String(Math.max(10, ctx.width)),
    ...(ctx.daemon ? ['--daemon', ctx.daemon] : []),
    ...args.defs,
    ...args.series.map((s, i) => `XPORT:${s.vname}:${i}`),
  ];
}
