import { parseBrokerAddress } from './broker.js';
import { type Log, type RunningAgent, startAgent } from './daemon.js';
import { LiveHostFiles } from './host-files.js';
import { AGENT_VERSION } from './version.js';

/** The part of a pino-style logger the embedded agent writes to. */
export interface EmbeddedAgentLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface LocalAgentOptions {
  /** Broker URL, e.g. the embedded broker of `kurado up`: `mqtt://127.0.0.1:1883`. */
  mqttUrl: string;
  /** Host id to publish as. */
  self: string;
  confD?: string;
  /** Spool parent directory. */
  stateDir: string;
  logger: EmbeddedAgentLogger;
  /** Minutes between ticks (default 1). */
  intervalMinutes?: number;
}

/**
 * This machine's own agent inside another Kurado process (`kurado up`): the same code as
 * `kurado agent`, without pidfile or signal handling (the host process owns those).
 */
export async function startLocalAgent(options: LocalAgentOptions): Promise<RunningAgent> {
  const log: Log = (level, message) => options.logger[level](`agent: ${message}`);
  return startAgent({
    broker: parseBrokerAddress(options.mqttUrl),
    self: options.self,
    ...(options.confD === undefined ? {} : { confDir: options.confD }),
    intervalSeconds: (options.intervalMinutes ?? 1) * 60,
    maxDelaySeconds: 0,
    stateDir: options.stateDir,
    spoolHours: 24,
    version: AGENT_VERSION,
    files: new LiveHostFiles(),
    log,
  });
}
