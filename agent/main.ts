import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseBrokerAddress } from './broker.js';
import { AGENT_FLAGS, type AgentFlagSpec, agentHelp } from './cli-spec.js';
import { type AgentSettings, collectMessage, type Log, loadPlugins, runAgent } from './daemon.js';
import { LiveHostFiles } from './host-files.js';
import { PluginRunner } from './plugins.js';
import { AGENT_VERSION } from './version.js';

export type { AgentFlagSpec } from './cli-spec.js';
export { AGENT_DESCRIPTION, AGENT_EXAMPLES, AGENT_FLAGS, AGENT_SUMMARY } from './cli-spec.js';
export { AGENT_VERSION } from './version.js';

export interface AgentIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Name shown in help and errors. */
  program: string;
}

const defaultIo = (): AgentIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  program: 'kurado agent',
});

class UsageError extends Error {}

type FlagValues = Record<string, string | number | boolean | undefined>;

function readFlags(argv: string[], env: NodeJS.ProcessEnv): FlagValues {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const flag of AGENT_FLAGS)
    options[flag.name] = { type: flag.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values: FlagValues = { help: parsed.values.help === true };
  for (const flag of AGENT_FLAGS) {
    const given = parsed.values[flag.name] as string | boolean | undefined;
    const raw = given ?? (flag.env ? env[flag.env] : undefined) ?? flag.default;
    values[flag.name] =
      raw === undefined
        ? undefined
        : convert(flag, raw, given === undefined && flag.env ? flag.env : undefined);
  }
  return values;
}

function convert(
  flag: AgentFlagSpec,
  raw: string | number | boolean,
  fromEnv?: string,
): string | number | boolean {
  const where = fromEnv ? `${fromEnv} (for --${flag.name})` : `--${flag.name}`;
  if (flag.kind === 'boolean') return raw === true || raw === 'true' || raw === '1';
  if (flag.kind === 'integer') {
    const text = String(raw).trim();
    if (!/^\d+$/.test(text)) throw new UsageError(`${where}: "${text}" is not a whole number`);
    return Number(text);
  }
  if (flag.kind === 'number') {
    const text = String(raw).trim();
    if (!/^\d+(?:\.\d+)?$/.test(text)) throw new UsageError(`${where}: "${text}" is not a number`);
    return Number(text);
  }
  const text = String(raw);
  if (text.trim() === '') throw new UsageError(`${where}: empty value`);
  return text;
}

/** `console`-free log lines on stderr: time, level, message. */
function stderrLog(io: AgentIo): Log {
  return (level, message) =>
    io.stderr(`${new Date().toISOString()} kurado-agent[${process.pid}] ${level}: ${message}\n`);
}

/**
 * The whole agent command line, shared by `kurado agent` and `dist/kurado-agent.mjs`. Resolves
 * with the exit code: 0 after --dump/--help/--version or a clean SIGTERM, 2 on a usage error, 1
 * when the agent cannot start.
 */
export async function runAgentCli(argv: string[], ioOverrides: Partial<AgentIo> = {}): Promise<number> {
  const io = { ...defaultIo(), ...ioOverrides };
  let flags: FlagValues;
  try {
    flags = readFlags(argv, io.env);
  } catch (error) {
    io.stderr(`${io.program}: ${(error as Error).message}\nSee ${io.program} --help.\n`);
    return 2;
  }
  if (flags.help) {
    io.stdout(agentHelp(io.program));
    return 0;
  }
  if (flags.version) {
    io.stdout(`kurado-agent ${AGENT_VERSION}\n`);
    return 0;
  }
  const confDir = flags['conf-d'] as string | undefined;
  try {
    if (confDir !== undefined && !(existsSync(confDir) && statSync(confDir).isDirectory())) {
      throw new UsageError(`--conf-d ${confDir}: no such directory`);
    }
    if (flags.dump) {
      const now = Math.floor(Date.now() / 1000);
      const runner = new PluginRunner(loadPlugins(confDir));
      const meta = [`base.meta.agent-version\t${AGENT_VERSION}\t${now}`];
      io.stdout(await collectMessage(new LiveHostFiles(), runner, now, { meta }));
      return 0;
    }
    const mqttFlag = flags.mqtt as string | undefined;
    if (mqttFlag === undefined)
      throw new UsageError('--mqtt <broker> is required (or KURADO_AGENT_MQTT), unless --dump');
    const intervalSeconds =
      (flags['interval-seconds'] as number | undefined) ?? (flags.interval as number) * 60;
    if (!(intervalSeconds >= 0.05)) throw new UsageError('--interval must be at least 1 (minute)');
    const maxDelaySeconds = flags['max-delay'] as number;
    if (maxDelaySeconds >= intervalSeconds) {
      throw new UsageError(
        `--max-delay ${maxDelaySeconds} must be shorter than the interval (${intervalSeconds} s)`,
      );
    }
    const spoolHours = flags['spool-hours'] as number;
    if (spoolHours < 1) throw new UsageError('--spool-hours must be at least 1');
    const caFile = flags.ca as string | undefined;
    let ca: string | undefined;
    if (caFile !== undefined) {
      try {
        ca = readFileSync(caFile, 'utf8');
      } catch (error) {
        throw new UsageError(`--ca ${caFile}: ${(error as Error).message}`);
      }
    }
    let broker: AgentSettings['broker'];
    try {
      broker = parseBrokerAddress(mqttFlag);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const settings: AgentSettings = {
      broker,
      intervalSeconds,
      maxDelaySeconds,
      spoolHours,
      version: AGENT_VERSION,
      files: new LiveHostFiles(),
      log: stderrLog(io),
      stateDir:
        (flags['state-dir'] as string | undefined) ??
        io.env.STATE_DIRECTORY?.split(':')[0] ??
        '/var/lib/kurado-agent',
    };
    if (flags.self !== undefined) settings.self = flags.self as string;
    if (ca !== undefined) settings.ca = ca;
    if (confDir !== undefined) settings.confDir = confDir;
    if (flags.pidfile !== undefined) settings.pidfile = flags.pidfile as string;
    return await runAgent(settings);
  } catch (error) {
    const usage = error instanceof UsageError;
    io.stderr(`${io.program}: ${(error as Error).message}${usage ? `\nSee ${io.program} --help.` : ''}\n`);
    return usage ? 2 : 1;
  }
}
