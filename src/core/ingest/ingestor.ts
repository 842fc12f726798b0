import type { Logger } from '../log.js';
import { type MetricKey, type MetricSink, parseMessageTo } from '../protocol/lines.js';
import type { MetaValue, Rejection, WarnValue } from '../protocol/types.js';
import { hostDirectory, parseRrdPath, rrdFilePath, withoutServerPaths } from '../rrd/layout.js';
import type { RrdUpdate, RrdWriter } from '../rrd/types.js';
import type { MetaStore } from '../store/types.js';

/** One message as a transport hands it over: its lines, and the host its topic names. */
export interface InboundMessage {
  payload: string;
  /** Host from the topic / routing key; lines may carry their own 4th-field address instead. */
  host?: string;
}

/** What one group commit did, for the per-minute summary and the `/metrics` counters. */
export interface IngestReport {
  messages: number;
  values: number;
  meta: number;
  warnings: number;
  rejected: number;
  duplicates: number;
  created: number;
  /** Values rrdcached refused for another reason than a duplicate (the file is named). */
  failed: number;
  newHosts: string[];
  /** Receiver clock minus the newest sample timestamp of the batch, seconds. */
  lagSeconds: number;
}

/** Plugin and name under which rejected lines are reported for a host (visible in the UI). */
export const REJECTION_WARNING = { plugin: 'kurado', name: 'rejected-lines' } as const;
/** Plugin and name under which values rrdcached refused are reported. */
export const WRITE_FAILURE_WARNING = { plugin: 'kurado', name: 'write-failed' } as const;

export interface IngestorOptions {
  dataDir: string;
  writer: RrdWriter;
  store: MetaStore;
  logger?: Logger;
  /** Epoch seconds; a parameter so tests can move time. */
  now?: () => number;
}

/**
 * The single write path of Kurado: `receive` and `pull-worker` both hand it messages. It parses,
 * writes every value to RRD files (rrdcached BATCH), then meta, warnings and last-received to the
 * store in one transaction. `ingest` resolves only when both are durable, so a transport may
 * acknowledge the messages; it rejects when rrdcached or the store is unreachable, and the caller
 * retries the same messages (a duplicate timestamp on retry is counted, not an error).
 */
export class Ingestor {
  private readonly dataDir: string;
  private readonly writer: RrdWriter;
  private readonly store: MetaStore;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  /** host → wire key → escaped file path; as large as the set of metric files. */
  private readonly pathCache = new Map<string, Map<string, string>>();

  constructor(options: IngestorOptions) {
    this.dataDir = options.dataDir;
    this.writer = options.writer;
    this.store = options.store;
    this.logger = options.logger;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  async ingest(messages: readonly InboundMessage[]): Promise<IngestReport> {
    const now = this.now();
    const updates: RrdUpdate[] = [];
    const meta: MetaValue[] = [];
    const warnings: WarnValue[] = [];
    /** host → plugins that delivered data in this batch. */
    const received = new Map<string, Set<string>>();
    let rejectedCount = 0;
    let newest = 0;

    // Metric lines become RRD updates as they are parsed: no MetricSample per value.
    const onMetric: MetricSink = (host, key, parsedKey, value, timestamp) => {
      updates.push({ path: this.pathFor(host, key, parsedKey), type: parsedKey.type, timestamp, value });
      if (timestamp > newest) newest = timestamp;
      noteReceived(received, host, parsedKey.plugin);
    };

    for (const message of messages) {
      const parsed = parseMessageTo(
        message.payload,
        message.host === undefined ? { now } : { host: message.host, now },
        onMetric,
      );
      for (const value of parsed.meta) {
        meta.push(value);
        noteReceived(received, value.host, value.plugin);
      }
      for (const warning of parsed.warnings) {
        warnings.push(warning);
        noteReceived(received, warning.host, warning.plugin);
      }
      if (parsed.rejected.length > 0) {
        rejectedCount += parsed.rejected.length;
        warnings.push(...rejectionWarnings(parsed.rejected, message.host, now));
        this.logger?.warn(
          { host: message.host, rejected: parsed.rejected.length, first: parsed.rejected[0] },
          'rejected lines in message',
        );
      }
    }

    const report = await this.writer.write(updates);
    if (report.failed.length > 0) {
      this.logger?.error(
        { failed: report.failed.slice(0, 5), count: report.failed.length },
        'rrdcached refused values',
      );
      warnings.push(...writeFailureWarnings(report.failed, this.dataDir, now));
    }
    // Warnings about rejected lines may name a host that sent nothing valid: register it too.
    const hosts = new Set(received.keys());
    for (const warning of warnings) hosts.add(warning.host);
    const newHosts = hosts.size > 0 ? await this.store.registerUnknownHosts([...hosts]) : [];
    if (newHosts.length > 0)
      this.logger?.info({ hosts: newHosts }, 'registered unknown hosts under "unregistered"');
    const receivedPairs = [...received].flatMap(([host, plugins]) =>
      [...plugins].map((plugin) => ({ host, plugin })),
    );
    await this.store.writeBatch({ meta, warnings, received: receivedPairs, receivedAt: now });

    return {
      messages: messages.length,
      values: report.accepted,
      meta: meta.length,
      warnings: warnings.length,
      rejected: rejectedCount,
      duplicates: report.duplicates,
      created: report.created,
      failed: report.failed.length,
      newHosts,
      lagSeconds: newest === 0 ? 0 : Math.max(0, now - newest),
    };
  }

  private pathFor(host: string, key: string, parsedKey: MetricKey): string {
    let byKey = this.pathCache.get(host);
    if (byKey === undefined) {
      byKey = new Map();
      this.pathCache.set(host, byKey);
    }
    let path = byKey.get(key);
    if (path === undefined) {
      path = rrdFilePath(this.dataDir, host, parsedKey.plugin, parsedKey.name, parsedKey.type);
      byKey.set(key, path);
    }
    return path;
  }
}

function noteReceived(received: Map<string, Set<string>>, host: string, plugin: string): void {
  const plugins = received.get(host);
  if (plugins === undefined) received.set(host, new Set([plugin]));
  else plugins.add(plugin);
}

/** One warning per host per message, naming the count and the first reason, so the UI shows it. */
function rejectionWarnings(
  rejected: readonly Rejection[],
  messageHost: string | undefined,
  now: number,
): WarnValue[] {
  const byHost = new Map<string, Rejection[]>();
  for (const rejection of rejected) {
    const host = rejection.host ?? messageHost;
    if (host === undefined) continue;
    const list = byHost.get(host);
    if (list) list.push(rejection);
    else byHost.set(host, [rejection]);
  }
  return [...byHost].map(([host, list]) => ({
    host,
    ...REJECTION_WARNING,
    message: `${list.length} line(s) rejected; line ${list[0]!.line}: ${list[0]!.reason}`,
    timestamp: now,
  }));
}

function writeFailureWarnings(
  failed: readonly { path: string; reason: string }[],
  dataDir: string,
  now: number,
): WarnValue[] {
  const byHost = new Map<string, { path: string; reason: string }[]>();
  for (const failure of failed) {
    const host = parseRrdPath(dataDir, failure.path)?.host ?? '';
    const list = byHost.get(host);
    if (list) list.push(failure);
    else byHost.set(host, [failure]);
  }
  return [...byHost].map(([host, list]) => ({
    host,
    ...WRITE_FAILURE_WARNING,
    // Shown in the UI: files relative to the host's directory (plugin/metric), no server paths.
    message: `${list.length} value(s) not stored; ${withoutServerPaths(list[0]!.reason, dataDir, hostDirectory(dataDir, host))}`,
    timestamp: now,
  }));
}
