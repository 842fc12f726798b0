import { connect, type Socket } from 'node:net';

/** rrdcached's default TCP port (man rrdcached). */
export const RRDCACHED_DEFAULT_PORT = 42217;
/**
 * Longest command line rrdcached 1.7.2 accepts, LF included (measured: 8,192 bytes pass, one
 * more and the daemon resets the connection). Callers split longer UPDATEs.
 */
export const RRDCACHED_MAX_LINE = 8192;

export type RrdcachedEndpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/**
 * Parse an rrdcached address as rrdtool does: `unix:/path`, `/path`, `host:port`, `[v6]:port`
 * or a bare `host` (port 42217).
 */
export function parseRrdcachedAddress(address: string): RrdcachedEndpoint {
  const text = address.trim();
  if (text.startsWith('unix:') || text.startsWith('/')) {
    const socketPath = text.startsWith('unix:') ? text.slice('unix:'.length) : text;
    if (!socketPath.startsWith('/')) {
      throw new RangeError(`rrdcached address "${address}": a unix socket path must be absolute`);
    }
    return { kind: 'unix', path: socketPath };
  }
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const plain = /^([^:\s]+)(?::(\d+))?$/.exec(text);
  const match = bracketed ?? plain;
  if (!match) {
    throw new RangeError(
      `rrdcached address "${address}" is not unix:/path, /path, host, host:port or [ipv6]:port`,
    );
  }
  const port = match[2] === undefined ? RRDCACHED_DEFAULT_PORT : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`rrdcached address "${address}": port ${match[2]} is out of range`);
  }
  return { kind: 'tcp', host: match[1] as string, port };
}

/** `unix:/path` or `host:port`, the form used in every message. */
export function formatRrdcachedEndpoint(endpoint: RrdcachedEndpoint): string {
  if (endpoint.kind === 'unix') return `unix:${endpoint.path}`;
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/**
 * A path as one rrdcached field: the daemon splits on spaces and takes `\` as an escape, so
 * both are escaped. Paths under data_dir are escaped already and come back unchanged.
 */
export function quoteRrdcachedPath(filePath: string): string {
  if (!filePath.includes(' ') && !filePath.includes('\\')) return filePath;
  return filePath.replace(/[\\ ]/g, (char) => `\\${char}`);
}

export type RrdcachedErrorKind =
  /** No connection could be made within the outage bound. */
  | 'unreachable'
  /** The connection broke before the answer came; the command may or may not have run. */
  | 'connection-lost'
  /** No answer within the reply timeout; the connection was dropped. */
  | 'timeout'
  /** rrdcached answered with a negative status. */
  | 'reply';

export class RrdcachedError extends Error {
  override name = 'RrdcachedError';
  constructor(
    message: string,
    readonly kind: RrdcachedErrorKind,
    readonly address: string,
  ) {
    super(message);
  }
}

/** One failed command inside a BATCH: `index` is 0-based into the commands given. */
export interface RrdcachedBatchError {
  index: number;
  message: string;
}

export interface RrdcachedFetchResult {
  start: number;
  end: number;
  step: number;
  dsNames: string[];
  /** One row per step; `null` where rrdcached printed `-nan` (unknown). */
  rows: { timestamp: number; values: (number | null)[] }[];
}

export interface RrdcachedClientOptions {
  /**
   * How long a call waits for an unreachable or restarting daemon before it rejects with an
   * "unreachable" error; reconnect attempts back off from 25 ms to 1 s meanwhile. Default 10 s.
   */
  unreachableAfterMs?: number;
  /** Reply timeout of one command (BATCH: of the whole batch). Default 120 s. */
  replyTimeoutMs?: number;
}

interface Reply {
  status: number;
  message: string;
  lines: string[];
}

interface Pending {
  command: string;
  /** Replies still to read: 2 for BATCH (the "Go ahead" and the result), else 1. */
  replies: Reply[];
  expected: number;
  resolve(replies: Reply[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const DEFAULT_UNREACHABLE_AFTER_MS = 10_000;
const DEFAULT_REPLY_TIMEOUT_MS = 120_000;
const ILLEGAL_TIME =
  /illegal attempt to update using time (\d+(?:\.\d+)?) when last update time is (\d+(?:\.\d+)?)/;

/**
 * Parse the refusal of an old timestamp (rrdcached's answer, or rrdtool's with the file name
 * in front): the refused time and the file's last update. Undefined for any other message.
 * Only error lines are parsed, never successes.
 */
export function parseIllegalUpdateTime(message: string): { refused: number; last: number } | undefined {
  const match = ILLEGAL_TIME.exec(message);
  return match ? { refused: Number(match[1]), last: Number(match[2]) } : undefined;
}

/**
 * Refuse a command rrdcached would choke on: a line break or a lone `.` breaks the framing,
 * and a line over the daemon's limit makes it drop the connection.
 */
function checkLine(line: string): void {
  if (line.includes('\n') || line === '.') {
    throw new RangeError(`rrdcached command ${JSON.stringify(line.slice(0, 80))} would break the framing`);
  }
  // Characters never outnumber bytes; count bytes only when it could matter.
  if (line.length >= RRDCACHED_MAX_LINE / 3 && Buffer.byteLength(line) >= RRDCACHED_MAX_LINE) {
    throw new RangeError(
      `rrdcached command "${line.slice(0, 60)}…" is ${Buffer.byteLength(line)} bytes; rrdcached drops lines of ${RRDCACHED_MAX_LINE} bytes or more`,
    );
  }
}

/**
 * A client for rrdcached's text protocol (one command per line; the reply's first line is
 * `<status> <message>`, negative for an error, else the number of lines that follow) over a unix
 * socket or TCP.
 * Commands are pipelined on one connection and answered in order. When the daemon goes away
 * the next call reconnects (with backoff, up to `unreachableAfterMs`); calls in flight when the
 * connection breaks reject with kind `connection-lost` and are not retried here, because an
 * UPDATE may have been applied: the caller resends (a duplicate timestamp is benign).
 */
export class RrdcachedClient {
  readonly address: string;
  private readonly endpoint: RrdcachedEndpoint;
  private readonly unreachableAfterMs: number;
  private readonly replyTimeoutMs: number;
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending: Pending[] = [];
  private partial = '';
  private closed = false;
  private connections = 0;

  constructor(address: string, options: RrdcachedClientOptions = {}) {
    this.endpoint = parseRrdcachedAddress(address);
    this.address = formatRrdcachedEndpoint(this.endpoint);
    this.unreachableAfterMs = options.unreachableAfterMs ?? DEFAULT_UNREACHABLE_AFTER_MS;
    this.replyTimeoutMs = options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
  }

  /**
   * How many connections were opened so far. A writer compares it across calls to notice that
   * the daemon was restarted in between (and may have lost its unsynced journal tail).
   */
  get connectionCount(): number {
    return this.connections;
  }

  /** Whether a connection is open now (false after the daemon went away, until the next call). */
  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  async ping(): Promise<void> {
    await this.request('PING');
  }

  /**
   * Send many commands in one BATCH; resolves with the commands rrdcached refused (0-based
   * index and message), an empty array when all succeeded.
   */
  async batch(
    commands: readonly string[],
    options: { timeoutMs?: number } = {},
  ): Promise<RrdcachedBatchError[]> {
    if (commands.length === 0) return [];
    for (const command of commands) checkLine(command);
    const text = `BATCH\n${commands.join('\n')}\n.\n`;
    const replies = await this.send(`BATCH (${commands.length} commands)`, text, 2, options.timeoutMs);
    const [goAhead, result] = replies as [Reply, Reply | undefined];
    if (goAhead.status < 0 || !result) {
      throw new RrdcachedError(
        `rrdcached at ${this.address} refused BATCH: ${goAhead.message}`,
        'reply',
        this.address,
      );
    }
    return result.lines.map((line) => {
      const space = line.indexOf(' ');
      return { index: Number(line.slice(0, space)) - 1, message: line.slice(space + 1) };
    });
  }

  /**
   * `CREATE <path> -O <args…>`: resolves `created`, or `exists` when the file is there already
   * (never overwritten).
   */
  async create(filePath: string, args: readonly string[]): Promise<'created' | 'exists'> {
    const line = `CREATE ${quoteRrdcachedPath(filePath)} -O ${args.join(' ')}`;
    checkLine(line);
    // With -O a resent CREATE cannot overwrite: at worst it answers "File exists".
    const reply = await this.sendRetrying(`CREATE ${filePath}`, `${line}\n`, 1, true).then(
      (replies) => replies[0] as Reply,
    );
    if (reply.status >= 0) return 'created';
    if (reply.message.endsWith('File exists')) return 'exists';
    throw new RrdcachedError(
      `rrdcached at ${this.address} could not create ${filePath}: ${reply.message}`,
      'reply',
      this.address,
    );
  }

  /** One UPDATE (`<epoch>:<value>` strings, absolute epochs only), request/reply. */
  async update(filePath: string, values: readonly string[]): Promise<void> {
    await this.request(`UPDATE ${quoteRrdcachedPath(filePath)} ${values.join(' ')}`, filePath);
  }

  /** Write the file's queued values to disk; resolves after the write. */
  async flush(filePath: string): Promise<void> {
    await this.request(`FLUSH ${quoteRrdcachedPath(filePath)}`, filePath);
  }

  /** Start writing every queued value; returns at once (poll `stats().QueueLength`). */
  async flushAll(): Promise<void> {
    await this.request('FLUSHALL');
  }

  /** `STATS`: QueueLength, UpdatesReceived, … JournalBytes as numbers. */
  async stats(): Promise<Record<string, number>> {
    const reply = await this.request('STATS');
    const stats: Record<string, number> = {};
    for (const line of reply.lines) {
      const colon = line.indexOf(':');
      if (colon > 0) stats[line.slice(0, colon)] = Number(line.slice(colon + 1));
    }
    return stats;
  }

  /** `FETCH` (flushes the file first): rows between start and end, `-nan` as null. */
  async fetch(filePath: string, cf: string, start: number, end: number): Promise<RrdcachedFetchResult> {
    const reply = await this.request(
      `FETCH ${quoteRrdcachedPath(filePath)} ${cf} ${Math.floor(start)} ${Math.floor(end)}`,
      filePath,
    );
    const result: RrdcachedFetchResult = { start: 0, end: 0, step: 0, dsNames: [], rows: [] };
    for (const line of reply.lines) {
      const colon = line.indexOf(': ');
      if (colon < 0) continue;
      const key = line.slice(0, colon);
      const rest = line.slice(colon + 2);
      if (/^\d+$/.test(key)) {
        result.rows.push({
          timestamp: Number(key),
          values: rest.split(' ').map((field) => {
            const value = Number(field);
            return Number.isNaN(value) ? null : value;
          }),
        });
      } else if (key === 'Start') result.start = Number(rest);
      else if (key === 'End') result.end = Number(rest);
      else if (key === 'Step') result.step = Number(rest);
      else if (key === 'DSName') result.dsNames = rest.split(' ');
    }
    return result;
  }

  /**
   * `LIST RECURSIVE <directory>`: the RRD files under a directory relative to the daemon's `-b`,
   * as paths relative to that directory; none when the directory does not exist.
   */
  async list(directory: string): Promise<string[]> {
    try {
      return (await this.request(`LIST RECURSIVE ${quoteRrdcachedPath(directory)}`, directory)).lines;
    } catch (error) {
      if (
        error instanceof RrdcachedError &&
        error.kind === 'reply' &&
        error.message.endsWith('No such file or directory')
      )
        return [];
      throw error;
    }
  }

  /** `LAST`: the file's last update as seen by the daemon (epoch seconds). */
  async last(filePath: string): Promise<number> {
    const reply = await this.request(`LAST ${quoteRrdcachedPath(filePath)}`, filePath);
    return Number(reply.message);
  }

  /** `INFO` (no flush first): `step` → 60, `ds[n].type` → 'GAUGE', unknown floats → null. */
  async info(filePath: string): Promise<Record<string, number | string | null>> {
    const reply = await this.request(`INFO ${quoteRrdcachedPath(filePath)}`, filePath);
    const info: Record<string, number | string | null> = {};
    for (const line of reply.lines) {
      const first = line.indexOf(' ');
      const second = line.indexOf(' ', first + 1);
      if (first < 0 || second < 0) continue;
      const key = line.slice(0, first);
      const type = line.slice(first + 1, second);
      const value = line.slice(second + 1);
      if (type === '2') info[key] = value;
      else {
        const number = Number(value);
        info[key] = Number.isNaN(number) ? null : number;
      }
    }
    return info;
  }

  /** Close the connection; calls in flight reject. */
  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket;
    this.socket = undefined;
    this.failAll(`client for rrdcached at ${this.address} was closed`, 'connection-lost');
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    }
  }

  /** One command with a single reply; a negative status rejects naming the command. */
  private async request(line: string, subject?: string): Promise<Reply> {
    checkLine(line);
    // Only UPDATE changes state in a way a resend would turn into an error ("illegal attempt");
    // every other command here can be sent again when the connection broke under it.
    const [reply] = (await this.sendRetrying(line, `${line}\n`, 1, !line.startsWith('UPDATE '))) as [Reply];
    if (reply.status < 0) {
      throw new RrdcachedError(
        `rrdcached at ${this.address}: ${line.split(' ', 1)[0]}${subject ? ` ${subject}` : ''} failed: ${reply.message}`,
        'reply',
        this.address,
      );
    }
    return reply;
  }

  /**
   * `send`, resent up to twice when the connection breaks before the answer and the command is
   * safe to repeat: a call made just after the daemon died (before the socket noticed) then
   * waits for the daemon to come back like any other call.
   */
  private async sendRetrying(
    command: string,
    text: string,
    expected: number,
    repeatable: boolean,
  ): Promise<Reply[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send(command, text, expected);
      } catch (error) {
        const lost = error instanceof RrdcachedError && error.kind === 'connection-lost' && !this.closed;
        if (!repeatable || !lost || attempt >= 3) throw error;
      }
    }
  }

  private async send(command: string, text: string, expected: number, timeoutMs?: number): Promise<Reply[]> {
    if (this.closed) {
      throw new RrdcachedError(
        `client for rrdcached at ${this.address} was closed`,
        'connection-lost',
        this.address,
      );
    }
    const socket = this.socket ?? (await this.connect());
    return new Promise<Reply[]>((resolve, reject) => {
      const limit = timeoutMs ?? this.replyTimeoutMs;
      const entry: Pending = {
        command,
        replies: [],
        expected,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.drop(
            socket,
            `rrdcached at ${this.address} did not answer ${command} within ${limit} ms`,
            'timeout',
          );
        }, limit),
      };
      this.pending.push(entry);
      socket.write(text);
    });
  }

  private connect(): Promise<Socket> {
    this.connecting ??= this.connectWithRetry().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectWithRetry(): Promise<Socket> {
    const deadline = Date.now() + this.unreachableAfterMs;
    let delay = 25;
    for (;;) {
      try {
        const socket = await this.openSocket();
        if (this.closed) {
          socket.destroy();
          throw new RrdcachedError(
            `client for rrdcached at ${this.address} was closed`,
            'connection-lost',
            this.address,
          );
        }
        this.socket = socket;
        this.connections++;
        return socket;
      } catch (error) {
        if (error instanceof RrdcachedError) throw error;
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          throw new RrdcachedError(
            `rrdcached at ${this.address} unreachable: ${reason} (retried for ${this.unreachableAfterMs} ms)`,
            'unreachable',
            this.address,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, remaining)));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  private openSocket(): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const socket =
        this.endpoint.kind === 'unix'
          ? connect(this.endpoint.path)
          : connect({ host: this.endpoint.host, port: this.endpoint.port });
      const onError = (error: Error) => {
        socket.destroy();
        reject(error);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        if (this.endpoint.kind === 'tcp') socket.setNoDelay(true);
        socket.setEncoding('utf8');
        socket.on('data', (text: string) => this.onData(socket, text));
        let lastError = '';
        socket.on('error', (error: NodeJS.ErrnoException) => {
          // 'close' follows and reports; the error's code goes into the message there.
          lastError = `: ${error.code ?? error.message}`;
        });
        socket.once('close', () => {
          this.drop(
            socket,
            `connection to rrdcached at ${this.address} closed${lastError}`,
            'connection-lost',
          );
        });
        this.partial = '';
        resolve(socket);
      });
    });
  }

  /** Forget a broken or confused connection and fail everything that waited on it. */
  private drop(socket: Socket, reason: string, kind: RrdcachedErrorKind): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    socket.destroy();
    this.failAll(reason, kind);
  }

  private failAll(reason: string, kind: RrdcachedErrorKind): void {
    for (const entry of this.pending.splice(0)) {
      clearTimeout(entry.timer);
      const detail =
        kind === 'timeout' ? reason : `${reason} while waiting for the answer to ${entry.command}`;
      entry.reject(new RrdcachedError(detail, kind, this.address));
    }
    this.partial = '';
    this.reply = undefined;
    this.remaining = 0;
  }

  private onData(socket: Socket, text: string): void {
    if (this.socket !== socket) return;
    let data = this.partial + text;
    let start = 0;
    for (;;) {
      const newline = data.indexOf('\n', start);
      if (newline < 0) break;
      this.onLine(socket, data.slice(start, newline));
      if (this.socket !== socket) return;
      start = newline + 1;
    }
    data = data.slice(start);
    this.partial = data;
  }

  // Reply being read: status line seen, `remaining` lines still to come.
  private reply: Reply | undefined;
  private remaining = 0;

  private onLine(socket: Socket, line: string): void {
    const entry = this.pending[0];
    if (!entry) {
      this.drop(
        socket,
        `rrdcached at ${this.address} sent an unexpected line "${line.slice(0, 100)}"`,
        'connection-lost',
      );
      return;
    }
    if (this.reply) {
      this.reply.lines.push(line);
      this.remaining--;
    } else {
      const space = line.indexOf(' ');
      const status = Number(space < 0 ? line : line.slice(0, space));
      if (!Number.isInteger(status)) {
        this.drop(
          socket,
          `rrdcached at ${this.address} answered ${entry.command} with "${line.slice(0, 100)}", not "<status> <message>"`,
          'connection-lost',
        );
        return;
      }
      this.reply = { status, message: space < 0 ? '' : line.slice(space + 1), lines: [] };
      this.remaining = Math.max(status, 0);
    }
    if (this.remaining > 0) return;
    const reply = this.reply;
    entry.replies.push(reply);
    this.reply = undefined;
    // A refused BATCH gets no second reply, and the daemon now runs the batch's lines one by
    // one with answers nobody expects: answer the caller, then drop the connection.
    const refusedBatch = entry.expected === 2 && entry.replies.length === 1 && reply.status < 0;
    if (entry.replies.length < entry.expected && !refusedBatch) return;
    this.pending.shift();
    clearTimeout(entry.timer);
    entry.resolve(entry.replies);
    if (refusedBatch) this.drop(socket, `rrdcached at ${this.address} refused BATCH`, 'connection-lost');
  }
}
