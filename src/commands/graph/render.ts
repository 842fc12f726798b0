import { writeFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { BaseCommand, graphsDirFlag } from '../../cli/base-command.js';
import { graphTreeFor, resolveHost, unknownHostMessage } from '../../cli/graph-host.js';
import { pluginName } from '../../core/graphs/graphs.js';
import { createGraphService, TemplateLoadError } from '../../core/graphs/service.js';
import { GRAPH_STYLE } from '../../core/graphs/style.js';
import { parseTimeText } from '../../core/graphs/terms.js';
import {
  GraphNotFoundError,
  GraphRenderError,
  GraphRequestError,
  TERMS,
  type Term,
} from '../../core/graphs/types.js';

export default class GraphRender extends BaseCommand<typeof GraphRender> {
  static override summary = 'Draw one graph as PNG, to a file or to stdout.';
  static override description =
    `Renders exactly what the web UI shows, with the same templates and rrdtool settings.
HOST is an address or a hostname known to the store; GRAPH is a key from "kurado graph list HOST"
(cpu, traffic-eth0, disk-usage-sda1, or <metric>.<type> for automatic graphs). The PNG goes to
--out, or to stdout when stdout is not a terminal.`;

  static override examples = [
    '<%= config.bin %> graph render 10.0.0.1 cpu --term week --out cpu.png',
    '<%= config.bin %> graph render --service shop cpu --out shop-cpu.png',
    '<%= config.bin %> graph render --service shop --label frontend traffic --plugin base > traffic.png',
    '<%= config.bin %> graph render web01 traffic-eth0 --width 800 > traffic.png',
    '<%= config.bin %> graph render 10.0.0.1 reqs --plugin nginx:8080 --term custom --from "2026-11-24 00:00" --to "2026-11-25 00:00" --out reqs.png',
  ];

  static override args = {
    host: Args.string({ description: 'Address or hostname (left out with --service).' }),
    graph: Args.string({ description: 'Graph key (see "kurado graph list HOST").' }),
  };

  static override flags = {
    plugin: Flags.string({
      char: 'p',
      description: 'Plugin identifier (nginx:8080, mysql:3306, …).',
      default: 'base',
    }),
    term: Flags.option({ options: TERMS, description: 'Time range.', default: 'day' as Term })(),
    from: Flags.string({
      description:
        'Start of a custom range: epoch seconds or "YYYY-MM-DD HH:MM" (local time), within the 1100 days the RRD files keep.',
    }),
    to: Flags.string({
      description:
        'End: epoch seconds or "YYYY-MM-DD HH:MM", at most 1 hour ahead; with a fixed term, look back from there.',
    }),
    width: Flags.integer({
      char: 'w',
      description: 'Canvas width in pixels.',
      default: GRAPH_STYLE.defaultWidth,
      min: GRAPH_STYLE.minWidth,
      max: GRAPH_STYLE.maxWidth,
    }),
    height: Flags.integer({
      char: 'h',
      description: 'Canvas height in pixels.',
      default: GRAPH_STYLE.defaultHeight,
      min: GRAPH_STYLE.minHeight,
      max: GRAPH_STYLE.maxHeight,
    }),
    out: Flags.string({ char: 'o', description: 'Write the PNG here instead of stdout.' }),
    service: Flags.string({
      description:
        'Draw the graph over all hosts of this service (sums and averages as the templates say; the service page shows the same), instead of one host.',
    }),
    label: Flags.string({
      description: 'With --service: only the hosts of this label.',
      dependsOn: ['service'],
    }),
    'graphs-dir': graphsDirFlag,
  };

  public async run(): Promise<void> {
    const { args } = await this.parse(GraphRender);
    const { flags, settings } = this;
    if (!flags.out && process.stdout.isTTY) {
      this.error(
        'refusing to write a PNG to the terminal: give --out FILE or redirect stdout (> graph.png)',
        {
          exit: 2,
        },
      );
    }
    let from: number | undefined;
    let to: number | undefined;
    try {
      if (flags.from) from = parseTimeText(flags.from, '--from');
      if (flags.to) to = parseTimeText(flags.to, '--to');
    } catch (error) {
      this.error((error as Error).message, { exit: 2 });
    }
    if (from !== undefined && flags.term !== 'custom') {
      this.error('--from needs --term custom', { exit: 2 });
    }
    const positional = [args.host, args.graph].filter((a) => a !== undefined);
    if (flags.service !== undefined ? positional.length !== 1 : positional.length !== 2) {
      this.error(
        flags.service !== undefined
          ? 'with --service give only GRAPH: kurado graph render --service shop cpu'
          : 'give HOST and GRAPH: kurado graph render 10.0.0.1 cpu (or --service NAME GRAPH)',
        { exit: 2 },
      );
    }
    const graphKey = positional[positional.length - 1]!;
    let host: Awaited<ReturnType<typeof resolveHost>>;
    if (flags.service === undefined) {
      host = await resolveHost(settings, args.host!);
      if (!host) this.error(unknownHostMessage(args.host!, settings.dataDir), { exit: 1 });
      if (host.storeProblem)
        this.log_.warn({ problem: host.storeProblem }, 'store not reachable; drawing without meta');
    }
    let graphs: ReturnType<typeof createGraphService>;
    const { tree } = graphTreeFor(settings, host);
    try {
      graphs = createGraphService({
        ...(tree ? { tree } : {}),
        dataDir: settings.dataDir,
        poolSize: 1,
        onDaemonUnreachable: (problem) =>
          this.log_.warn(
            { rrdcached: settings.rrdcached, problem },
            'rrdcached unreachable; drawing from the files',
          ),
        ...(settings.rrdcached ? { rrdcached: settings.rrdcached } : {}),
        ...(settings.graphsDir ? { graphsDir: settings.graphsDir } : {}),
      });
    } catch (error) {
      if (error instanceof TemplateLoadError) this.error(error.message, { exit: 1 });
      throw error;
    }
    const shape = {
      graph: graphKey,
      term: flags.term,
      width: flags.width,
      height: flags.height,
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
    };
    try {
      const png = host
        ? await graphs.renderPng(
            {
              ...shape,
              host: host.address,
              plugin: flags.plugin,
              ...(host.hostname ? { hostname: host.hostname } : {}),
            },
            host.meta,
          )
        : await graphs.renderAggregatePng({
            ...shape,
            service: flags.service!,
            label: flags.label ?? '',
            plugin: pluginName(flags.plugin),
          });
      if (flags.out) writeFileSync(flags.out, png);
      else
        await new Promise<void>((resolve, reject) =>
          process.stdout.write(png, (e) => (e ? reject(e) : resolve())),
        );
    } catch (error) {
      if (error instanceof GraphNotFoundError) this.error(error.message, { exit: 1 });
      if (error instanceof GraphRequestError) this.error(error.message, { exit: 2 });
      // The operator running the command may see rrdtool's full message (files, socket).
      if (error instanceof GraphRenderError && error.cause instanceof Error)
        this.error(`${error.message}\n${error.cause.message}`, { exit: 1 });
      throw error;
    } finally {
      await graphs.close();
      await tree?.close();
    }
  }
}
