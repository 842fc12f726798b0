import type { Logger } from '../log.js';
import type { RrdUpdate, RrdWriter, WriteReport } from './types.js';
import { emptyReport } from './write-plan.js';

/** One storage node as the sharded writer drives it. */
export interface NodeWriter {
  name: string;
  writer: RrdWriter;
  /** Resolves when the node answers (PING); used to notice that a down node is back. */
  ping(): Promise<void>;
}

export interface ShardedWriterOptions {
  nodes: readonly NodeWriter[];
  /** The host a file belongs to and the node that host lives on (undefined: not routed yet). */
  locate(file: string): { host: string; node: string } | undefined;
  /** How often a down node is asked whether it is back, ms; default 1000. */
  probeIntervalMs?: number;
  logger?: Logger;
}

interface NodeState {
  node: NodeWriter;
  down: boolean;
  probe: NodeJS.Timeout | undefined;
}

/**
 * Writes each host's values to the storage node the host lives on, all nodes at once. A node
 * whose write fails is marked down: its hosts come back in `unstoredHosts` (their messages stay
 * unacknowledged) and later writes skip it without waiting, so one down node never slows the
 * others; a probe finds out when it is back. Only the first write to a node that just died waits
 * for its connection to give up (the node writer's unreachable bound).
 */
export class ShardedWriter implements RrdWriter {
  private readonly nodes = new Map<string, NodeState>();
  private readonly probeIntervalMs: number;
  private closed = false;

  constructor(private readonly options: ShardedWriterOptions) {
    for (const node of options.nodes) this.nodes.set(node.name, { node, down: false, probe: undefined });
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
  }

  /** Whether `node` is known to be down now (its hosts' values are not even tried). */
  isDown(node: string): boolean {
    return this.nodes.get(node)?.down ?? false;
  }

  async write(updates: RrdUpdate[]): Promise<WriteReport> {
    const report = emptyReport();
    const unstored = new Set<string>();
    const byNode = new Map<NodeState, { updates: RrdUpdate[]; hosts: Set<string> }>();
    for (const update of updates) {
      const where = this.options.locate(update.path);
      const state = where && this.nodes.get(where.node);
      if (!where || !state) {
        // The ingest path routes every host before writing; this is a bug, not a node outage.
        report.failed.push({ path: update.path, reason: `${update.path}: no storage node for this host` });
        continue;
      }
      if (state.down) {
        unstored.add(where.host);
        continue;
      }
      let group = byNode.get(state);
      if (!group) {
        group = { updates: [], hosts: new Set() };
        byNode.set(state, group);
      }
      group.updates.push(update);
      group.hosts.add(where.host);
    }
    await Promise.all(
      [...byNode].map(async ([state, group]) => {
        try {
          const part = await state.node.writer.write(group.updates);
          report.accepted += part.accepted;
          report.duplicates += part.duplicates;
          report.created += part.created;
          report.failed.push(...part.failed);
        } catch (error) {
          for (const host of group.hosts) unstored.add(host);
          this.markDown(state, error);
        }
      }),
    );
    if (unstored.size > 0) report.unstoredHosts = unstored;
    return report;
  }

  /**
   * Count `node` as down after another call to it failed (a file listing): its hosts' messages
   * are then deferred without waiting, until the probe finds it back.
   */
  reportDown(node: string, error: unknown): void {
    const state = this.nodes.get(node);
    if (state) this.markDown(state, error);
  }

  private markDown(state: NodeState, error: unknown): void {
    if (state.down || this.closed) return;
    state.down = true;
    this.options.logger?.error(
      { node: state.node.name, err: (error as Error).message },
      `storage node "${state.node.name}" is down; its hosts wait (unacknowledged) until it is back: ${(error as Error).message}`,
    );
    this.scheduleProbe(state);
  }

  private scheduleProbe(state: NodeState): void {
    if (this.closed) return;
    state.probe = setTimeout(() => {
      state.node.ping().then(
        () => {
          state.probe = undefined;
          state.down = false;
          this.options.logger?.info({ node: state.node.name }, `storage node "${state.node.name}" is back`);
        },
        () => this.scheduleProbe(state),
      );
    }, this.probeIntervalMs);
    state.probe.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const state of this.nodes.values()) clearTimeout(state.probe);
    await Promise.all([...this.nodes.values()].map((state) => state.node.writer.close()));
  }
}
