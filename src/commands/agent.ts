import { Command, Flags, type Interfaces } from '@oclif/core';

/**
 * What this command uses of the agent. The agent lives outside src/ (agent/, bundled on its own
 * into dist/kurado-agent.mjs for hosts without Kurado), so it is loaded at run time: the source
 * under tsx, the bundle from the compiled dist/. Either way `kurado agent` and
 * `node kurado-agent.mjs` run the same code; test/agent/agent-command.test.ts checks that
 * agent/main.ts still has this shape.
 */
export interface AgentEntry {
  AGENT_SUMMARY: string;
  AGENT_DESCRIPTION: string;
  AGENT_EXAMPLES: readonly string[];
  AGENT_FLAGS: readonly {
    name: string;
    kind: 'boolean' | 'string' | 'integer' | 'number';
    description: string;
    value?: string;
    env?: string;
    default?: number | string;
    hidden?: boolean;
  }[];
  runAgentCli(
    argv: string[],
    io?: { program?: string; stdout?: (text: string) => void; stderr?: (text: string) => void },
  ): Promise<number>;
}

async function loadAgent(): Promise<AgentEntry | Error> {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fromSource
    ? new URL('../../agent/main.ts', import.meta.url)
    : new URL('../kurado-agent.mjs', import.meta.url);
  try {
    return (await import(entry.href)) as AgentEntry;
  } catch (error) {
    return new Error(
      `cannot load the agent from ${entry.pathname} (run npm run build:agent): ${(error as Error).message}`,
    );
  }
}

const agent = await loadAgent();

function oclifFlags(entry: AgentEntry): Interfaces.FlagInput {
  const flags: Interfaces.FlagInput = {};
  for (const spec of entry.AGENT_FLAGS) {
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

export default class Agent extends Command {
  static override summary = agent instanceof Error ? 'Monitoring agent (not built)' : agent.AGENT_SUMMARY;
  static override description = agent instanceof Error ? agent.message : agent.AGENT_DESCRIPTION;
  static override examples =
    agent instanceof Error
      ? []
      : agent.AGENT_EXAMPLES.map((example) => example.replace('kurado', '<%= config.bin %>'));
  static override flags = agent instanceof Error ? {} : oclifFlags(agent);
  // The agent parses its own argv (the single-file build has no oclif); oclif only renders --help.
  static override strict = false;

  public async run(): Promise<void> {
    if (agent instanceof Error) this.error(agent.message, { exit: 1 });
    // Validates against the same flag list; the agent then reads the raw argv itself.
    await this.parse(Agent);
    const code = await agent.runAgentCli(this.argv, { program: `${this.config.bin} agent` });
    if (code !== 0) this.exit(code);
  }
}
