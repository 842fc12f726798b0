import { existsSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand, graphsDirFlag } from '../../cli/base-command.js';
import { ConfigError, type KuradoConfig, loadConfig, redactUrl } from '../../core/config.js';
import { checkTemplatesWithRrdtool } from '../../core/graphs/check.js';
import { loadTemplates } from '../../core/graphs/loader.js';
import type { TemplateError } from '../../core/graphs/template.js';

export default class ConfigCheck extends BaseCommand<typeof ConfigCheck> {
  static override summary = 'Check kurado.toml and every graph template; exit 1 on any error.';
  static override description =
    `Loads kurado.toml (with KURADO_* variables and flags applied), then the shipped graph
templates and the site directory (--graphs-dir / graphs_dir), and reports every mistake as
file:line: message. Unless --no-rrdtool is given, rrdtool itself then draws every template once
against empty RRD files, so a bad RPN expression or option shows up here and not as a broken
image later.`;

  static override examples = [
    '<%= config.bin %> config check -c /etc/kurado/kurado.toml',
    '<%= config.bin %> config check --graphs-dir /etc/kurado/graphs',
  ];

  static override flags = {
    'graphs-dir': graphsDirFlag,
    rrdtool: Flags.boolean({
      description: 'Let rrdtool draw every template once (needs rrdtool on PATH).',
      default: true,
      allowNo: true,
    }),
  };

  private configError: Error | undefined;

  public override async init(): Promise<void> {
    try {
      await super.init();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // Report it in run() with the template errors instead of dying on the first one.
      this.configError = error;
    }
  }

  public async run(): Promise<void> {
    const { flags } = await this.parse(ConfigCheck);
    const problems: string[] = [];
    let settings: KuradoConfig | undefined = this.configError ? undefined : this.settings;
    const where = flags.config ?? 'defaults (no --config)';
    if (this.configError) {
      problems.push(...this.configError.message.split('\n'));
      // Templates can still be checked with what the flags and environment say.
      try {
        settings = loadConfig({ overrides: this.configOverrides() });
      } catch {
        settings = undefined;
      }
    } else if (settings) {
      this.log(`config ${where}: OK`);
      this.log(
        `  data_dir   ${settings.dataDir}${existsSync(settings.dataDir) ? '' : ' (does not exist yet)'}`,
      );
      if (settings.storage.length > 0) {
        for (const node of settings.storage) this.log(`  storage    ${node.name} at ${node.rrdcached}`);
      } else
        this.log(
          `  rrdcached  ${settings.rrdcached ?? 'none (rrdtool reads and writes the files directly)'}`,
        );
      this.log(`  store      ${redactUrl(settings.storeUrl)}`);
      if (settings.graphsDir) this.log(`  graphs_dir ${settings.graphsDir}`);
    }
    const set = loadTemplates(settings?.graphsDir ? { siteDir: settings.graphsDir } : {});
    const errors: TemplateError[] = [...set.errors];
    if (flags.rrdtool) {
      try {
        errors.push(...(await checkTemplatesWithRrdtool(set)));
      } catch (error) {
        problems.push(`cannot run rrdtool to check the templates: ${(error as Error).message}`);
      }
    }
    const graphCount = [...set.templates.values()].reduce((n, t) => n + t.graphs.length, 0);
    this.log(
      `graph templates: ${set.files.length} file(s), ${set.templates.size} plugin(s), ${graphCount} graph(s)${flags.rrdtool ? ', drawn once by rrdtool' : ''}`,
    );
    for (const error of errors) problems.push(error.message);
    if (problems.length === 0) {
      this.log('OK');
      return;
    }
    for (const problem of problems) this.logToStderr(problem);
    this.logToStderr(`${problems.length} error(s)`);
    this.exit(1);
  }
}
