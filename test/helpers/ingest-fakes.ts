import type { Delivery } from '../../src/core/ingest/group-commit.js';
import type { InboundMessage, IngestReport } from '../../src/core/ingest/ingestor.js';
import type { RrdUpdate, RrdWriter, WriteReport } from '../../src/core/rrd/types.js';
import type { HostRecord, MetaStore, StoreBatch } from '../../src/core/store/types.js';

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
  private releases: (() => void)[] = [];

  async ingest(messages: readonly InboundMessage[]): Promise<IngestReport> {
    this.batches.push([...messages]);
    if (this.hold) await new Promise<void>((resolve) => this.releases.push(resolve));
    const failure = this.failures.shift();
    if (failure) throw failure;
    return {
      messages: messages.length,
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

  release(): void {
    for (const resolve of this.releases.splice(0)) resolve();
  }

  /** The payloads of every batch, in commit order. */
  payloads(): string[][] {
    return this.batches.map((batch) => batch.map((message) => message.payload));
  }
}

/** A delivery that records whether it was acknowledged. */
export function delivery(payload: string, source?: string): Delivery & { acked: number } {
  const message: Delivery & { acked: number } = {
    payload,
    acked: 0,
    settle: () => {
      message.acked++;
    },
    ...(source === undefined ? {} : { source }),
  };
  return message;
}
