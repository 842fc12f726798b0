import { effectiveHostOptions } from '../hosts/host-options.js';
import {
  DEFAULT_LIMITS,
  FILES_LIMIT_WARNING,
  type IngestLimits,
  LIMIT_KEYS,
  longerThanBytes,
  MAX_LATEST_VALUES_PER_PLUGIN,
  MESSAGE_LIMIT_WARNING,
  META_LIMIT_WARNING,
  WARNINGS_LIMIT_WARNING,
} from '../limits.js';
import type { Logger } from '../log.js';
import { type MetricSink, SlicedParse } from '../protocol/lines.js';
import type { MetaValue, Rejection, WarnValue } from '../protocol/types.js';
import {
  hostDirectory,
  listHostFiles,
  parseRrdPath,
  rrdFilePath,
  withoutServerPaths,
} from '../rrd/layout.js';
import type { RrdUpdate, RrdWriter } from '../rrd/types.js';
import { Slicer, yieldToEventLoop } from '../slices.js';
import type { HostStorage } from '../storage/sharded.js';
import type { LatestValues, MetaStore } from '../store/types.js';
import { FileLimit } from './file-limit.js';
import { ListedHosts } from './listed-hosts.js';

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
  /**
   * Values, meta and warnings refused by a per-host limit (files, counts, value length), and
   * messages refused whole (a topic naming a listed host's hostname, a message above
   * limits.max_message_bytes) or cut (the lines past limits.max_message_lines).
   */
  refused: number;
  newHosts: string[];
  /** Receiver clock minus the newest sample timestamp of the batch, seconds. */
  lagSeconds: number;
  /**
   * Indexes of the messages not stored because their host's storage node is down (`[[storage]]`
   * only): the caller keeps them unacknowledged and hands them in again, before newer ones.
   */
  deferred?: number[];
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
  /** Per-host bounds (defaults: DEFAULT_LIMITS); `max_files` in the server list overrides files. */
  limits?: Partial<IngestLimits>;
  /** Accept 4-field lines for other hosts from every host (`receive --allow-relay`). */
  allowRelay?: boolean;
  /** How often the server list is re-read from the store, ms. */
  listedHostsReloadMs?: number;
  /**
   * A host's metric files on disk, read once when the host is first seen (default: the tree under
   * dataDir); a parameter so tests with a fake writer need no directory.
   */
  listHostFiles?: (host: string) => Promise<readonly string[]>;
  /**
   * Hosts spread over `[[storage]]` nodes: each host is placed before its values are written
   * (the writer routes by host), and a down node's messages are deferred, not failed.
   */
  storage?: HostStorage;
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
  private readonly limits: IngestLimits;
  private readonly allowRelay: boolean;
  private readonly listed: ListedHosts;
  /** Admitted metric files per host (the path cache) and the files-per-host decision. */
  private readonly files: FileLimit;
  private readonly storage: HostStorage | undefined;

  constructor(options: IngestorOptions) {
    this.dataDir = options.dataDir;
    this.writer = options.writer;
    this.store = options.store;
    this.logger = options.logger;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.allowRelay = options.allowRelay ?? false;
    this.listed = new ListedHosts(options.store, options.listedHostsReloadMs);
    const storage = options.storage;
    this.storage = storage;
    this.files = new FileLimit({
      limitOf: (host) => this.maxFilesOf(host),
      listFiles:
        options.listHostFiles ??
        (storage ? (host) => storage.listHostFiles(host) : (host) => listHostFiles(this.dataDir, host)),
    });
  }

  /** `max_files` and `relay` of `host`: its server-list entry, section or role, else the defaults. */
  private optionsOf(host: string): ReturnType<typeof effectiveHostOptions> {
    return effectiveHostOptions(this.listed.optionsOf(host), {
      maxFiles: this.limits.maxFilesPerHost,
      relay: this.allowRelay,
    });
  }

  private maxFilesOf(host: string): number {
    return this.optionsOf(host).maxFiles;
  }

  /**
   * Whether this process has stored `host` recently (and so knows its files): a host it does not
   * know probably needs new files, which CommitLanes sends to the slow lane.
   */
  knowsHost(host: string): boolean {
    return this.files.count(host) !== undefined;
  }

  /** Forget what this process counted for `hosts` (their files were removed). */
  forgetHosts(hosts: Iterable<string>): void {
    for (const host of hosts) this.files.forget(host);
  }

  async ingest(messages: readonly InboundMessage[]): Promise<IngestReport> {
    const now = this.now();
    await this.listed.refresh();
    this.files.begin();
    const limits = this.limits;
    let updates: RrdUpdate[] = [];
    const meta: MetaValue[] = [];
    const warnings: WarnValue[] = [];
    /** host → plugins that delivered accepted data in this batch. */
    const received = new Map<string, Set<string>>();
    /** host → wire key → path of files this process has not admitted before. */
    const newFiles = new Map<string, Map<string, string>>();
    const refusals = new Refusals();
    const latest = new LatestValuesCollector();
    /** Per message, host → its rejected lines (one warning each, for hosts that are accepted). */
    const rejections: Map<string, Rejection[]>[] = [];
    let rejectedCount = 0;
    let newest = 0;
    let messageHost: string | undefined;
    /** Messages whose host's storage node is down: not parsed, handed back. */
    const deferred: number[] = [];
    /** Per message index, hosts other than its own it had metric lines for (relayed lines). */
    const relayedHosts = new Map<number, Set<string>>();
    let messageIndex = 0;

    // Metric lines become RRD updates as they are parsed: no MetricSample per value.
    const onMetric: MetricSink = (host, key, parsedKey, value, timestamp) => {
      if (host !== messageHost && this.listed.shadowedBy(host) !== undefined) {
        refusals.shadowed++;
        return;
      }
      let path = this.files.admitted(host, key);
      if (path === undefined) {
        let byKey = newFiles.get(host);
        if (byKey === undefined) {
          byKey = new Map();
          newFiles.set(host, byKey);
        }
        // A big message names each new file many times: build its path once.
        path = byKey.get(key);
        if (path === undefined) {
          path = rrdFilePath(this.dataDir, host, parsedKey.plugin, parsedKey.name, parsedKey.type);
          byKey.set(key, path);
        }
      }
      updates.push({ path, type: parsedKey.type, timestamp, value });
      if (value !== null) latest.note(host, parsedKey.plugin, parsedKey.metric, value, timestamp);
      if (host !== messageHost && this.storage) {
        const relayed = relayedHosts.get(messageIndex);
        if (relayed) relayed.add(host);
        else relayedHosts.set(messageIndex, new Set([host]));
      }
      if (timestamp > newest) newest = timestamp;
      noteReceived(received, host, parsedKey.plugin);
    };

    const slicer = new Slicer();
    for (const [index, message] of messages.entries()) {
      messageIndex = index;
      messageHost = message.host;
      if (messageHost !== undefined && this.storage?.isDown(messageHost)) {
        deferred.push(index);
        continue;
      }
      if (longerThanBytes(message.payload, limits.maxMessageBytes)) {
        refusals.oversized++;
        this.refuseMessage(message, now, warnings);
        continue;
      }
      if (messageHost !== undefined) {
        const listedAddress = this.listed.shadowedBy(messageHost);
        if (listedAddress !== undefined) {
          refusals.shadowed++;
          this.logger?.warn(
            { host: messageHost, listed: listedAddress },
            `message refused: "${messageHost}" is the hostname of listed host ${listedAddress}; its agent publishes under its address`,
          );
          continue;
        }
      }
      const mayRelay = messageHost === undefined ? this.allowRelay : this.optionsOf(messageHost).relay;
      const parse = new SlicedParse(
        message.payload,
        messageHost === undefined ? { now, mayRelay } : { host: messageHost, now, mayRelay },
        onMetric,
      );
      // In slices across messages too: 2,000 messages of 50 lines are as long as one of 100,000.
      for (;;) {
        const before = parse.lines;
        const done = parse.next(Math.min(slicer.left, limits.maxMessageLines - before));
        if (slicer.count(parse.lines - before)) await yieldToEventLoop();
        if (done) break;
        if (parse.lines >= limits.maxMessageLines) {
          refusals.add(messageHost ?? '', 'lines', `line ${parse.lines + 1}`);
          this.logger?.warn(
            { host: messageHost, maxLines: limits.maxMessageLines },
            `lines after line ${limits.maxMessageLines} of a message refused (limits.${LIMIT_KEYS.maxMessageLines})`,
          );
          break;
        }
      }
      const parsed = parse.result;
      const metaCounts = new Map<string, number>();
      for (const value of parsed.meta) {
        if (value.host !== messageHost && this.listed.shadowedBy(value.host) !== undefined) {
          refusals.shadowed++;
          continue;
        }
        if (longerThanBytes(value.value, limits.maxValueBytes)) {
          refusals.add(value.host, 'metaLong', value.name);
          continue;
        }
        const count = (metaCounts.get(value.host) ?? 0) + 1;
        metaCounts.set(value.host, count);
        if (count > limits.maxMetaPerHost) {
          refusals.add(value.host, 'metaCount', value.name);
          continue;
        }
        meta.push(value);
        noteReceived(received, value.host, value.plugin);
      }
      const warningCounts = new Map<string, number>();
      for (const warning of parsed.warnings) {
        if (warning.host !== messageHost && this.listed.shadowedBy(warning.host) !== undefined) {
          refusals.shadowed++;
          continue;
        }
        if (longerThanBytes(warning.message, limits.maxValueBytes)) {
          refusals.add(warning.host, 'warningLong', warning.name);
          continue;
        }
        const count = (warningCounts.get(warning.host) ?? 0) + 1;
        warningCounts.set(warning.host, count);
        if (count > limits.maxWarningsPerHost) {
          refusals.add(warning.host, 'warningCount', warning.name);
          continue;
        }
        warnings.push(warning);
        noteReceived(received, warning.host, warning.plugin);
      }
      if (parsed.rejected.length > 0) {
        rejectedCount += parsed.rejected.length;
        const rejectedByHost = new Map<string, Rejection[]>();
        rejections.push(rejectedByHost);
        for (const rejection of parsed.rejected) {
          const host = rejection.host ?? messageHost;
          if (host === undefined) continue;
          const list = rejectedByHost.get(host);
          if (list) list.push(rejection);
          else rejectedByHost.set(host, [rejection]);
        }
        this.logger?.warn(
          { host: messageHost, rejected: parsed.rejected.length, first: parsed.rejected[0] },
          'rejected lines in message',
        );
      }
    }

    // Every host gets its storage node before anything is written: its files' count and its
    // values both go to that node.
    if (this.storage && received.size > 0)
      await this.storage.resolve([...received.keys()], (host) => this.listed.optionsOf(host)?.storage);
    if (newFiles.size > 0) updates = await this.admitFiles(updates, newFiles, refusals);

    const report = await this.writer.write(updates);
    const unstored = report.unstoredHosts;
    if (unstored !== undefined && unstored.size > 0) {
      // Their node is down: nothing of these hosts is recorded (not even "received"), and every
      // message that had values for one of them is handed back whole. Values it had for hosts on
      // other nodes are stored now and come back as duplicates.
      const deferredUpFront = new Set(deferred);
      messages.forEach((message, index) => {
        if (deferredUpFront.has(index)) return;
        const relayed = relayedHosts.get(index);
        if (
          (message.host !== undefined && unstored.has(message.host)) ||
          (relayed !== undefined && [...relayed].some((host) => unstored.has(host)))
        )
          deferred.push(index);
      });
      deferred.sort((a, b) => a - b);
      for (const host of unstored) received.delete(host);
      filterInPlace(meta, (value) => !unstored.has(value.host));
      filterInPlace(warnings, (warning) => !unstored.has(warning.host));
      for (const rejectedByHost of rejections) for (const host of unstored) rejectedByHost.delete(host);
    }
    if (report.failed.length > 0) {
      this.logger?.error(
        { failed: report.failed.slice(0, 5), count: report.failed.length },
        'rrdcached refused values',
      );
      warnings.push(...writeFailureWarnings(report.failed, this.dataDir, now));
    }
    // Only a host with at least one accepted line is registered or warned: rejected lines (junk
    // addresses, random payloads) must not fill the host list.
    for (const rejectedByHost of rejections) {
      for (const [host, list] of rejectedByHost) {
        if (received.has(host)) warnings.push(rejectionWarning(host, list, now));
      }
    }
    warnings.push(...refusals.warnings(now, limits, (host) => this.maxFilesOf(host), received));
    if (refusals.total > 0) {
      this.logger?.warn({ refused: refusals.summary() }, 'refused by per-host limits');
    }
    const hosts = [...received.keys()];
    const newHosts = hosts.length > 0 ? await this.store.registerUnknownHosts(hosts) : [];
    if (newHosts.length > 0)
      this.logger?.info({ hosts: newHosts }, 'registered unknown hosts under "unregistered"');
    const receivedPairs = [...received].flatMap(([host, plugins]) =>
      [...plugins].map((plugin) => ({ host, plugin })),
    );
    await this.store.writeBatch({
      meta,
      warnings,
      received: receivedPairs,
      receivedAt: now,
      latest: latest.values(refusals.refusedFiles),
    });

    return {
      messages: messages.length,
      values: report.accepted,
      meta: meta.length,
      warnings: warnings.length,
      rejected: rejectedCount,
      duplicates: report.duplicates,
      created: report.created,
      failed: report.failed.length,
      refused: refusals.total + refusals.shadowed + refusals.oversized,
      newHosts,
      lagSeconds: newest === 0 ? 0 : Math.max(0, now - newest),
      ...(deferred.length > 0 ? { deferred } : {}),
    };
  }

  /**
   * A message above limits.max_message_bytes is refused unparsed. Its topic host (not a line's
   * address: none was read) gets the warning, without being registered by it.
   */
  private refuseMessage(message: InboundMessage, now: number, warnings: WarnValue[]): void {
    const bytes = Buffer.byteLength(message.payload);
    const why = `message of ${bytes} bytes refused: larger than ${this.limits.maxMessageBytes} bytes (limits.${LIMIT_KEYS.maxMessageBytes} in kurado.toml, receive --max-message-bytes)`;
    this.logger?.warn({ host: message.host, bytes, maxBytes: this.limits.maxMessageBytes }, why);
    if (message.host !== undefined && this.listed.shadowedBy(message.host) === undefined) {
      warnings.push({ host: message.host, ...MESSAGE_LIMIT_WARNING, message: why, timestamp: now });
    }
  }

  /** Ask the files-per-host limit about files new to this process; drop updates of refused ones. */
  private async admitFiles(
    updates: RrdUpdate[],
    newFiles: Map<string, Map<string, string>>,
    refusals: Refusals,
  ): Promise<RrdUpdate[]> {
    const refusedPaths = new Set<string>();
    await Promise.all(
      [...newFiles].map(async ([host, candidates]) => {
        const refused = await this.files.admit(host, candidates);
        if (refused.size === 0) return;
        for (const [key, path] of candidates) {
          if (!refused.has(path)) continue;
          refusedPaths.add(path);
          refusals.add(host, 'files', key);
          const parts = parseRrdPath(this.dataDir, path);
          refusals.refusedFiles.add(`${host}\u0000${parts?.plugin}\u0000${parts?.metric}`);
        }
        refusals.fileCounts.set(host, this.files.count(host) ?? 0);
      }),
    );
    if (refusedPaths.size === 0) return updates;
    return updates.filter((update) => !refusedPaths.has(update.path));
  }
}

type RefusalKind = 'files' | 'metaCount' | 'metaLong' | 'warningCount' | 'warningLong' | 'lines';

/** What per-host limits refused in one batch, turned into one warning per host and limit. */
class Refusals {
  /** Messages and lines naming a listed host's hostname instead of its address. */
  shadowed = 0;
  /** Messages above limits.max_message_bytes, refused unparsed. */
  oversized = 0;
  total = 0;
  readonly byHost = new Map<string, Map<RefusalKind, { count: number; first: string }>>();
  /** Files counted for a host that had new files refused. */
  readonly fileCounts = new Map<string, number>();
  /** `host\0plugin\0name.type` of metrics whose files the files-per-host limit refused. */
  readonly refusedFiles = new Set<string>();

  add(host: string, kind: RefusalKind, first: string): void {
    this.total++;
    let kinds = this.byHost.get(host);
    if (kinds === undefined) {
      kinds = new Map();
      this.byHost.set(host, kinds);
    }
    const entry = kinds.get(kind);
    if (entry) entry.count++;
    else kinds.set(kind, { count: 1, first });
  }

  summary(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [host, kinds] of [...this.byHost].slice(0, 10)) {
      out[host] = Object.fromEntries([...kinds].map(([kind, { count }]) => [kind, count]));
    }
    return out;
  }

  warnings(
    now: number,
    limits: IngestLimits,
    maxFilesOf: (host: string) => number,
    accepted: ReadonlyMap<string, unknown>,
  ): WarnValue[] {
    const out: WarnValue[] = [];
    for (const [host, kinds] of this.byHost) {
      if (!accepted.has(host)) continue;
      const files = kinds.get('files');
      if (files) {
        out.push({
          host,
          ...FILES_LIMIT_WARNING,
          message: `${files.count} new metric(s) refused (first: ${files.first}): the host has ${this.fileCounts.get(host) ?? 0} metric files and may have ${maxFilesOf(host)} (max_files in hosts.toml, limits.${LIMIT_KEYS.maxFilesPerHost} in kurado.toml); existing metrics keep updating`,
          timestamp: now,
        });
      }
      const lines = kinds.get('lines');
      if (lines) {
        out.push({
          host,
          ...MESSAGE_LIMIT_WARNING,
          message: `${lines.count} message(s) cut: lines from ${lines.first} on refused, more than ${limits.maxMessageLines} lines in one message (limits.${LIMIT_KEYS.maxMessageLines} in kurado.toml, receive --max-message-lines)`,
          timestamp: now,
        });
      }
      const meta = [
        describe(kinds.get('metaCount'), `more than ${limits.maxMetaPerHost} in one message`),
        describe(kinds.get('metaLong'), `longer than ${limits.maxValueBytes} bytes`),
      ].filter((part) => part !== undefined);
      if (meta.length > 0) {
        out.push({
          host,
          ...META_LIMIT_WARNING,
          message: `meta values refused: ${meta.join('; ')}`,
          timestamp: now,
        });
      }
      const warned = [
        describe(kinds.get('warningCount'), `more than ${limits.maxWarningsPerHost} in one message`),
        describe(kinds.get('warningLong'), `longer than ${limits.maxValueBytes} bytes`),
      ].filter((part) => part !== undefined);
      if (warned.length > 0) {
        out.push({
          host,
          ...WARNINGS_LIMIT_WARNING,
          message: `warnings refused: ${warned.join('; ')}`,
          timestamp: now,
        });
      }
    }
    return out;
  }
}

function describe(entry: { count: number; first: string } | undefined, why: string): string | undefined {
  return entry ? `${entry.count} ${why} (first: ${entry.first})` : undefined;
}

/**
 * The newest value of every metric per host+plugin in one batch, for the store's latest values
 * (rankings and service graphs read them instead of every RRD file). Lines of one plugin come
 * together in a message, so the entry of the previous value is usually the one needed.
 */
class LatestValuesCollector {
  private readonly entries = new Map<string, LatestValues & { count: number }>();
  private last: (LatestValues & { count: number }) | undefined;

  /** `metric` is `<name>.<type>`, as the parsed key carries it. */
  note(host: string, plugin: string, metric: string, value: number, timestamp: number): void {
    let entry = this.last;
    if (entry === undefined || entry.host !== host || entry.plugin !== plugin) {
      const key = `${host}\u0000${plugin}`;
      entry = this.entries.get(key);
      if (entry === undefined) {
        entry = { host, plugin, at: timestamp, values: {}, count: 0 };
        this.entries.set(key, entry);
      }
      this.last = entry;
    }
    const before = entry.values[metric];
    if (before === undefined) {
      if (entry.count >= MAX_LATEST_VALUES_PER_PLUGIN) return;
      entry.count++;
    } else if (before[1] > timestamp) return;
    entry.values[metric] = [value, timestamp];
    if (timestamp > entry.at) entry.at = timestamp;
  }

  /** One entry per host+plugin, without metrics whose files were refused (`host\0plugin\0metric`). */
  values(refused: ReadonlySet<string>): LatestValues[] {
    const out: LatestValues[] = [];
    for (const { host, plugin, at, values } of this.entries.values()) {
      if (refused.size > 0) {
        for (const metric of Object.keys(values)) {
          if (refused.has(`${host}\u0000${plugin}\u0000${metric}`)) delete values[metric];
        }
        if (Object.keys(values).length === 0) continue;
      }
      out.push({ host, plugin, at, values });
    }
    return out;
  }
}

function filterInPlace<T>(list: T[], keep: (item: T) => boolean): void {
  let kept = 0;
  for (const item of list) if (keep(item)) list[kept++] = item;
  list.length = kept;
}

function noteReceived(received: Map<string, Set<string>>, host: string, plugin: string): void {
  const plugins = received.get(host);
  if (plugins === undefined) received.set(host, new Set([plugin]));
  else plugins.add(plugin);
}

/** One warning per host and message, naming the count and the first reason, so the UI shows it. */
function rejectionWarning(host: string, list: readonly Rejection[], now: number): WarnValue {
  return {
    host,
    ...REJECTION_WARNING,
    message: `${list.length} line(s) rejected; line ${list[0]!.line}: ${list[0]!.reason}`,
    timestamp: now,
  };
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
