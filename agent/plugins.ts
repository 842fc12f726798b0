import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { normalizePluginOutput, parseMessage, pluginIdentifierProblem } from '../src/core/protocol/index.js';
import { oneLine } from './collect.js';

/** Seconds a plugin command may run when its table gives no `timeout`. */
export const DEFAULT_PLUGIN_TIMEOUT_SECONDS = 30;
/** Output beyond this is a broken plugin, not metrics; the command is killed. */
const MAX_STDOUT_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
/** After SIGTERM to a timed-out plugin's process group, how long before SIGKILL. */
const KILL_GRACE_MS = 2000;

/** One `[plugin.metrics.<name>]` table of a conf.d file. */
export interface PluginSpec {
  name: string;
  command: string;
  timeoutSeconds: number;
  /** The file that defined it (a later file overrides an earlier one of the same name). */
  file: string;
}

export interface PluginConfig {
  plugins: PluginSpec[];
  /** Files or tables that could not be used, each naming the file; reported as `base.warn.conf-d`. */
  problems: string[];
}

/**
 * The plugins one conf.d TOML text defines. Only `[plugin.metrics.<name>]` tables with a
 * `command` string count; `timeout` is seconds (default 30).
 */
export function parsePluginFile(text: string, file: string): PluginConfig {
  const plugins: PluginSpec[] = [];
  const problems: string[] = [];
  let document: Record<string, unknown>;
  try {
    document = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    return { plugins, problems: [`${file}: not valid TOML: ${oneLine((error as Error).message)}`] };
  }
  const pluginTable = document.plugin;
  if (pluginTable === undefined) return { plugins, problems };
  const metricsTable = isTable(pluginTable) ? pluginTable.metrics : undefined;
  if (!isTable(metricsTable)) {
    return { plugins, problems: [`${file}: [plugin] holds no [plugin.metrics.<name>] table`] };
  }
  for (const [name, table] of Object.entries(metricsTable)) {
    const where = `${file}: [plugin.metrics.${name}]`;
    const nameProblem = pluginIdentifierProblem(name);
    if (nameProblem || name.includes(':')) {
      problems.push(`${where}: plugin name must be [A-Za-z0-9_-]+`);
      continue;
    }
    if (name === 'base') {
      problems.push(`${where}: "base" is the agent's own metrics; choose another name`);
      continue;
    }
    if (!isTable(table) || typeof table.command !== 'string' || table.command.trim() === '') {
      problems.push(`${where}: needs command = "<shell command>"`);
      continue;
    }
    const timeout = table.timeout ?? DEFAULT_PLUGIN_TIMEOUT_SECONDS;
    if (typeof timeout !== 'number' && typeof timeout !== 'bigint') {
      problems.push(`${where}: timeout must be a number of seconds`);
      continue;
    }
    const timeoutSeconds = Number(timeout);
    if (!(timeoutSeconds > 0 && timeoutSeconds <= 3600)) {
      problems.push(`${where}: timeout ${timeoutSeconds} is outside 0 < timeout <= 3600 seconds`);
      continue;
    }
    plugins.push({ name, command: table.command, timeoutSeconds, file });
  }
  return { plugins, problems };
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/**
 * Every `*.toml` of a conf.d directory, in name order; a later file overrides a plugin of the
 * same name. Throws only when the directory itself cannot be read.
 */
export function loadPluginDir(dir: string): PluginConfig {
  const entries = readdirSync(dir)
    .filter((entry) => entry.endsWith('.toml'))
    .sort();
  const byName = new Map<string, PluginSpec>();
  const problems: string[] = [];
  for (const entry of entries) {
    const file = path.join(dir, entry);
    let text: string;
    try {
      // Anyone who can write a conf.d file runs commands as the agent's user.
      if (statSync(file).mode & 0o002) {
        problems.push(`${file}: world-writable, ignored (chmod o-w)`);
        continue;
      }
      text = readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(`${file}: ${(error as Error).message}`);
      continue;
    }
    const config = parsePluginFile(text, file);
    for (const plugin of config.plugins) byName.set(plugin.name, plugin);
    problems.push(...config.problems);
  }
  return { plugins: [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1)), problems };
}

/** What running a command gave. */
export interface CommandResult {
  stdout: string;
  /** First non-empty line of stderr, if any. */
  stderrFirstLine: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Why the agent stopped it (timeout, too much output), when it did. */
  killedBecause?: string;
}

/** Process groups of running plugin commands, so a shutting-down agent leaves none behind. */
const runningGroups = new Set<ChildProcess>();

/** SIGKILL every running plugin's process group (agent shutdown). */
export function killRunningPlugins(): void {
  for (const child of runningGroups) killGroup(child, 'SIGKILL');
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // Negative pid: the whole group the command leads (it was spawned detached), so the
    // shell's children die with it.
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Run `command` with /bin/sh in its own process group, collecting stdout. On timeout the group
 * gets SIGTERM, then SIGKILL two seconds later; the result comes when the output pipes close.
 */
export function runCommand(command: string, timeoutSeconds: number, cwd?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    runningGroups.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let killedBecause: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (reason: string) => {
      if (killedBecause !== undefined) return;
      killedBecause = reason;
      killGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => stop(`timed out after ${timeoutSeconds} s`), timeoutSeconds * 1000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_STDOUT_BYTES) stop(`printed more than ${MAX_STDOUT_BYTES} bytes`);
      else stdout.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderrBytes < MAX_STDERR_BYTES) stderr.push(chunk);
      stderrBytes += chunk.length;
    });
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      runningGroups.delete(child);
      // A background child the command left behind would keep running; end its group too.
      if (killedBecause === undefined) killGroup(child, 'SIGKILL');
      const stderrText = Buffer.concat(stderr).toString('utf8');
      const result: CommandResult = {
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderrFirstLine:
          spawnError?.message ?? stderrText.split('\n').find((line) => line.trim() !== '') ?? '',
        exitCode,
        signal,
      };
      if (killedBecause !== undefined) result.killedBecause = killedBecause;
      resolve(result);
    });
  });
}

/**
 * The wire lines one plugin run gives: its normalised output, or `<name>.warn.command` when it
 * failed (non-zero exit, killed, timed out), plus `<name>.warn.output` naming lines that were no
 * `key<TAB>value[<TAB>epoch]` or that a receiver would reject. Never throws.
 */
export function pluginLines(plugin: PluginSpec, result: CommandResult, now: number): string[] {
  const warn = (name: string, text: string) => `${plugin.name}.warn.${name}\t${oneLine(text)}\t${now}`;
  const stderrNote = result.stderrFirstLine ? `: ${result.stderrFirstLine}` : '';
  if (result.killedBecause !== undefined) {
    return [warn('command', `plugin ${plugin.name} ${result.killedBecause}; its process group was killed`)];
  }
  if (result.exitCode !== 0) {
    const how =
      result.exitCode === null ? `killed by signal ${result.signal}` : `exit_code: ${result.exitCode}`;
    return [warn('command', `failed to exec plugin:${plugin.name}: ${how}${stderrNote}`)];
  }
  const normalized = normalizePluginOutput(plugin.name, result.stdout, now);
  const problems = [...normalized.problems];
  // Check the lines as a receiver will, so a bad line becomes a warning here instead of a
  // rejection (and a log line) on the server.
  const parsed = parseMessage(normalized.lines.join('\n'), { host: 'localhost', now });
  const rejectedLines = new Set(parsed.rejected.map((rejection) => rejection.line));
  for (const rejection of parsed.rejected) problems.push(`"${rejection.text}": ${rejection.reason}`);
  const lines = normalized.lines.filter((_, index) => !rejectedLines.has(index + 1));
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    lines.push(warn('output', `${problems.length} unusable output line(s)${more}: ${problems[0]}`));
  }
  return lines;
}

/**
 * Runs the conf.d plugins of each tick. Every plugin runs in parallel with its own timeout; a
 * plugin whose previous run has not finished is skipped with a warning rather than started twice.
 */
export class PluginRunner {
  private readonly running = new Set<string>();

  constructor(private config: PluginConfig) {}

  get plugins(): readonly PluginSpec[] {
    return this.config.plugins;
  }

  /** Swap in a reloaded conf.d (SIGHUP); runs in progress finish with their old settings. */
  replace(config: PluginConfig): void {
    this.config = config;
  }

  /** The lines of every plugin, plugin by plugin in name order. */
  async run(now: number): Promise<string[]> {
    const results = await Promise.all(this.config.plugins.map((plugin) => this.runOne(plugin, now)));
    return results.flat();
  }

  /** `base.warn.conf-d` naming the conf.d files or tables that could not be used, if any. */
  configWarnings(now: number): string[] {
    const { problems } = this.config;
    return problems.length === 0 ? [] : [`base.warn.conf-d\t${oneLine(problems.join('; '))}\t${now}`];
  }

  private async runOne(plugin: PluginSpec, now: number): Promise<string[]> {
    if (this.running.has(plugin.name)) {
      return [
        `${plugin.name}.warn.command\tprevious run of plugin ${plugin.name} still running; skipped\t${now}`,
      ];
    }
    this.running.add(plugin.name);
    try {
      const result = await runCommand(plugin.command, plugin.timeoutSeconds, path.dirname(plugin.file));
      return pluginLines(plugin, result, now);
    } finally {
      this.running.delete(plugin.name);
    }
  }
}
