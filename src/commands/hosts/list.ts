import { Flags } from '@oclif/core';
import Table from 'cli-table3';
import { BaseCommand } from '../../cli/base-command.js';
import { openStoreForCommand } from '../../cli/store.js';
import { StoreError } from '../../core/store/index.js';
import type { HostRecord } from '../../core/store/types.js';

export default class HostsList extends BaseCommand<typeof HostsList> {
  static override summary = 'List the hosts in the metadata store.';
  static override description =
    `Every host the store knows: imported from the server list (origin import) or registered
because it pushed without being listed (service "unregistered", origin auto). Ordered by
service, then as in the server list. Plugin settings (credentials) are never printed.`;

  static override examples = [
    '<%= config.bin %> hosts list',
    '<%= config.bin %> hosts list --service shop',
    '<%= config.bin %> hosts list --json | jq -r ".[].address"',
  ];

  static override flags = {
    json: Flags.boolean({ description: 'Print a JSON array of hosts.' }),
    service: Flags.string({ description: 'Only hosts of this service.' }),
  };

  public async run(): Promise<void> {
    const { flags } = await this.parse(HostsList);
    let hosts: HostRecord[];
    try {
      const store = await openStoreForCommand(this.settings.storeUrl);
      try {
        hosts = await store.listHosts();
      } finally {
        await store.close();
      }
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    }
    if (flags.service !== undefined) hosts = hosts.filter((h) => h.service === flags.service);
    const shown = hosts.map(({ settings: _secrets, ...visible }) => visible);
    if (flags.json) {
      this.log(JSON.stringify(shown, null, 2));
      return;
    }
    if (shown.length === 0) {
      this.log(
        flags.service === undefined
          ? 'No hosts yet: import a server list (kurado hosts import hosts.toml) or let agents push.'
          : `No hosts in service "${flags.service}".`,
      );
      return;
    }
    const table = new Table({
      head: ['address', 'hostname', 'service', 'label', 'role', 'origin', 'comments'],
      style: { head: [], border: [] },
    });
    for (const h of shown)
      table.push([h.address, h.hostname, h.service, h.label, h.role, h.origin, h.comments]);
    this.log(table.toString());
    this.log(`${shown.length} hosts`);
  }
}
