import { Flags } from '@oclif/core';
import Table from 'cli-table3';
import { BaseCommand } from '../../cli/base-command.js';
import { openStoreForCommand } from '../../cli/store.js';
import { type StorageNodeReport, storageReport } from '../../core/storage/report.js';
import { StoreError } from '../../core/store/index.js';

export default class StorageList extends BaseCommand<typeof StorageList> {
  static override summary = 'List the RRD storage nodes with their hosts, files and reachability.';
  static override description =
    `Each [[storage]] node of kurado.toml: how many hosts live on it (from the store), how many RRD
files its tree holds and whether its rrdcached answers (asked over the network: PING, LIST).
Without [[storage]] the one default node is data_dir on this machine. Exits 1 when a node does
not answer.`;

  static override examples = ['<%= config.bin %> storage list', '<%= config.bin %> storage list --json'];

  static override flags = {
    json: Flags.boolean({ description: 'Print a JSON array of nodes.' }),
  };

  public async run(): Promise<void> {
    const { flags } = await this.parse(StorageList);
    const { settings } = this;
    let nodes: StorageNodeReport[];
    try {
      const store = await openStoreForCommand(settings.storeUrl);
      try {
        nodes = await storageReport({
          dataDir: settings.dataDir,
          rrdcached: settings.rrdcached,
          nodes: settings.storage,
          store,
        });
      } finally {
        await store.close();
      }
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    }
    if (flags.json) this.log(JSON.stringify(nodes, null, 2));
    else {
      const table = new Table({
        head: ['node', 'rrdcached', 'hosts', 'files', 'reachable'],
        style: { head: [], border: [] },
      });
      for (const node of nodes) {
        table.push([
          node.name,
          node.address,
          node.hosts,
          node.files ?? '?',
          node.reachable ? 'yes' : `NO: ${node.problem ?? ''}`,
        ]);
      }
      this.log(table.toString());
    }
    if (nodes.some((node) => !node.reachable)) this.exit(1);
  }
}
