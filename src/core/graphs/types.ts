import type { MetaEntry } from '../store/types.js';

/** Time ranges a graph can show; `custom` takes `from`/`to`. */
export const TERMS = [
  '1hour',
  '4hours',
  '8hours',
  'day',
  '3days',
  'week',
  'month',
  'year',
  'custom',
] as const;
export type Term = (typeof TERMS)[number];

export interface GraphRequest {
  /** Host address as stored (directory name under data_dir before escaping). */
  host: string;
  /** Plugin identifier: `base`, `nginx:8080:/nginx_status`. */
  plugin: string;
  /** Graph key, including the item for per-item graphs: `cpu`, `traffic-eth0`. */
  graph: string;
  term: Term;
  /** Epoch seconds; required for `custom`. */
  from?: number;
  to?: number;
  width: number;
  height: number;
  /** Shown in the graph title instead of the address (optional). */
  hostname?: string;
  /** Only the plot, no title, axes or legend (a sparkline in a ranking table). */
  onlyGraph?: boolean;
}

/** A service or one label of it: whose hosts a service-page graph sums. */
export interface AggregateScope {
  service: string;
  /** Empty for the whole service. */
  label: string;
}

/** A service-page graph: a plugin name (`base`, `nginx`) and a key, over a scope. */
export interface AggregateGraphRequest extends Omit<GraphRequest, 'host' | 'hostname'>, AggregateScope {}

export interface GraphInfo {
  plugin: string;
  key: string;
  title: string;
}

/** A heading on the host page (e.g. "CPU Memory", "Traffic(eth0)") and its graphs. */
export interface GraphGroup {
  title: string;
  graphs: GraphInfo[];
}

export interface PluginGraphs {
  plugin: string;
  groups: GraphGroup[];
}

/** `rrdtool xport --json` output, reshaped: one series per legend, values per timestamp. */
export interface GraphData {
  start: number;
  end: number;
  step: number;
  legends: string[];
  rows: { timestamp: number; values: (number | null)[] }[];
}

/**
 * What `kurado serve` and `kurado graph render` need from the graph side. Implemented in
 * src/core/graphs with templates + a pool of `rrdtool -` processes.
 */
export interface GraphService {
  /** Every graph that can be drawn for a host, from its RRD files and meta lists. */
  list(host: string, meta: MetaEntry[]): Promise<PluginGraphs[]>;
  renderPng(request: GraphRequest, meta: MetaEntry[]): Promise<Buffer>;
  exportData(request: GraphRequest, meta: MetaEntry[]): Promise<GraphData>;
  /** Service-page graphs of a service or label: per plugin name, those with summary files. */
  listAggregate(scope: AggregateScope): Promise<PluginGraphs[]>;
  renderAggregatePng(request: AggregateGraphRequest): Promise<Buffer>;
  exportAggregateData(request: AggregateGraphRequest): Promise<GraphData>;
  close(): Promise<void>;
}

/** The host, plugin or graph does not exist (HTTP 404). */
export class GraphNotFoundError extends Error {
  override name = 'GraphNotFoundError';
}

/** The request itself is wrong: bad term, from after to, width out of range (HTTP 400). */
export class GraphRequestError extends Error {
  override name = 'GraphRequestError';
}

/**
 * Drawing failed on the server side (rrdtool refused, timed out or died; HTTP 500). `message`
 * is for users and names no server path, socket or process id; `cause` has the full detail.
 */
export class GraphRenderError extends Error {
  override name = 'GraphRenderError';
}
