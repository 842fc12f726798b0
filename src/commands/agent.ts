import { Command, Flags, type Interfaces } from '@oclif/core';
import {
  AGENT_DESCRIPTION,
  AGENT_EXAMPLES,
  AGENT_FLAGS,
  AGENT_SUMMARY,
  type AgentFlagSpec,
  runAgentCli,
} from '../../agent/main.js';

/** oclif flags from the agent's own flag list, so `kurado agent --help` shows what the agent reads. */
function oclifFlags(specs: readonly AgentFlagSpec[]): Interfaces.FlagInput {
  const flags: Interfaces.FlagInput = {};
  for (const spec of specs) {
    const common = {
      description: spec.description,
      hidden: spec.hidden ?? false,
      ...(spec.env ? { env: spec.env } : {}),
      ...(spec.value ? { helpValue: spec.value } : {}),
    };
    if (spec.kind === 'boolean') flags[spec.name] = Flags.boolean(common);
    else if (spec.kind === 'integer') {
      flags[spec.name] = Flags.integer({
        ...common,
        ...(typeof spec.default === 'number' ? { default: spec.default } : {}),
      });
    } else flags[spec.name] = Flags.string(common);
  }
  return flags;
}

/**
 * `kurado agent`: a thin wrapper. The agent (agent/, also bundled alone into
 * dist/kurado-agent.mjs for hosts without Kurado) parses its own argv with runAgentCli, so this
 * command and `node kurado-agent.mjs` run the same code; oclif only renders --help.
 */
export default class Agent extends Command {
  static override summary = AGENT_SUMMARY;
  static override description = AGENT_DESCRIPTION;
  static override examples = AGENT_EXAMPLES.map((example) => example.replace('kurado', '<%= config.bin %>'));
  static override flags = oclifFlags(AGENT_FLAGS);
  static override strict = false;

  public async run(): Promise<void> {
    // Validates against the same flag list; the agent then reads the raw argv itself.
    await this.parse(Agent);
    const code = await runAgentCli(this.argv, { program: `${this.config.bin} agent` });
    if (code !== 0) this.exit(code);
  }
}
