import { Args, Flags } from '@oclif/core';
import { BaseCommand, graphsDirFlag } from '../../cli/base-command.js';
import { graphTreeFor, resolveHost, unknownHostMessage } from '../../cli/graph-host.js';
import { createGraphService, TemplateLoadError } from '../../core/graphs/service.js';

export default class GraphList extends BaseCommand<typeof GraphList> {
  static override summary = 'List the graphs that can be drawn for a host.';
  static override description =
    `One line per graph: plugin, group (the heading on the host page), key and title.
Graphs come from the templates and the host's RRD files; a plugin without a template gets one
automatic graph per metric (key <metric>.<type>).`;

  static override examples = [
    '<%= config.bin %> graph list 10.0.0.1',
    '<%= config.bin %> graph list web01 --json',
  ];

  static override args = {
    host: Args.string({ description: 'Address or hostname.', required: true }),
  };

  static override flags = {
    json: Flags.boolean({ description: 'Print JSON (plugins → groups → graphs).' }),
    'graphs-dir': graphsDirFlag,
  };

  public async run(): Promise<void> {
    const { args } = await this.parse(GraphList);
    const { flags, settings } = this;
    const host = await resolveHost(settings, args.host);
    if (!host) this.error(unknownHostMessage(args.host, settings.dataDir), { exit: 1 });
    if (host.storeProblem)
      this.log_.warn({ problem: host.storeProblem }, 'store not reachable; listing without meta');
    let graphs: ReturnType<typeof createGraphService>;
    const { tree } = graphTreeFor(settings, host);
    try {
      graphs = createGraphService({
        ...(tree ? { tree } : {}),
        dataDir: settings.dataDir,
        poolSize: 1,
        ...(settings.graphsDir ? { graphsDir: settings.graphsDir } : {}),
      });
    } catch (error) {
      if (error instanceof TemplateLoadError) this.error(error.message, { exit: 1 });
      throw error;
    }
    try {
      const listed = await graphs.list(host.address, host.meta);
      if (flags.json) {
        this.log(JSON.stringify({ host: host.address, hostname: host.hostname, plugins: listed }, null, 2));
        return;
      }
      this.log(`${host.address}${host.hostname ? ` (${host.hostname})` : ''}`);
      if (listed.length === 0) {
        this.log(`  no graphs: no RRD files under ${settings.dataDir} for this host yet`);
        return;
      }
      for (const plugin of listed) {
        this.log(`  plugin ${plugin.plugin}`);
        for (const group of plugin.groups) {
          this.log(`    ${group.title}`);
          const width = Math.max(...group.graphs.map((g) => g.key.length));
          for (const graph of group.graphs) this.log(`      ${graph.key.padEnd(width)}  ${graph.title}`);
        }
      }
    } finally {
      await graphs.close();
      await tree?.close();
    }
  }
}
