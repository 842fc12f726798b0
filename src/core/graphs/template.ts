import { parse as parseToml, TomlError } from 'smol-toml';
import { DS_TYPES, type DsType } from '../protocol/types.js';

/**
 * Graph templates: one TOML file per plugin (`templates/graphs/<plugin>.toml`).
 *
 * ```toml
 * uncovered = "hide"              # metrics no graph uses: "auto" (default) draws one graph each
 * default_args = ["80"]           # {arg1}… when the plugin identifier has fewer arguments
 * merge = false                   # site directory: true replaces/adds single graphs only
 *
 * [[graph]]
 * key = "traffic"                 # per-item graphs are called "<key>-<item>"
 * each = "traffic-interfaces"     # repeat per item of this comma-separated meta list
 * group = "Traffic({label})"      # heading on the host page
 * title = "Throughput"
 * vertical_label = "bits/s"       # optional
 * options = ["--base", "1024"]    # optional, from a short whitelist
 * lines = '''
 * DEF:ind={rrd traffic-{item}-rxbytes.derive}:n:AVERAGE
 * CDEF:in=ind,0,5000000000,LIMIT,8,*
 * AREA:in#00C000:Inbound
 * STATS:in:%6.2lf%sbps            # = GPRINT Cur/Ave/Max + \l
 * '''
 * ```
 *
 * Placeholders: `{rrd NAME.TYPE}` this host+plugin's metric file, `{rrd NAME.TYPE plugin=P
 * host=H}` another plugin's or host's file (either part optional), `{item}` the list item,
 * `{label}` the item's label (meta `item_label`, else the item, plus `item_marks` suffixes),
 * `{arg1}`…`{arg9}` the plugin identifier's arguments (`nginx:8080` → arg1 = 8080).
 */

export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
}

export interface TemplateLine {
  text: string;
  /** 1-based line in the template file. */
  line: number;
}

/** One metric a DEF reads. `plugin`/`host` undefined = the graph's own. */
export interface MetricRef {
  name: string;
  type: DsType;
  plugin?: string;
  host?: string;
  /** How this DEF aggregates over a service's hosts (overrides the graph's `aggregate`). */
  aggregate?: AggregateMode;
}

/**
 * How a graph (or one DEF of it) is drawn over many hosts on a service or label page: `sum` of
 * the hosts' values, `avg` (the sum divided by the hosts that reported), or `none` (the graph is
 * not drawn there; a DEF is drawn as unknown).
 */
export const AGGREGATE_MODES = ['sum', 'avg', 'none'] as const;
export type AggregateMode = (typeof AGGREGATE_MODES)[number];

export interface GraphTemplate {
  key: string;
  title: string;
  group: string;
  verticalLabel?: string;
  each?: string;
  itemLabel?: string;
  itemMarks: Record<string, string>;
  options: string[];
  lines: TemplateLine[];
  /** How the graph is drawn over a service's hosts (`none` when the template does not say). */
  aggregate: AggregateMode;
  /** Lines drawn after `lines` only on service and label pages (an average next to a sum). */
  aggregateLines: TemplateLine[];
  /** 1-based line of the `[[graph]]` header in `file`. */
  line: number;
  /** The template file the graph comes from (a merged site file keeps its own name). */
  file: string;
}

export interface PluginTemplate {
  /** Plugin name (file name without `.toml`): `base`, `nginx`. */
  plugin: string;
  file: string;
  uncovered: 'auto' | 'hide';
  defaultArgs: string[];
  merge: boolean;
  graphs: GraphTemplate[];
}

const ELEMENT =
  /^(DEF|CDEF|VDEF|AREA|LINE\d*(?:\.\d+)?|STACK|GPRINT|PRINT|COMMENT|HRULE|VRULE|TICK|SHIFT|TEXTALIGN|STATS):/;
const VNAME = /^[A-Za-z0-9_-]{1,255}$/;
const CFS = ['AVERAGE', 'MIN', 'MAX', 'LAST'];
const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Options a template may add; anything touching files, daemons or output is not among them. */
const ALLOWED_OPTIONS = new Set([
  '--upper-limit',
  '-u',
  '--lower-limit',
  '-l',
  '--rigid',
  '-r',
  '--base',
  '-b',
  '--logarithmic',
  '-o',
  '--units-exponent',
  '-X',
  '--units-length',
  '-L',
  '--units=si',
  '--alt-autoscale',
  '-A',
  '--alt-autoscale-max',
  '-M',
  '--alt-autoscale-min',
  '-J',
  '--alt-y-grid',
  '-Y',
  '--no-gridfit',
  '-N',
  '--slope-mode',
  '-E',
  '--left-axis-format',
  '--right-axis',
  '--right-axis-label',
  '--right-axis-format',
  '--y-grid',
  '-y',
  '--dynamic-labels',
  '--allow-shrink',
]);
const GRAPH_FIELDS = new Set([
  'key',
  'title',
  'group',
  'vertical_label',
  'each',
  'item_label',
  'item_marks',
  'options',
  'lines',
  'aggregate',
  'aggregate_lines',
]);
const FILE_FIELDS = new Set(['uncovered', 'default_args', 'merge', 'graph']);
/** `{…}` placeholders: rrd, item, label, argN. */
const PLACEHOLDER = /\{([^{}]*)\}/g;
const SIMPLE_PLACEHOLDER = /\{(item|label|arg[1-9])\}/g;

/** Parse `{rrd NAME.TYPE [plugin=P] [host=H]}`'s inside (after `rrd `). */
export function parseMetricRef(spec: string): MetricRef | string {
  const words = spec.trim().split(/\s+/).filter(Boolean);
  const metric = words.shift();
  if (!metric) return '{rrd} needs a metric: {rrd NAME.TYPE}';
  const dot = metric.lastIndexOf('.');
  const name = dot > 0 ? metric.slice(0, dot) : '';
  const type = dot > 0 ? metric.slice(dot + 1) : '';
  if (!name || !(DS_TYPES as readonly string[]).includes(type)) {
    return `"${metric}" is not NAME.TYPE with TYPE one of ${DS_TYPES.join(', ')}`;
  }
  const ref: MetricRef = { name, type: type as DsType };
  for (const word of words) {
    const eq = word.indexOf('=');
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (eq < 0 || !value || (key !== 'plugin' && key !== 'host' && key !== 'aggregate')) {
      return `unknown {rrd} option "${word}"; use plugin=PLUGIN, host=HOST and/or aggregate=${AGGREGATE_MODES.join('|')}`;
    }
    if (key === 'aggregate') {
      if (!(AGGREGATE_MODES as readonly string[]).includes(value))
        return `aggregate=${value} is not one of ${AGGREGATE_MODES.join(', ')}`;
      ref.aggregate = value as AggregateMode;
    } else ref[key] = value;
  }
  return ref;
}

/** Substitute `{item}`, `{label}` and `{argN}`; `{rrd …}` is left for the caller. */
export function substituteText(
  text: string,
  values: { item?: string; label?: string; args: string[] },
): string {
  return text.replace(PLACEHOLDER, (whole, inner: string) => {
    const name = inner.trim();
    if (name === 'item' && values.item !== undefined) return values.item;
    if (name === 'label' && values.label !== undefined) return values.label;
    const arg = /^arg([1-9])$/.exec(name);
    if (arg) return values.args[Number(arg[1]) - 1] ?? '';
    return whole;
  });
}

/** Split a DEF line `DEF:v=<file>:<ds>:<CF>[:opts]` (file already a placeholder or path). */
export function splitDef(text: string): { vname: string; file: string; rest: string[] } | undefined {
  const m = /^DEF:([^=]+)=(\{rrd [^{}]*\}|(?:\\:|[^:])*):(.*)$/.exec(text);
  if (!m) return undefined;
  return { vname: m[1]!, file: m[2]!, rest: m[3]!.split(':') };
}

/** The vname an element draws or prints (AREA:v#c, LINE1:v, GPRINT:v:…, STATS:v:…). */
function usedVname(element: string, text: string): string | undefined {
  const body = text.slice(element.length + 1);
  if (/^(AREA|LINE|STACK|TICK)/.test(element)) return body.split(/[#:]/)[0];
  if (element === 'GPRINT' || element === 'PRINT' || element === 'STATS' || element === 'SHIFT') {
    return body.split(':')[0];
  }
  return undefined;
}

/** 1-based line of `needle` in `text` at or after `fromLine`, else `fallback`. */
function lineOf(text: string, needle: string, fromLine: number, fallback: number): number {
  const lines = text.split('\n');
  for (let i = Math.max(0, fromLine - 1); i < lines.length; i++) {
    if (i > fromLine - 1 && /^\s*\[\[/.test(lines[i]!)) break;
    if (lines[i]!.includes(needle)) return i + 1;
  }
  return fallback;
}

/** 1-based lines of every `[[graph]]` header. */
function graphHeaderLines(text: string): number[] {
  const out: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (/^\s*\[\[\s*graph\s*\]\]/.test(line)) out.push(i + 1);
  });
  return out;
}

/**
 * Parse and check one template file. Every mistake is returned (not thrown) with the file and
 * line, so `kurado config check` can list them all.
 */
export function parseTemplate(
  file: string,
  text: string,
  plugin: string,
): { template?: PluginTemplate; errors: TemplateError[] } {
  const errors: TemplateError[] = [];
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      return { errors: [new TemplateError(file, error.line, `TOML: ${error.message.split('\n')[0]}`)] };
    }
    throw error;
  }
  const fail = (line: number, detail: string) => errors.push(new TemplateError(file, line, detail));
  for (const key of Object.keys(doc)) {
    if (!FILE_FIELDS.has(key)) {
      fail(lineOf(text, key, 1, 1), `unknown setting "${key}" (known: ${[...FILE_FIELDS].join(', ')})`);
    }
  }
  const uncovered = doc.uncovered ?? 'auto';
  if (uncovered !== 'auto' && uncovered !== 'hide') {
    fail(lineOf(text, 'uncovered', 1, 1), 'uncovered must be "auto" or "hide"');
  }
  const defaultArgs = doc.default_args ?? [];
  if (
    !Array.isArray(defaultArgs) ||
    defaultArgs.some((a) => typeof a !== 'string' && typeof a !== 'number')
  ) {
    fail(lineOf(text, 'default_args', 1, 1), 'default_args must be a list of strings');
  }
  if (doc.merge !== undefined && typeof doc.merge !== 'boolean') {
    fail(lineOf(text, 'merge', 1, 1), 'merge must be true or false');
  }
  const rawGraphs = doc.graph ?? [];
  const headers = graphHeaderLines(text);
  const graphs: GraphTemplate[] = [];
  if (!Array.isArray(rawGraphs)) {
    fail(lineOf(text, 'graph', 1, 1), 'graphs are [[graph]] tables');
  } else {
    const seen = new Map<string, number>();
    rawGraphs.forEach((raw, index) => {
      const header = headers[index] ?? 1;
      const graph = parseGraph(file, text, raw as Record<string, unknown>, header, errors);
      if (!graph) return;
      const before = seen.get(graph.key);
      if (before !== undefined) fail(header, `graph key "${graph.key}" already defined at line ${before}`);
      seen.set(graph.key, header);
      graphs.push(graph);
    });
  }
  if (errors.length > 0) return { errors };
  return {
    template: {
      plugin,
      file,
      uncovered: uncovered as 'auto' | 'hide',
      defaultArgs: (defaultArgs as unknown[]).map(String),
      merge: doc.merge === true,
      graphs,
    },
    errors,
  };
}

function parseGraph(
  file: string,
  text: string,
  raw: Record<string, unknown>,
  header: number,
  errors: TemplateError[],
): GraphTemplate | undefined {
  const before = errors.length;
  const fail = (line: number, detail: string) => errors.push(new TemplateError(file, line, detail));
  const fieldLine = (field: string) => lineOf(text, field, header, header);
  for (const field of Object.keys(raw)) {
    if (!GRAPH_FIELDS.has(field)) {
      fail(fieldLine(field), `unknown graph field "${field}" (known: ${[...GRAPH_FIELDS].join(', ')})`);
    }
  }
  const str = (field: string, required: boolean): string | undefined => {
    const value = raw[field];
    if (value === undefined) {
      if (required) fail(header, `graph is missing "${field}"`);
      return undefined;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      fail(fieldLine(field), `"${field}" must be a non-empty string`);
      return undefined;
    }
    return value;
  };
  const key = str('key', true);
  const title = str('title', true);
  const group = str('group', true);
  const verticalLabel = str('vertical_label', false);
  const each = str('each', false);
  const itemLabel = str('item_label', false);
  if (key !== undefined && !KEY.test(key)) {
    fail(fieldLine('key'), `key "${key}" may only hold letters, digits, "_", "." and "-"`);
  }
  if (key !== undefined && (DS_TYPES as readonly string[]).some((t) => key.endsWith(`.${t}`))) {
    fail(fieldLine('key'), `key "${key}" must not end in .<type>: those keys belong to automatic graphs`);
  }
  const itemMarks: Record<string, string> = {};
  if (raw.item_marks !== undefined) {
    const marks = raw.item_marks;
    if (typeof marks !== 'object' || marks === null || Array.isArray(marks)) {
      fail(fieldLine('item_marks'), 'item_marks must be a table { "<meta list>" = "<suffix>" }');
    } else {
      for (const [list, suffix] of Object.entries(marks)) {
        if (typeof suffix !== 'string')
          fail(fieldLine('item_marks'), `item_marks."${list}" must be a string`);
        else itemMarks[list] = suffix;
      }
    }
  }
  const options: string[] = [];
  if (raw.options !== undefined) {
    if (!Array.isArray(raw.options)) {
      fail(fieldLine('options'), 'options must be a list of strings');
    } else {
      for (const option of raw.options) {
        const value = String(option);
        if (
          value.startsWith('-') &&
          !ALLOWED_OPTIONS.has(value.split('=')[0]!) &&
          !ALLOWED_OPTIONS.has(value)
        ) {
          fail(fieldLine('options'), `option "${value}" is not allowed in a template`);
        }
        options.push(value);
      }
    }
  }
  const readLines = (field: 'lines' | 'aggregate_lines'): { texts: string[]; start: number } => {
    const value = raw[field];
    const start = value === undefined ? header : fieldLine(field);
    if (value === undefined) return { texts: [], start };
    if (typeof value === 'string') return { texts: value.split('\n'), start };
    if (Array.isArray(value) && value.every((l) => typeof l === 'string')) return { texts: value, start };
    fail(start, `"${field}" must be a multi-line string or a list of strings`);
    return { texts: [], start };
  };
  if (raw.lines === undefined) fail(header, 'graph is missing "lines"');
  const main = readLines('lines');
  const linesStart = main.start;
  const defined = new Set<string>();
  let ownDefs = 0;
  const checkLines = (lineTexts: string[], linesStart: number, lines: TemplateLine[]) => {
    for (const rawLine of lineTexts) {
      const textLine = rawLine.trim();
      if (textLine === '' || textLine.startsWith('#') || textLine.startsWith('//')) continue;
      const at = lineOf(text, textLine, linesStart, linesStart);
      lines.push({ text: textLine, line: at });
      const bad = (detail: string) => fail(at, detail);
      const element = ELEMENT.exec(textLine)?.[1];
      if (!element) {
        bad(
          `"${textLine.slice(0, 40)}" is not a graph element (DEF, CDEF, VDEF, AREA, LINE, STACK, GPRINT, STATS, COMMENT, HRULE, VRULE …)`,
        );
        continue;
      }
      // Placeholders: the simple ones first ({item} may sit inside {rrd …}), then {rrd …}.
      const sample = textLine.replace(SIMPLE_PLACEHOLDER, (_whole, name: string) => {
        if ((name === 'item' || name === 'label') && !each)
          bad(`{${name}} used but the graph has no "each" list`);
        return 'x';
      });
      for (const m of sample.matchAll(PLACEHOLDER)) {
        const inner = m[1]!.trim();
        if (inner.startsWith('rrd ') || inner === 'rrd') {
          if (element !== 'DEF') bad('{rrd …} may only be used as the file of a DEF');
          const ref = parseMetricRef(inner.slice(3));
          if (typeof ref === 'string') bad(ref);
          else if (!ref.plugin && !ref.host) ownDefs++;
        } else {
          bad(`unknown placeholder {${inner}} (known: {rrd NAME.TYPE}, {item}, {label}, {arg1}…{arg9})`);
        }
      }
      if (element === 'DEF') {
        const def = splitDef(sample);
        if (!def?.file.startsWith('{rrd')) {
          bad(
            'a DEF must read its file through {rrd NAME.TYPE} (or {rrd NAME.TYPE plugin=P host=H}); a literal path could point outside data_dir',
          );
          continue;
        }
        if (!VNAME.test(def.vname)) bad(`bad variable name "${def.vname}"`);
        const [ds, cf, ...opts] = def.rest;
        if (ds !== 'n')
          bad(`DEF data source must be "n" (every Kurado RRD file has one DS called n), not "${ds}"`);
        if (!cf || !CFS.includes(cf)) bad(`DEF consolidation function must be one of ${CFS.join(', ')}`);
        for (const opt of opts) {
          if (!/^(step|start|end|reduce)=/.test(opt)) bad(`DEF option "${opt}" is not allowed`);
        }
        defined.add(def.vname);
        continue;
      }
      if (element === 'CDEF' || element === 'VDEF') {
        const m = /^[CV]DEF:([^=]+)=(.+)$/.exec(textLine);
        if (!m || !VNAME.test(m[1]!)) {
          bad(`${element} must look like ${element}:name=RPN`);
          continue;
        }
        for (const token of m[2]!.split(',')) {
          if (/^[a-z_][A-Za-z0-9_-]*$/.test(token) && !defined.has(token) && !/^[A-Z0-9_]+$/.test(token)) {
            bad(`${element} ${m[1]} uses "${token}", which no DEF/CDEF/VDEF above defines`);
          }
        }
        defined.add(m[1]!);
        continue;
      }
      if (element === 'STATS') {
        const parts = textLine.split(':');
        if (parts.length < 3 || !parts[2])
          bad('STATS must look like STATS:vname:FORMAT[:LAST,AVERAGE,MAX,MIN]');
      }
      const vname = usedVname(element, textLine);
      if (vname !== undefined && vname !== '' && !/^[0-9.eE+-]+$/.test(vname) && !defined.has(vname)) {
        bad(`${element} uses "${vname}", which no DEF/CDEF/VDEF above defines`);
      }
    }
  };
  const lines: TemplateLine[] = [];
  checkLines(main.texts, main.start, lines);
  const aggregateLines: TemplateLine[] = [];
  const extra = readLines('aggregate_lines');
  checkLines(extra.texts, extra.start, aggregateLines);
  const aggregate = raw.aggregate ?? 'none';
  if (!(AGGREGATE_MODES as readonly unknown[]).includes(aggregate)) {
    fail(
      fieldLine('aggregate'),
      `aggregate must be one of ${AGGREGATE_MODES.map((m) => `"${m}"`).join(', ')}`,
    );
  }
  if (aggregateLines.length > 0 && aggregate === 'none') {
    fail(
      extra.start,
      'aggregate_lines are drawn only on service pages: give the graph aggregate = "sum" or "avg"',
    );
  }
  if (raw.lines !== undefined && lines.length === 0) fail(linesStart, '"lines" is empty');
  if (raw.lines !== undefined && lines.length > 0 && ownDefs === 0 && errors.length === before) {
    fail(linesStart, 'the graph reads no metric of its own plugin (no DEF with {rrd NAME.TYPE})');
  }
  if (errors.length > before) return undefined;
  const graph: GraphTemplate = {
    key: key!,
    title: title!,
    group: group!,
    itemMarks,
    options,
    lines,
    aggregate: aggregate as AggregateMode,
    aggregateLines,
    line: header,
    file,
  };
  if (verticalLabel !== undefined) graph.verticalLabel = verticalLabel;
  if (each !== undefined) graph.each = each;
  if (itemLabel !== undefined) graph.itemLabel = itemLabel;
  return graph;
}
