import { type DestinationStream, type Logger, pino } from 'pino';
import { build as prettyStream } from 'pino-pretty';

export type { Logger };

/** What `--log-format` / `KURADO_LOG_FORMAT` accept; `auto` picks one of the others. */
export const LOG_FORMAT_CHOICES = ['auto', 'json', 'text'] as const;
export type LogFormatChoice = (typeof LOG_FORMAT_CHOICES)[number];
export type LogFormat = Exclude<LogFormatChoice, 'auto'>;

/** Where the log goes, as far as choosing its format is concerned. */
export interface LogTarget {
  /** Whether stderr (where logs go) is a terminal. */
  isTerminal: boolean;
  env: NodeJS.ProcessEnv;
}

/**
 * `auto` is text for a person at a terminal and JSON for everything else: a pipe, a file, or
 * systemd, which sets JOURNAL_STREAM (stderr goes to the journal) or INVOCATION_ID (any unit,
 * even one whose output is a tty) — journald keeps the JSON fields searchable.
 */
export function resolveLogFormat(choice: LogFormatChoice, target: LogTarget): LogFormat {
  if (choice !== 'auto') return choice;
  if (target.env.JOURNAL_STREAM || target.env.INVOCATION_ID) return 'json';
  return target.isTerminal ? 'text' : 'json';
}

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  /** Tests only: where lines go instead of stderr. */
  destination?: DestinationStream;
  /** Text format only: ANSI colours (default: when stderr supports them). */
  colorize?: boolean;
}

/**
 * Logs on stderr (stdout stays free for command output such as PNGs and tables): JSON lines
 * (journald keeps them) or, for a terminal, text lines from `formatTextLine`'s fields. `--log-level`
 * or `KURADO_LOG_LEVEL` chooses the level, `--log-format` or `KURADO_LOG_FORMAT` the format.
 */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.KURADO_LOG_LEVEL ?? 'info';
  const settings = { name, level, base: { pid: process.pid } };
  if ((options.format ?? 'json') === 'json') {
    return pino(settings, options.destination ?? pino.destination(2));
  }
  return pino(
    settings,
    prettyStream({
      // process.stderr rather than fd 2: a task list on the terminal (`kurado up`) holds these
      // lines back while it draws, and writes them below itself afterwards.
      destination: options.destination ?? process.stderr,
      sync: true,
      colorize: options.colorize ?? Boolean(process.stderr.isTTY),
      translateTime: 'SYS:HH:MM:ss',
      ignore: 'pid,hostname,name',
      hideObject: true,
      messageFormat: (record, messageKey) => formatTextMessage(record, messageKey),
    }),
  );
}

/** Fields every record has; the text line shows them in its own way or not at all. */
const SHOWN_ELSEWHERE = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'err']);
/** A value longer than this is cut: a text line is for reading, the JSON format has it all. */
export const MAX_TEXT_FIELD_LENGTH = 80;
/** At most this many key=value fields per line; the rest are counted. */
export const MAX_TEXT_FIELDS = 6;

/**
 * The message part of a text line: the message, then `key=value` fields (strings with spaces
 * or quotes quoted, objects as JSON, long values cut), then the error's message.
 */
export function formatTextMessage(record: Record<string, unknown>, messageKey = 'msg'): string {
  const parts: string[] = [];
  const message = record[messageKey];
  if (message !== undefined && message !== '') parts.push(String(message));
  const keys = Object.keys(record).filter((key) => key !== messageKey && !SHOWN_ELSEWHERE.has(key));
  for (const key of keys.slice(0, MAX_TEXT_FIELDS)) parts.push(`${key}=${textValue(record[key])}`);
  if (keys.length > MAX_TEXT_FIELDS) parts.push(`(+${keys.length - MAX_TEXT_FIELDS} fields)`);
  const error = record.err as { message?: unknown } | undefined;
  if (error && typeof error === 'object' && error.message) parts.push(`err=${textValue(error.message)}`);
  return parts.join(' ');
}

function textValue(value: unknown): string {
  let text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  if (text.length > MAX_TEXT_FIELD_LENGTH) text = `${text.slice(0, MAX_TEXT_FIELD_LENGTH - 1)}…`;
  return typeof value === 'string' && (text === '' || /[\s"=]/.test(text)) ? JSON.stringify(text) : text;
}
