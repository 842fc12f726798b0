import path from 'node:path';
import { AGGREGATES_DIRECTORY } from '../protocol/host.js';
import {
  aggregateRoot,
  metricOfFileName,
  nodePath,
  parseRrdPath,
  pluginDirectory,
  withoutServerPaths,
} from '../rrd/layout.js';
import { RrdtoolError } from '../rrd/rrdtool-process.js';
import type { MetaEntry } from '../store/types.js';
import { aggregateGraph, isAggregated } from './aggregate.js';
import {
  type ArgumentContext,
  findGraph,
  type GraphArguments,
  graphArguments,
  groupGraphs,
  metaMap,
  pluginGraphs,
  pluginName,
  type ResolvedGraph,
  xportArguments,
} from './graphs.js';
import { loadTemplates, type TemplateSet } from './loader.js';
import { RenderPool } from './pool.js';
import { GRAPH_STYLE } from './style.js';
import { parseMetricRef, splitDef, type TemplateError } from './template.js';
import { resolveRange } from './terms.js';
import { localTree, type RrdTree } from './trees.js';
import {
  type AggregateGraphRequest,
  type AggregateScope,
  type GraphData,
  GraphNotFoundError,
  GraphRenderError,
  type GraphRequest,
  GraphRequestError,
  type GraphService,
  type PluginGraphs,
} from './types.js';

export interface GraphServiceOptions {
  /** Root of the RRD tree. */
  dataDir: string;
  /** rrdcached address: rendering reads through it (`--daemon`), so the newest value is drawn. */
  rrdcached?: string;
  /** Site templates that add to or override the shipped ones. */
  graphsDir?: string;
  /** `rrdtool -` processes; default = CPU count. */
  poolSize?: number;
  /** Kill a render that takes longer (ms); default 20 s. */
  timeoutMs?: number;
  /** Already loaded templates (otherwise loaded from the shipped and site directories). */
  templates?: TemplateSet;
  /** Clock in epoch seconds (tests). */
  now?: () => number;
  rrdtoolBinary?: string;
  /** Called when rrdcached could not be reached and the files were read directly instead. */
  onDaemonUnreachable?: (message: string) => void;
  /**
   * Where hosts' files are and which daemon reads them; default: data_dir through `rrdcached`.
   * Sharded storage gives each host's node (src/core/storage/sharded-tree.ts).
   */
  tree?: RrdTree;
}

/** Templates with mistakes: the service does not start (`kurado config check` lists them). */
export class TemplateLoadError extends Error {
  override name = 'TemplateLoadError';
  constructor(readonly errors: TemplateError[]) {
    super(
      `graph templates have ${errors.length} error(s):\n${errors.map((e) => `  ${e.message}`).join('\n')}`,
    );
  }
}

export interface KuradoGraphService extends GraphService {
  readonly templates: TemplateSet;
  readonly pool: RenderPool;
  /** Plugin identifiers with a directory under the host's directory. */
  plugins(host: string): Promise<string[]>;
  /** The rrdtool arguments (after `graphv -`) a request renders with. */
  graphArguments(request: GraphRequest, meta: MetaEntry[]): Promise<string[]>;
}

/** "shop" or "shop / frontend", in graph titles and messages. */
export function scopeTitle(scope: AggregateScope): string {
  return scope.label === '' ? scope.service : `${scope.service} / ${scope.label}`;
}

/** The plugin order on a host page: `base` first, then by name. */
function pluginOrder(a: string, b: string): number {
  if (a === 'base') return -1;
  if (b === 'base') return 1;
  return a.localeCompare(b);
}

export function createGraphService(options: GraphServiceOptions): KuradoGraphService {
  const templates =
    options.templates ?? loadTemplates(options.graphsDir ? { siteDir: options.graphsDir } : {});
  if (templates.errors.length > 0) throw new TemplateLoadError(templates.errors);
  const dataDir = path.resolve(options.dataDir);
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const pool = new RenderPool({
    ...(options.poolSize !== undefined ? { size: options.poolSize } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.rrdtoolBinary ? { binary: options.rrdtoolBinary } : {}),
  });

  const tree = options.tree ?? localTree(dataDir, options.rrdcached);

  const plugins = async (host: string): Promise<string[]> =>
    [...(await tree.metrics(host)).keys()].sort(pluginOrder);

  const checkRequest = (request: Pick<GraphRequest, 'width' | 'height'>) => {
    const { width, height } = request;
    if (!Number.isInteger(width) || width < GRAPH_STYLE.minWidth || width > GRAPH_STYLE.maxWidth) {
      throw new GraphRequestError(
        `width must be an integer from ${GRAPH_STYLE.minWidth} to ${GRAPH_STYLE.maxWidth}, not ${width}`,
      );
    }
    if (!Number.isInteger(height) || height < GRAPH_STYLE.minHeight || height > GRAPH_STYLE.maxHeight) {
      throw new GraphRequestError(
        `height must be an integer from ${GRAPH_STYLE.minHeight} to ${GRAPH_STYLE.maxHeight}, not ${height}`,
      );
    }
  };

  /** Whether `file` (under data_dir) is among the metric files its host has, by the tree. */
  const existsIn = (trees: Map<string, Map<string, Set<string>>>, file: string): boolean => {
    const parts = parseRrdPath(dataDir, file);
    if (!parts?.plugin || !parts.metric) return false;
    return trees.get(parts.host)?.get(parts.plugin)?.has(parts.metric) ?? false;
  };

  const prepare = async (
    request: GraphRequest,
    meta: MetaEntry[],
  ): Promise<{ graph: ResolvedGraph; args: GraphArguments; ctx: ArgumentContext }> => {
    checkRequest(request);
    const range = resolveRange(request.term, now(), request.from, request.to);
    const hostMetrics = await tree.metrics(request.host);
    const own = hostMetrics.get(request.plugin) ?? new Set<string>();
    if (own.size === 0) {
      const known = [...hostMetrics.keys()].sort(pluginOrder);
      if (known.length === 0) throw new GraphNotFoundError(`no data for host "${request.host}"`);
      throw new GraphNotFoundError(
        `host "${request.host}" has no data for plugin "${request.plugin}"; plugins: ${known.join(', ')}`,
      );
    }
    const template = templates.templates.get(pluginName(request.plugin));
    const graph = findGraph(request.plugin, template, request.graph, own, metaMap(meta, request.plugin));
    const trees = new Map([[request.host, hostMetrics]]);
    const daemon = await tree.daemonOf(request.host);
    const ctx: ArgumentContext = {
      dataDir,
      host: request.host,
      exists: (file) => existsIn(trees, file),
      range,
      width: request.width,
      height: request.height,
      ...(request.hostname ? { hostLabel: request.hostname } : {}),
      ...(daemon ? { daemon } : {}),
      ...(request.onlyGraph ? { onlyGraph: true } : {}),
    };
    // A graph may read other hosts (`{rrd … host=H}`): learn their files and daemons first.
    const others = new Set<string>();
    for (const file of graphArguments(graph, { ...ctx, exists: () => true }).files) {
      const host = parseRrdPath(dataDir, file)?.host;
      if (host !== undefined && host !== request.host) others.add(host);
    }
    const daemons = new Map<string, string | undefined>([[request.host, daemon]]);
    for (const host of others) {
      trees.set(host, await tree.metrics(host));
      daemons.set(host, await tree.daemonOf(host));
    }
    if (tree.relativePaths) ctx.pathOf = (file) => nodePath(dataDir, file);
    if (others.size > 0) {
      ctx.daemonOfFile = (file) => daemons.get(parseRrdPath(dataDir, file)?.host ?? '') ?? daemon;
    }
    return { graph, args: graphArguments(graph, ctx), ctx };
  };

  /** Whether any summed file a graph reads exists (the host count alone draws nothing). */
  const hasSummary = (graph: ResolvedGraph, files: Set<string>): boolean =>
    graph.lines.some((line) => {
      const def = line.startsWith('DEF:') ? splitDef(line) : undefined;
      const ref = def && parseMetricRef(def.file.slice(4, -1));
      return !!ref && typeof ref !== 'string' && ref.name !== 'hosts' && files.has(`${ref.name}.${ref.type}`);
    });

  const listAggregate = async (scope: AggregateScope): Promise<PluginGraphs[]> => {
    const out: PluginGraphs[] = [];
    const summaries = await tree.summaries(scope.service, scope.label);
    for (const plugin of [...summaries.keys()].sort(pluginOrder)) {
      const template = templates.templates.get(plugin);
      if (!template) continue;
      const files = summaries.get(plugin) ?? new Set<string>();
      const graphs = template.graphs
        .filter(isAggregated)
        .map((g) => aggregateGraph(template, g))
        .filter((g) => hasSummary(g, files));
      if (graphs.length > 0) out.push({ plugin, groups: groupGraphs(graphs) });
    }
    return out;
  };

  const prepareAggregate = async (
    request: AggregateGraphRequest,
  ): Promise<{ graph: ResolvedGraph; args: GraphArguments; ctx: ArgumentContext }> => {
    checkRequest(request);
    const range = resolveRange(request.term, now(), request.from, request.to);
    const scope = { service: request.service, label: request.label };
    const shown = scopeTitle(scope);
    const files = (await tree.summaries(scope.service, scope.label)).get(request.plugin) ?? new Set<string>();
    if (files.size === 0) {
      const known = (await listAggregate(scope)).map((p) => p.plugin);
      throw new GraphNotFoundError(
        known.length === 0
          ? `no service graphs for "${shown}" (yet: summaries are written once a minute while its hosts report)`
          : `no service graphs of plugin "${request.plugin}" for "${shown}"; plugins: ${known.join(', ')}`,
      );
    }
    const template = templates.templates.get(request.plugin);
    const graphTemplate = template?.graphs.find((g) => isAggregated(g) && g.key === request.graph);
    const graph = template && graphTemplate ? aggregateGraph(template, graphTemplate) : undefined;
    if (!graph || !hasSummary(graph, files)) {
      const known = (await listAggregate(scope))
        .filter((p) => p.plugin === request.plugin)
        .flatMap((p) => p.groups.flatMap((g) => g.graphs.map((x) => x.key)));
      throw new GraphNotFoundError(
        `no service graph "${request.graph}" of plugin "${request.plugin}" for "${shown}"${known.length ? `; available: ${known.join(', ')}` : ''}`,
      );
    }
    const root = aggregateRoot(dataDir, request.service);
    const ownDir = pluginDirectory(root, request.label, request.plugin);
    const daemon = await tree.daemonOf(AGGREGATES_DIRECTORY);
    const ctx: ArgumentContext = {
      dataDir: root,
      host: request.label,
      exists: (file) =>
        path.dirname(file) === ownDir && files.has(metricOfFileName(path.basename(file)) ?? ''),
      range,
      width: request.width,
      height: request.height,
      hostLabel: shown,
      ...(daemon ? { daemon } : {}),
    };
    if (tree.relativePaths) ctx.pathOf = (file) => nodePath(dataDir, file);
    return { graph, args: graphArguments(graph, ctx), ctx };
  };

  const renderArgs = (args: GraphArguments) => [...args.options, ...args.defs, ...args.drawing];

  /**
   * Run through the pool; when rrdcached cannot be reached, draw from the files directly (the
   * last minutes rrdcached still holds are missing, but the graph is not a broken image).
   * `rrdtool graph` already falls back by itself; `xport` does not.
   */
  const runOrFallBack = async (args: string[]) => {
    try {
      return await pool.run(args);
    } catch (error) {
      const at = args.indexOf('--daemon');
      // A storage node's files are on its own machine: there is nothing here to fall back to.
      if (
        at < 0 ||
        tree.relativePaths ||
        !(error instanceof RrdtoolError && error.kind === 'daemon-unreachable')
      )
        throw error;
      options.onDaemonUnreachable?.(error.message);
      return pool.run([...args.slice(0, at), ...args.slice(at + 2)]);
    }
  };

  /** rrdtool's failure as a GraphRenderError: the reason for users, the detail as `cause`. */
  const renderError = (error: unknown): GraphRenderError => {
    let reason = 'the rrdtool process drawing graphs stopped unexpectedly';
    if (error instanceof RrdtoolError) {
      const { operation, reply, timeoutMs } = error.details;
      if (reply !== undefined) reason = `rrdtool ${operation} failed: ${reply}`;
      else if (error.kind === 'timeout' && timeoutMs !== undefined)
        reason = `drawing took longer than ${timeoutMs / 1000} s and was stopped`;
      else if (error.kind === 'not-started') reason = 'rrdtool could not be started';
    }
    if (options.rrdcached) reason = reason.split(options.rrdcached).join('rrdcached');
    return new GraphRenderError(withoutServerPaths(reason, dataDir), { cause: error });
  };

  const run = async (args: string[]) => {
    try {
      return await runOrFallBack(args);
    } catch (error) {
      throw renderError(error);
    }
  };

  return {
    templates,
    pool,
    plugins,

    async list(host: string, meta: MetaEntry[]): Promise<PluginGraphs[]> {
      const hostMetrics = await tree.metrics(host);
      return [...hostMetrics.keys()]
        .sort(pluginOrder)
        .map((plugin) => {
          const template = templates.templates.get(pluginName(plugin));
          const graphs = pluginGraphs(
            plugin,
            template,
            hostMetrics.get(plugin) ?? new Set(),
            metaMap(meta, plugin),
          );
          return { plugin, groups: groupGraphs(graphs) };
        })
        .filter((p) => p.groups.length > 0);
    },

    async graphArguments(request: GraphRequest, meta: MetaEntry[]): Promise<string[]> {
      return renderArgs((await prepare(request, meta)).args);
    },

    listAggregate,

    async renderAggregatePng(request: AggregateGraphRequest): Promise<Buffer> {
      const { args } = await prepareAggregate(request);
      const result = await run(['graphv', '-', ...renderArgs(args)]);
      if (!result.image || result.image.length === 0) {
        throw new GraphRenderError(`rrdtool graphv returned no image for service graph ${request.graph}`);
      }
      return result.image;
    },

    async exportAggregateData(request: AggregateGraphRequest): Promise<GraphData> {
      const { args, ctx } = await prepareAggregate(request);
      const result = await run(xportArguments(args, ctx));
      return parseXport(
        result.text,
        args.series.map((s) => s.legend),
      );
    },

    async renderPng(request: GraphRequest, meta: MetaEntry[]): Promise<Buffer> {
      const { args } = await prepare(request, meta);
      const result = await run(['graphv', '-', ...renderArgs(args)]);
      if (!result.image || result.image.length === 0) {
        throw new GraphRenderError(
          `rrdtool graphv returned no image for ${request.host}/${request.plugin}/${request.graph}`,
        );
      }
      return result.image;
    },

    async exportData(request: GraphRequest, meta: MetaEntry[]): Promise<GraphData> {
      const { args, ctx } = await prepare(request, meta);
      const result = await run(xportArguments(args, ctx));
      return parseXport(
        result.text,
        args.series.map((s) => s.legend),
      );
    },

    async close(): Promise<void> {
      await pool.close();
    },
  };
}

/** `rrdtool xport --json --showtime` output → GraphData (legends were exported as indexes). */
export function parseXport(text: string, legends: string[]): GraphData {
  const start = text.indexOf('{');
  const json = JSON.parse(text.slice(start)) as {
    meta: { start: number; end: number; step: number; legend: string[] };
    data: [string | number, ...(number | null)[]][];
  };
  return {
    start: json.meta.start,
    end: json.meta.end,
    step: json.meta.step,
    legends: json.meta.legend.map((index) => legends[Number(index)] ?? String(index)),
    rows: json.data.map(([timestamp, ...values]) => ({
      timestamp: Number(timestamp),
      values: values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null)),
    })),
  };
}
