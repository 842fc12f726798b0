import { Flags } from '@oclif/core';
import Table from 'cli-table3';
import { BaseCommand } from '../cli/base-command.js';
import { openStoreForCommand } from '../cli/store.js';
import { formatRankingValue, MAX_RANKING_ROWS } from '../core/aggregate/ranking-format.js';
import { RANKING_METRICS, RankingError, rankHosts, rankingMetric } from '../core/aggregate/rankings.js';
import { formatAge, StoreError } from '../core/store/index.js';

export default class Top extends BaseCommand<typeof Top> {
  static override summary =
    'The hosts with the highest load, CPU, memory, traffic, disk IO or any metric right now.';
  static override description =
    `Ranks hosts by their latest values as receive and pull-worker stored them (no RRD file
is read): ${RANKING_METRICS.map((m) => `${m.key} (${m.title})`).join(', ')}, or any metric of a plugin
as <plugin>:<name.type> (nginx:reqs.derive; counters as per-second rates). Hosts without a value of
the last 2 minutes are counted as "without data". Equal values are ordered by hostname.`;

  static override examples = [
    '<%= config.bin %> top --service shop --by load',
    '<%= config.bin %> top --by cpu --limit 50',
    '<%= config.bin %> top --service shop --label frontend --by nginx:reqs.derive --json',
  ];

  static override flags = {
    by: Flags.string({ description: 'What to rank by.', default: 'load' }),
    service: Flags.string({ description: 'Only hosts of this service.' }),
    label: Flags.string({ description: 'With --service: only hosts of this label.', dependsOn: ['service'] }),
    limit: Flags.integer({ description: 'Hosts shown.', default: 20, min: 1, max: MAX_RANKING_ROWS }),
    json: Flags.boolean({
      description:
        'Print JSON: {by, title, unit, hosts, missing, top: [{rank, address, hostname, service, label, value, at}]}.',
    }),
  };

  public async run(): Promise<void> {
    const { flags } = await this.parse(Top);
    let metric: ReturnType<typeof rankingMetric>;
    try {
      metric = rankingMetric(flags.by);
    } catch (error) {
      if (error instanceof RankingError) this.error(error.message, { exit: 2 });
      throw error;
    }
    const now = Math.floor(Date.now() / 1000);
    let ranking: ReturnType<typeof rankHosts>;
    try {
      const store = await openStoreForCommand(this.settings.storeUrl);
      try {
        const hosts = (await store.listHosts()).filter(
          (h) =>
            (flags.service === undefined || h.service === flags.service) &&
            (flags.label === undefined || h.label === flags.label),
        );
        if (hosts.length === 0 && flags.service !== undefined) {
          this.error(
            `no hosts in service "${flags.service}"${flags.label === undefined ? '' : ` with label "${flags.label}"`}`,
            { exit: 1 },
          );
        }
        ranking = rankHosts(hosts, await store.latestValues([metric.plugin]), metric, now, flags.limit);
      } finally {
        await store.close();
      }
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    }
    if (flags.json) {
      this.log(
        JSON.stringify(
          {
            by: metric.key,
            title: metric.title,
            unit: metric.unit,
            hosts: ranking.hosts,
            missing: ranking.missing,
            top: ranking.top.map((r, i) => ({
              rank: i + 1,
              address: r.host.address,
              hostname: r.host.hostname,
              service: r.host.service,
              label: r.host.label,
              value: r.value,
              at: r.at,
            })),
          },
          null,
          2,
        ),
      );
      return;
    }
    const table = new Table({
      head: [
        '#',
        'host',
        'hostname',
        'service',
        `${metric.title}${metric.unit ? ` [${metric.unit}]` : ''}`,
        'age',
      ],
      colAligns: ['right', 'left', 'left', 'left', 'right', 'right'],
      style: { head: [], border: [] },
    });
    ranking.top.forEach((r, i) => {
      table.push([
        String(i + 1),
        r.host.address,
        r.host.hostname,
        r.host.label ? `${r.host.service} / ${r.host.label}` : r.host.service,
        formatRankingValue(r.value, metric.unit),
        formatAge(Math.max(0, now - r.at)),
      ]);
    });
    if (ranking.top.length > 0) this.log(table.toString());
    this.log(
      `${metric.title}: ${ranking.top.length} of ${ranking.hosts} hosts shown; ${ranking.missing} without data of the last 2 minutes`,
    );
  }
}
