import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { openStoreForCommand } from '../../cli/store.js';
import { hostProblem, normalizeHost } from '../../core/protocol/host.js';
import { hostDirectory } from '../../core/rrd/layout.js';
import { StoreError } from '../../core/store/index.js';

const DURATION = /^(\d{1,9})\s*([smhdw])$/;
/** Hosts named in one line of output; the rest are counted. */
const SHOWN_HOSTS = 100;

/** `hosts` as one line: the first SHOWN_HOSTS, then how many more. */
export function hostList(hosts: readonly string[]): string {
  const shown = hosts.slice(0, SHOWN_HOSTS).join(', ');
  return hosts.length > SHOWN_HOSTS ? `${shown}, … and ${hosts.length - SHOWN_HOSTS} more` : shown;
}
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `7d`, `12h`, `30m`, `2w`, `90s` in seconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  return match ? Number(match[1]) * UNIT_SECONDS[match[2]!]! : undefined;
}

export default class HostsRemove extends BaseCommand<typeof HostsRemove> {
  static override summary = 'Delete hosts from the metadata store, and with --files their RRD files.';
  static override description =
    `Deletes each host with its meta, warnings and last-received rows. --unregistered-older-than
removes every auto-registered host (service "unregistered") not heard of for that long, which
\`hosts import --prune\` never does. --files also deletes <data_dir>/<address>/ (never anything
outside data_dir). A host that keeps pushing is registered again by the next message, and a
running receiver re-creates its files; an imported host comes back with the next import.`;

  static override examples = [
    '<%= config.bin %> hosts remove 10.0.0.99 junk.example.com',
    '<%= config.bin %> hosts remove --unregistered-older-than 7d --files',
    '<%= config.bin %> hosts remove --unregistered-older-than 1d --dry-run',
  ];

  static override args = {
    addresses: Args.string({ description: 'Host addresses, as listed by kurado hosts list.' }),
  };
  static override strict = false;

  static override flags = {
    'unregistered-older-than': Flags.string({
      description: 'Also remove auto-registered hosts not heard of for this long: 90s, 30m, 12h, 7d, 2w.',
    }),
    files: Flags.boolean({ description: "Also delete the hosts' RRD directories under data_dir." }),
    'dry-run': Flags.boolean({ description: 'Print what would be removed, remove nothing.' }),
  };

  public async run(): Promise<void> {
    const { argv, flags } = await this.parse(HostsRemove);
    if (flags.files && this.settings.storage.length > 0) {
      // rrdcached has no command that deletes files: they live on the storage nodes' machines.
      this.error(
        "--files cannot delete files on [[storage]] nodes: remove <host> directories under each node's -b there (kurado storage list names the nodes); run again without --files to remove the hosts from the store",
        { exit: 2 },
      );
    }
    const given = (argv as string[]).map((a) => normalizeHost(a));
    const olderThanText = flags['unregistered-older-than'];
    const olderThan = olderThanText === undefined ? undefined : parseDuration(olderThanText);
    if (olderThanText !== undefined && olderThan === undefined) {
      this.error(`--unregistered-older-than: "${olderThanText}" is not a duration like 7d, 12h or 30m`, {
        exit: 2,
      });
    }
    if (given.length === 0 && olderThan === undefined) {
      this.error('name hosts to remove, or give --unregistered-older-than 7d', { exit: 2 });
    }
    for (const address of given) {
      const problem = hostProblem(address);
      if (problem) this.error(`${address}: ${problem}`, { exit: 2 });
    }
    let removed: string[];
    try {
      const store = await openStoreForCommand(this.settings.storeUrl);
      try {
        const known = new Set((await store.listHosts()).map((h) => h.address));
        const targets = new Set(given);
        if (olderThan !== undefined) {
          const cutoff = Math.floor(Date.now() / 1000) - olderThan;
          for (const [address, seen] of await store.autoHostsLastSeen())
            if (seen < cutoff) targets.add(address);
        }
        removed = [...targets];
        const unknown = removed.filter((a) => !known.has(a));
        if (unknown.length > 0 && !flags.files) {
          this.warn(`not in the store: ${hostList(unknown)}`);
          removed = removed.filter((a) => known.has(a));
        }
        if (flags['dry-run']) {
          this.log(
            `would remove ${removed.length} host(s)${flags.files ? ' and their files' : ''}: ${hostList(removed)}`,
          );
          return;
        }
        await store.removeHosts(removed.filter((a) => known.has(a)));
      } finally {
        await store.close();
      }
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    }
    if (flags.files) {
      const dataDir = path.resolve(this.settings.dataDir);
      for (const address of removed) {
        const directory = hostDirectory(dataDir, address);
        // The layout escapes every component; checked again because this deletes recursively.
        if (path.dirname(directory) !== dataDir) {
          this.error(`refusing to delete ${directory}: not a host directory of ${dataDir}`, { exit: 1 });
        }
        await rm(directory, { recursive: true, force: true });
      }
    }
    this.log(
      removed.length === 0
        ? 'No hosts to remove.'
        : `Removed ${removed.length} host(s)${flags.files ? ' and their files' : ''}: ${hostList(removed)}`,
    );
  }
}
