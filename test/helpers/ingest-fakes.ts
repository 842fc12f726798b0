import type { Delivery } from '../../src/core/ingest/group-commit.js';
import type { InboundMessage, IngestReport } from '../../src/core/ingest/ingestor.js';
import type { RrdUpdate, RrdWriter, WriteReport } from '../../src/core/rrd/types.js';
import { chooseNodes } from '../../src/core/storage/nodes.js';
import type { StorageNodeIo } from '../../src/core/storage/sharded.js';
import type {
  HostRecord,
  MetaStore,
  StorageAssignment,
  StoragePlacement,
  StoreBatch,
} from '../../src/core/store/types.js';

/** The report of a commit of `messages` messages that stored nothing worth counting. */
export function emptyIngestReport(messages: number): IngestReport {
  return {
    messages,
    values: 0,
    meta: 0,
    warnings: 0,
    rejected: 0,
    duplicates: 0,
    created: 0,
    failed: 0,
    refused: 0,
    newHosts: [],
    lagSeconds: 0,
  };
}

/**
 * In-memory stand-ins for the write path, for unit tests that must run in milliseconds: an RRD
 * writer that keeps each file's values and refuses one at or before the file's last (as rrdtool
 * does), and a store that keeps batches and hosts. `fail` makes the next calls throw.
 */
export class FakeRrdWriter implements RrdWriter {
  /** path → timestamps in the order they were stored. */
  readonly files = new Map<string, number[]>();
  readonly writes: RrdUpdate[][] = [];
  /** Throw this error from the next `times` writes (rrdcached unreachable). */
  fail: { error: Error; times: number } | undefined;
  closed = false;

  async write(updates: RrdUpdate[]): Promise<WriteReport> {
    this.writes.push(updates);
    if (this.fail && this.fail.times > 0) {
      this.fail.times--;
      throw this.fail.error;
    }
    const report: WriteReport = { accepted: 0, duplicates: 0, created: 0, failed: [] };
    for (const update of [...updates].sort((a, b) => a.timestamp - b.timestamp)) {
      let stored = this.files.get(update.path);
      if (!stored) {
        stored = [];
        this.files.set(update.path, stored);
        report.created++;
      }
      const last = stored[stored.length - 1];
      if (last !== undefined && update.timestamp <= last) report.duplicates++;
      else {
        stored.push(update.timestamp);
        report.accepted++;
      }
    }
    return report;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeMetaStore implements MetaStore {
  readonly batches: StoreBatch[] = [];
  readonly hosts = new Map<string, HostRecord>();
  /** Throw this error from the next `times` writeBatch calls (database unreachable). */
  fail: { error: Error; times: number } | undefined;

  async registerUnknownHosts(addresses: string[]): Promise<string[]> {
    const added = addresses.filter((address) => !this.hosts.has(address));
    for (const address of added) {
      this.hosts.set(address, {
        address,
        hostname: address,
        comments: '',
        service: 'unregistered',
        label: '',
        role: '',
        plugins: [],
        origin: 'auto',
      });
    }
    return added;
  }

  /** host → storage node, as the host_storage table keeps it. */
  readonly storage = new Map<string, string>();

  async assignStorage(hosts: string[], placement: StoragePlacement): Promise<StorageAssignment> {
    const counts = new Map<string, number>();
    for (const node of this.storage.values()) counts.set(node, (counts.get(node) ?? 0) + 1);
    const fresh = [...new Set(hosts)].filter((host) => !this.storage.has(host));
    const { placed, badPins } = chooseNodes(fresh, placement.nodes, counts, (host) => placement.pinOf(host));
    for (const [host, node] of placed) this.storage.set(host, node);
    const nodes = new Map(hosts.map((host) => [host, this.storage.get(host) as string]));
    return { nodes, placed: [...placed.keys()], badPins };
  }

  async storageAssignments(): Promise<Map<string, string>> {
    return new Map(this.storage);
  }

  async storageCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const node of this.storage.values()) counts.set(node, (counts.get(node) ?? 0) + 1);
    return counts;
  }

  async writeBatch(batch: StoreBatch): Promise<void> {
    if (this.fail && this.fail.times > 0) {
      this.fail.times--;
      throw this.fail.error;
    }
    this.batches.push(batch);
  }

  async migrate(): Promise<void> {}
  async close(): Promise<void> {}
  async schemaVersion(): Promise<number> {
    return notUsed();
  }
  async upsertHosts(): Promise<void> {
    return notUsed();
  }
  async listHosts(): Promise<HostRecord[]> {
    return [...this.hosts.values()];
  }
  async findHost(): Promise<undefined> {
    return notUsed();
  }
  async removeHosts(): Promise<void> {
    return notUsed();
  }
  async autoHostsLastSeen(): Promise<Map<string, number>> {
    return notUsed();
  }
  async meta(): Promise<never[]> {
    return notUsed();
  }
  async warnings(): Promise<never[]> {
    return notUsed();
  }
  async lastReceived(): Promise<never[]> {
    return notUsed();
  }
  async lastReceivedOfPlugin(): Promise<Map<string, number>> {
    return notUsed();
  }
  async latestValues(): Promise<never[]> {
    return notUsed();
  }
  async statuses(): Promise<Map<string, never>> {
    return notUsed();
  }
  async statusReports(): Promise<Map<string, never>> {
    return notUsed();
  }
  async expire(): Promise<number> {
    return notUsed();
  }
}

function notUsed(): never {
  throw new Error('FakeMetaStore: not used by the ingest path');
}

/** An ingest step that records each batch and resolves when the test says so. */
export class FakeIngest {
  readonly batches: InboundMessage[][] = [];
  /** Errors to throw, one per call, before succeeding. */
  readonly failures: Error[] = [];
  /** When set, every ingest waits for `release()`. */
  hold = false;
  /** Hosts whose storage node is down: their messages come back as deferred. */
  readonly downHosts = new Set<string>();
  private releases: (() => void)[] = [];

  async ingest(messages: readonly InboundMessage[]): Promise<IngestReport> {
    this.batches.push([...messages]);
    if (this.hold) await new Promise<void>((resolve) => this.releases.push(resolve));
    const failure = this.failures.shift();
    if (failure) throw failure;
    const deferred = [...messages.keys()].filter((index) => this.downHosts.has(messages[index]?.host ?? ''));
    return { ...emptyIngestReport(messages.length), ...(deferred.length > 0 ? { deferred } : {}) };
  }

  release(): void {
    for (const resolve of this.releases.splice(0)) resolve();
  }

  /** The payloads of every batch, in commit order. */
  payloads(): string[][] {
    return this.batches.map((batch) => batch.map((message) => message.payload));
  }
}

/** A delivery that records whether it was acknowledged. */
export function delivery(payload: string, source?: string, host?: string): Delivery & { acked: number } {
  const message: Delivery & { acked: number } = {
    payload,
    acked: 0,
    settle: () => {
      message.acked++;
    },
    ...(source === undefined ? {} : { source }),
    ...(host === undefined ? {} : { host }),
  };
  return message;
}

/**
 * A storage node for sharded-storage unit tests: a FakeRrdWriter, a PING that fails while
 * `down`, and LIST from the writer's files. While `down`, writes throw like an unreachable daemon.
 */
export class FakeStorageNode {
  readonly writer = new FakeRrdWriter();
  down = false;
  pings = 0;
  readonly io: StorageNodeIo;

  constructor(
    readonly name: string,
    dataDir: string,
  ) {
    this.io = {
      name,
      writer: {
        write: (updates: RrdUpdate[]) => {
          if (this.down) {
            this.writer.writes.push(updates);
            return Promise.reject(new Error(`rrdcached at ${name} unreachable`));
          }
          return this.writer.write(updates);
        },
        close: () => this.writer.close(),
      },
      ping: async () => {
        this.pings++;
        if (this.down) throw new Error(`rrdcached at ${name} unreachable`);
      },
      list: async (directory: string) => {
        if (this.down) throw new Error(`rrdcached at ${name} unreachable`);
        return [...this.writer.files.keys()]
          .map((file) => file.slice(dataDir.length + 1))
          .filter((file) => file.startsWith(`${directory}/`))
          .map((file) => file.slice(directory.length + 1));
      },
    };
  }
}
