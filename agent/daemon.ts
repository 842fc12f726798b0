import { hostname } from 'node:os';
import path from 'node:path';
import { hostProblem, topicForHost } from '../src/core/protocol/index.js';
import { type BrokerAddress, BrokerConnection } from './broker.js';
import { collectBase } from './collect.js';
import type { HostFiles } from './host-files.js';
import { acquirePidfile } from './pidfile.js';
import { killRunningPlugins, loadPluginDir, type PluginConfig, PluginRunner } from './plugins.js';
import { nextTickMs, randomDelaySeconds } from './schedule.js';
import { Spool } from './spool.js';

export type LogLevel = 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, message: string) => void;

export interface AgentSettings {
  /** Host id for the topic; undefined = the local address of the broker connection. */
  self?: string;
  broker: BrokerAddress;
  ca?: string;
  confDir?: string;
  intervalSeconds: number;
  maxDelaySeconds: number;
  pidfile?: string;
  /** Spool directory parent; undefined keeps unsent ticks in memory only. */
  stateDir?: string;
  spoolHours: number;
  version: string;
  files: HostFiles;
  log: Log;
}

/** How long a publish may wait for its PUBACK before the connection is considered dead. */
const PUBACK_TIMEOUT_MS = 30_000;

/** Read conf.d, or an empty plugin set when no --conf-d was given. */
export function loadPlugins(confDir: string | undefined): PluginConfig {
  return confDir === undefined ? { plugins: [], problems: [] } : loadPluginDir(confDir);
}

/**
 * One whole message: base metrics, base meta, base warnings (collectors, conf.d, spool), then
 * every plugin's lines. Each line `key<TAB>value<TAB>epoch`, ending in a newline.
 */
export async function collectMessage(
  files: HostFiles,
  runner: PluginRunner,
  now: number,
  extras: { meta?: string[]; warnings?: string[] } = {},
): Promise<string> {
  const base = collectBase(files, now);
  const pluginLines = await runner.run(now);
  const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const meta = [...base.meta, ...(extras.meta ?? [])].sort(byKey);
  const warnings = [...base.warnings, ...runner.configWarnings(now), ...(extras.warnings ?? [])].sort(byKey);
  return `${[...base.metrics, ...meta, ...warnings, ...pluginLines].join('\n')}\n`;
}

/** A started agent: ticking, spooling and publishing until stopped. */
export interface RunningAgent {
  /** Re-read conf.d (what SIGHUP does); keeps the old plugins when the directory is unreadable. */
  reload(): void;
  /** Stop ticking, kill running plugins, disconnect; unsent ticks stay in the spool. */
  stop(reason?: string): Promise<void>;
  /** Ticks waiting in the spool. */
  readonly unsent: number;
}

/**
 * Start the agent: tick on the interval boundary (+ a fixed random delay), spool each tick,
 * publish the spool in order whenever the broker is there.
 */
export function startAgent(settings: AgentSettings): RunningAgent {
  const { log } = settings;
  if (settings.self !== undefined) {
    const problem = hostProblem(settings.self);
    if (problem) throw new Error(`--self "${settings.self}": ${problem}`);
  }
  const runner = new PluginRunner(loadPlugins(settings.confDir));
  const spoolTicks = Math.ceil((settings.spoolHours * 3600) / settings.intervalSeconds);
  const opened = Spool.open(settings.stateDir && path.join(settings.stateDir, 'spool'), spoolTicks);
  const spool = opened.spool;
  if (opened.problem) log('warn', opened.problem);
  if (spool.size > 0) log('info', `${spool.size} unsent tick(s) in the spool from an earlier run`);
  const connection = new BrokerConnection({
    address: settings.broker,
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    clientId: `kurado-agent-${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`.slice(
      0,
      64,
    ),
    keepaliveSeconds: 60,
    maxBackoffMs: Math.max(1000, Math.min(60_000, settings.intervalSeconds * 1000)),
    log,
  });
  const delaySeconds = randomDelaySeconds(settings.maxDelaySeconds);
  log(
    'info',
    `kurado-agent ${settings.version} publishing to ${settings.broker.display} every ${settings.intervalSeconds} s` +
      ` (+${delaySeconds} s), ${runner.plugins.length} plugin(s)`,
  );

  let stopping = false;
  let draining = false;
  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (!stopping && connection.connected) {
        const entry = spool.oldest();
        if (!entry) break;
        const self = entry.self ?? settings.self ?? connection.localAddress;
        if (self === undefined) break;
        await connection.publish(topicForHost(self), entry.payload, PUBACK_TIMEOUT_MS);
        spool.remove(entry.id);
      }
    } catch (error) {
      log('warn', `publish failed, ${spool.size} tick(s) kept for later: ${(error as Error).message}`);
    } finally {
      draining = false;
    }
  };
  connection.on('connect', () => void drain());
  connection.start();

  // A spool that fell back to memory is worth a warning on every tick: this host loses its
  // unsent ticks on a restart.
  const spoolWarnings = (now: number): string[] => {
    const dropped = spool.takeDroppedWarning(now);
    if (!opened.problem) return dropped;
    const text = [opened.problem, ...dropped.map((line) => line.split('\t')[1])].join('; ');
    return [`base.warn.spool\t${text}\t${now}`];
  };

  // Ticks are collected concurrently (a slow plugin must not delay the next tick) but spooled
  // in tick order through this chain.
  let spoolChain: Promise<void> = Promise.resolve();
  const tick = (now: number) => {
    const message = collectMessage(settings.files, runner, now, {
      meta: [`base.meta.agent-version\t${settings.version}\t${now}`],
      warnings: spoolWarnings(now),
    });
    spoolChain = spoolChain.then(async () => {
      let payload: string;
      try {
        payload = await message;
      } catch (error) {
        log('error', `tick ${now}: collection failed: ${(error as Error).message}`);
        return;
      }
      if (stopping) return;
      const self = settings.self ?? connection.localAddress;
      try {
        spool.add(now, self, payload);
      } catch (error) {
        log('error', `tick ${now}: could not spool: ${(error as Error).message}`);
        return;
      }
      await drain();
    });
  };

  let timer: NodeJS.Timeout | undefined;
  let lastTargetMs: number | undefined;
  const scheduleNext = () => {
    // A timer may fire a moment before its wall-clock target: count from that target then, so it
    // is not ticked twice. But a clock stepped back by NTP must not hold the next tick back by
    // the size of the step, so beyond one interval behind, count from the clock.
    const nowMs = Date.now();
    const from =
      lastTargetMs !== undefined &&
      nowMs < lastTargetMs &&
      lastTargetMs - nowMs < settings.intervalSeconds * 1000
        ? lastTargetMs
        : nowMs;
    const target = nextTickMs(from, settings.intervalSeconds, delaySeconds);
    timer = setTimeout(() => {
      if (stopping) return;
      lastTargetMs = target;
      tick(Math.floor(target / 1000));
      scheduleNext();
    }, target - nowMs);
  };
  scheduleNext();

  return {
    get unsent() {
      return spool.size;
    },
    reload() {
      if (settings.confDir === undefined) return;
      try {
        const config = loadPluginDir(settings.confDir);
        runner.replace(config);
        log('info', `reloaded ${settings.confDir}: ${config.plugins.length} plugin(s)`);
      } catch (error) {
        log('error', `kept the old plugins, ${settings.confDir}: ${(error as Error).message}`);
      }
    },
    async stop(reason = 'stop') {
      if (stopping) return;
      stopping = true;
      log('info', `${reason}: stopping; ${spool.size} unsent tick(s) stay in the spool`);
      if (timer) clearTimeout(timer);
      killRunningPlugins();
      await connection.close();
    },
  };
}

/**
 * The agent as a process: pidfile, then start; SIGHUP reloads conf.d; SIGTERM or SIGINT stop it
 * cleanly. Resolves with the exit code once stopped.
 */
export async function runAgent(settings: AgentSettings): Promise<number> {
  const releasePidfile = settings.pidfile ? acquirePidfile(settings.pidfile) : () => {};
  try {
    const agent = startAgent(settings);
    await new Promise<void>((resolve) => {
      const reload = () => agent.reload();
      const stop = (signal: NodeJS.Signals) => {
        process.off('SIGHUP', reload);
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        void agent.stop(signal).then(resolve);
      };
      process.on('SIGHUP', reload);
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    return 0;
  } finally {
    releasePidfile();
  }
}
