/** RRD data-source types a metric key may end in (`<plugin>.metrics.<name>.<type>`). */
export const DS_TYPES = ['gauge', 'counter', 'derive', 'absolute'] as const;
export type DsType = (typeof DS_TYPES)[number];

/** The three kinds of value a line can carry. */
export const KINDS = ['metrics', 'meta', 'warn'] as const;
export type Kind = (typeof KINDS)[number];

/** One numeric sample destined for `<data_dir>/<host>/<plugin>/<name>.<type>.rrd`. */
export interface MetricSample {
  host: string;
  /** The key as sent, `base.metrics.cpu-user.derive`: with `host` it names one RRD file. */
  key: string;
  /** Plugin identifier, unescaped: `base`, `nginx:8080:/nginx_status`. */
  plugin: string;
  name: string;
  type: DsType;
  /** `null` is rrdtool's unknown (`U`). */
  value: number | null;
  /** Seconds since the epoch. */
  timestamp: number;
}

/** A text attribute (kernel version, uptime, device lists). Kept for 1 hour. */
export interface MetaValue {
  host: string;
  plugin: string;
  name: string;
  value: string;
  timestamp: number;
}

/** A problem a host reports about itself (a failing collector or plugin). Kept for 5 minutes. */
export interface WarnValue {
  host: string;
  plugin: string;
  name: string;
  message: string;
  timestamp: number;
}

/** A line that was not accepted, with the reason a human can act on. */
export interface Rejection {
  /** 1-based line number inside the message. */
  line: number;
  /** The offending text, cut to a printable length. */
  text: string;
  reason: string;
  /** The host the line belonged to, when it could be told. */
  host?: string;
}

export interface ParsedMessage {
  metrics: MetricSample[];
  meta: MetaValue[];
  warnings: WarnValue[];
  rejected: Rejection[];
}
