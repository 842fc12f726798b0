import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (journald keeps them); `KURADO_LOG_LEVEL` or `--log-level`
 * chooses the level. stdout stays free for command output such as PNGs and tables.
 */
export function createLogger(name: string, level = process.env.KURADO_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}
