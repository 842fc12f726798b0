import { Args, Flags } from '@oclif/core';
import Table from 'cli-table3';
import { BaseCommand } from '../../cli/base-command.js';
import { openStoreForCommand, shownStoreUrl } from '../../cli/store.js';
import { diffImport } from '../../core/hosts/import-diff.js';
import { readServerList, ServerListError } from '../../core/hosts/server-list.js';
import { StoreError } from '../../core/store/index.js';
import type { HostRecord } from '../../core/store/types.js';

export default class HostsImport extends BaseCommand<typeof HostsImport> {
  static override summary = 'Load the server list (hosts.toml) into the metadata store.';
  static override description = `Reads the TOML server list (roles, services → labelled sections → hosts; see
templates/hosts.toml), checks all of it, and only then writes: new hosts are added, listed ones
updated (an auto-registered host that is now listed moves to its service). Hosts the file no
longer lists stay unless --prune is given; auto-registered hosts (service "unregistered") are
never pruned. Every problem in the file is reported as file[:line]: place: message, and nothing
is written (exit 1).`;

  static override examples = [
    '<%= config.bin %> hosts import /etc/kurado/hosts.toml',
    '<%= config.bin %> hosts import hosts.toml --prune',
    '<%= config.bin %> hosts import hosts.toml --dry-run',
  ];

  static override args = {
    file: Args.string({ description: 'The server list, TOML.', required: true }),
  };

  static override flags = {
    prune: Flags.boolean({
      description: 'Remove imported hosts the file no longer lists (with their meta).',
    }),
    'dry-run': Flags.boolean({
      description: 'Check the file and show the counts; write nothing, open no store.',
    }),
  };

  public async run(): Promise<void> {
    const { args, flags } = await this.parse(HostsImport);
    let list: ReturnType<typeof readServerList>;
    try {
      list = readServerList(args.file);
    } catch (error) {
      if (error instanceof ServerListError) this.error(error.message, { exit: 1 });
      throw error;
    }
    for (const warning of list.warnings) this.warn(warning);

    if (flags['dry-run']) {
      this.printCounts(list.hosts, undefined);
      this.log(`${args.file}: OK, ${list.hosts.length} hosts (dry run, nothing written)`);
      return;
    }

    let store: Awaited<ReturnType<typeof openStoreForCommand>>;
    try {
      store = await openStoreForCommand(this.settings.storeUrl);
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    }
    try {
      const diff = diffImport(await store.listHosts(), list.hosts);
      const { gone } = diff;
      const added = new Set(diff.added.map((h) => h.address));
      await store.upsertHosts(list.hosts);
      if (flags.prune && gone.length > 0) await store.removeHosts(gone.map((h) => h.address));

      this.printCounts(list.hosts, added);
      const parts = [
        `${diff.added.length} new`,
        `${diff.changed.length} changed`,
        `${diff.unchanged.length} unchanged`,
      ];
      this.log(
        `Imported ${list.hosts.length} hosts from ${args.file} into ${shownStoreUrl(this.settings.storeUrl)}: ${parts.join(', ')}`,
      );
      if (gone.length > 0) {
        const names = gone.map((h) => h.address).join(', ');
        if (flags.prune) this.log(`Pruned ${gone.length} hosts no longer listed: ${names}`);
        else this.log(`${gone.length} imported hosts are no longer listed (--prune removes them): ${names}`);
      }
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    } finally {
      await store.close();
    }
  }

  /** One row per service: its hosts, and how many are new (unless a dry run). */
  private printCounts(hosts: HostRecord[], added: Set<string> | undefined): void {
    const head = ['service', 'labels', 'hosts', ...(added ? ['new'] : [])];
    const table = new Table({ head, style: { head: [], border: [] } });
    const services = new Map<string, HostRecord[]>();
    for (const host of hosts) services.set(host.service, [...(services.get(host.service) ?? []), host]);
    for (const [service, members] of services) {
      const labels = [...new Set(members.map((h) => h.label || '(none)'))].join(', ');
      const row: (string | number)[] = [service, labels, members.length];
      if (added) row.push(members.filter((h) => added.has(h.address)).length);
      table.push(row);
    }
    this.log(table.toString());
  }
}
