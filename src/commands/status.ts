import { Flags } from '@oclif/core';
import Table from 'cli-table3';
import { BaseCommand } from '../cli/base-command.js';
import { localTime, openStoreForCommand } from '../cli/store.js';
import { formatAge, StoreError } from '../core/store/index.js';
import { statusRulesText } from '../core/store/status.js';
import type { HostRecord, HostStatus, HostStatusReport } from '../core/store/types.js';

const SEVERITY: Record<HostStatus, number> = { ok: 0, unknown: 0, warn: 1, critical: 2 };

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Fleet health: one line per host with its status and last base reception.';
  static override description = `Status rules (also the web UI's and /api/status'):
${statusRulesText()}

Exit code (for scripts and cron): 2 if any host is critical, 1 if any is warn and --fail-on warn
was given, 0 otherwise. Unknown hosts never fail the command. --fail-on never always exits 0.`;

  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --problems',
    '<%= config.bin %> status --service shop --fail-on warn',
    '<%= config.bin %> status --json',
  ];

  static override flags = {
    json: Flags.boolean({
      description: 'Print JSON: [{address, hostname, service, label, status, reason, baseReceivedAt}].',
    }),
    service: Flags.string({ description: 'Only hosts of this service.' }),
    problems: Flags.boolean({ description: 'Only hosts that are not ok.' }),
    'fail-on': Flags.option({
      options: ['critical', 'warn', 'never'] as const,
      default: 'critical' as const,
      description: 'Lowest status that makes the exit code non-zero.',
    })(),
  };

  public async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const now = Math.floor(Date.now() / 1000);
    let hosts: HostRecord[];
    let reports: Map<string, HostStatusReport>;
    try {
      const store = await openStoreForCommand(this.settings.storeUrl);
      try {
        hosts = await store.listHosts();
        if (flags.service !== undefined) hosts = hosts.filter((h) => h.service === flags.service);
        reports = await store.statusReports(
          now,
          flags.service === undefined ? undefined : hosts.map((h) => h.address),
        );
      } finally {
        await store.close();
      }
    } catch (error) {
      if (error instanceof StoreError) this.error(error.message, { exit: 1 });
      throw error;
    }

    const rows = hosts
      .map((host) => ({
        host,
        report: reports.get(host.address) ?? { status: 'unknown' as const, reason: '' },
      }))
      .filter(({ report }) => !flags.problems || report.status !== 'ok');
    const counts: Record<HostStatus, number> = { ok: 0, warn: 0, critical: 0, unknown: 0 };
    for (const host of hosts) counts[reports.get(host.address)?.status ?? 'unknown']++;

    if (flags.json) {
      this.log(
        JSON.stringify(
          rows.map(({ host, report }) => ({
            address: host.address,
            hostname: host.hostname,
            service: host.service,
            label: host.label,
            ...report,
          })),
          null,
          2,
        ),
      );
    } else {
      const table = new Table({
        head: ['host', 'hostname', 'service', 'status', 'last base received', 'reason'],
        style: { head: [], border: [] },
      });
      for (const { host, report } of rows) {
        const base =
          report.baseReceivedAt === undefined
            ? 'never'
            : `${localTime(report.baseReceivedAt)} (${formatAge(now - report.baseReceivedAt)} ago)`;
        table.push([host.address, host.hostname, host.service, report.status, base, report.reason]);
      }
      if (rows.length > 0) this.log(table.toString());
      this.log(
        `${hosts.length} hosts: ${counts.ok} ok, ${counts.warn} warn, ${counts.critical} critical, ${counts.unknown} unknown`,
      );
    }

    const worst = Math.max(0, ...hosts.map((h) => SEVERITY[reports.get(h.address)?.status ?? 'unknown']));
    const threshold = flags['fail-on'] === 'never' ? Number.POSITIVE_INFINITY : SEVERITY[flags['fail-on']];
    if (worst >= threshold && worst > 0) this.exit(worst);
  }
}
