import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/**
 * Commands a `rrdtool -` process understands (rrdtool 1.7.2 "Valid commands" plus the remote
 * commands that keep no state). Anything else is refused before it is sent: an empty line or
 * `help` makes rrdtool print its usage and then `OK`, which would read as a success.
 * `cd` is left out on purpose: it changes the process's directory, which a respawn would lose
 * silently; give `cwd` to the constructor instead. `quit` is `close()`.
 */
export const RRDTOOL_COMMANDS: ReadonlySet<string> = new Set([
  'create',
  'update',
  'updatev',
  'graph',
  'graphv',
  'dump',
  'restore',
  'last',
  'lastupdate',
  'first',
  'info',
  'list',
  'fetch',
  'tune',
  'resize',
  'xport',
  'flushcached',
  'ls',
  'mkdir',
  'pwd',
]);

export interface RrdtoolProcessOptions {
  /** The rrdtool binary; default `rrdtool` from PATH. */
  binary?: string;
  /**
   * rrdcached address (`unix:/path` or `host:port`) given to the child as `RRDCACHED_ADDRESS`,
   * so graph/fetch/info/last read through the daemon (the same as `--daemon` on every command).
   */
  daemon?: string;
  /** Extra environment for the child (merged over `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the child; relative file names in commands resolve against it. */
  cwd?: string;
  /** Timeout of a call that gives none; default 30 s. */
  defaultTimeoutMs?: number;
}

export interface RrdtoolRunOptions {
  /** Kill and respawn the process when the command has not answered after this long. */
  timeoutMs?: number;
}

export interface RrdtoolResult {
  /** Every output line before `OK`, joined with `\n` (for graphv: every line but the image). */
  text: string;
  /** The image bytes of `graphv -` (`image = BLOB_SIZE:N` followed by N bytes). */
  image?: Buffer;
}

/** A command rrdtool answered with `ERROR: …`, or one that never got an answer. */
export type RrdtoolErrorKind =
  /** rrdtool answered `ERROR:` (a bad argument, a missing file…); `reply` holds its words. */
  | 'answered'
  /** rrdtool answered that it could not connect to rrdcached (`--daemon`); `reply` holds its words. */
  | 'daemon-unreachable'
  /** No answer within the timeout; the process was killed and the next command gets a new one. */
  | 'timeout'
  /** The process crashed or exited while the command ran. */
  | 'died'
  /** The rrdtool binary could not be started. */
  | 'not-started';

export class RrdtoolError extends Error {
  override name = 'RrdtoolError';
  constructor(
    message: string,
    readonly kind: RrdtoolErrorKind,
    readonly details: {
      /** The rrdtool command: `graphv`, `xport`, `update`… */
      operation: string;
      /** The command line as sent (cut to a readable length). */
      command: string;
      /** rrdtool's own `ERROR:` text, when it answered. */
      reply?: string;
      /** The timeout that ran out, for kind `timeout`. */
      timeoutMs?: number;
    },
  ) {
    super(message);
  }

  /** rrdtool's own `ERROR:` text, when it answered. */
  get reply(): string | undefined {
    return this.details.reply;
  }
}

/** How rrdtool words "could not reach rrdcached" in its `ERROR:` answer (rrd_client.c). */
const DAEMON_UNREACHABLE = /Unable to connect to rrdcached/;

const DEFAULT_TIMEOUT_MS = 30_000;
const STDERR_KEEP = 4096;
const COMMAND_SHOWN = 300;
const BLOB_PREFIX = 'image = BLOB_SIZE:';

/**
 * Quote one argument for rrdtool's remote-control line parser (rrd_tool.c `CreateArgs`, 1.7.2):
 * arguments split on spaces; `'` and `"` quote until the same character comes again; quoted
 * pieces glued together form one argument; there are no backslash escapes. So an argument
 * without `'` goes into single quotes, and one with both quote characters is spliced from
 * pieces that each use the quote character they do not contain.
 */
export function quoteRrdtoolArgument(argument: string): string {
  // A line break or NUL would end the command line early.
  if (/[\n\r\u0000]/.test(argument)) {
    throw new RangeError(
      `rrdtool argument ${JSON.stringify(argument.slice(0, 80))} contains a line break or NUL, which the "rrdtool -" line syntax cannot carry`,
    );
  }
  if (!argument.includes("'")) return `'${argument}'`;
  if (!argument.includes('"')) return `"${argument}"`;
  let out = '';
  let piece = '';
  let pieceQuote: "'" | '"' | undefined;
  for (const char of argument) {
    const needs: "'" | '"' | undefined = char === "'" ? '"' : char === '"' ? "'" : undefined;
    if (needs && pieceQuote && needs !== pieceQuote) {
      out += `${pieceQuote}${piece}${pieceQuote}`;
      piece = '';
      pieceQuote = undefined;
    }
    if (needs) pieceQuote = needs;
    piece += char;
  }
  const quote = pieceQuote ?? "'";
  return `${out}${quote}${piece}${quote}`;
}

/** The full line for `args` (`['graphv', '-', …]`), without the trailing LF. */
export function formatRrdtoolLine(args: readonly string[]): string {
  const command = args[0];
  if (command === undefined || !RRDTOOL_COMMANDS.has(command)) {
    throw new RangeError(
      `"${String(command)}" is not an rrdtool command this process runs (expected one of ${[...RRDTOOL_COMMANDS].join(', ')})`,
    );
  }
  if (command === 'graph' && args[1] === '-') {
    throw new RangeError(
      '"graph -" writes the image without a length, so its end cannot be found: use "graphv -"',
    );
  }
  if (command === 'restore' && args.includes('-')) {
    throw new RangeError('"restore -" would read the XML from this process\'s command stream');
  }
  return [command, ...args.slice(1).map(quoteRrdtoolArgument)].join(' ');
}

interface Job {
  args: readonly string[];
  line: string;
  timeoutMs: number;
  resolve(result: RrdtoolResult): void;
  reject(error: Error): void;
}

/**
 * One long-lived `rrdtool -` child process ("remote control" mode). Commands run one at a time
 * in call order. A crash fails the running command and the next call starts a new process; a
 * timeout kills the process for the same effect. Rendering through it avoids a process spawn
 * and library load per graph: with rrdtool 1.7.2 a small graph takes about 8 ms through a
 * persistent pipe and 24–28 ms as a new process.
 */
export class RrdtoolProcess {
  private readonly binary: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly cwd: string | undefined;
  private readonly defaultTimeoutMs: number;
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly queue: Job[] = [];
  private current: Job | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private stderrTail = '';
  // Output parsing state of the running command.
  private pending: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private image: Buffer | undefined;
  private blobRemaining = -1;
  private blobParts: Buffer[] = [];

  constructor(options: RrdtoolProcessOptions = {}) {
    this.binary = options.binary ?? 'rrdtool';
    this.env = { ...process.env, ...options.env };
    if (options.daemon !== undefined) this.env.RRDCACHED_ADDRESS = options.daemon;
    this.cwd = options.cwd;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Process id of the running child, if one runs (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Run one command (`['graphv', '-', '--start', …]`). Resolves with the output on `OK`,
   * rejects with a {@link RrdtoolError} naming the command on `ERROR:`, a crash or a timeout.
   */
  run(args: readonly string[], options: RrdtoolRunOptions = {}): Promise<RrdtoolResult> {
    if (this.closed) return Promise.reject(new Error('rrdtool process was closed'));
    let line: string;
    try {
      line = formatRrdtoolLine(args);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<RrdtoolResult>((resolve, reject) => {
      this.queue.push({
        args,
        line,
        timeoutMs: options.timeoutMs ?? this.defaultTimeoutMs,
        resolve,
        reject,
      });
      this.next();
    });
  }

  /** End the child (EOF on its input) and fail every queued command. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('rrdtool process was closed'));
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.once('close', () => {
        clearTimeout(killer);
        resolve();
      });
      if (child.exitCode !== null || child.signalCode !== null) {
        clearTimeout(killer);
        resolve();
        return;
      }
      child.stdin.end();
    });
  }

  private next(): void {
    if (this.current || this.queue.length === 0) return;
    const job = this.queue.shift() as Job;
    this.current = job;
    this.pending = Buffer.alloc(0);
    this.lines = [];
    this.image = undefined;
    this.blobRemaining = -1;
    this.blobParts = [];
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.ensureChild();
    } catch (error) {
      this.finish(undefined, error as Error);
      return;
    }
    this.timer = setTimeout(() => {
      // Kill first: the next queued command must go to a fresh process, not this stuck one.
      this.killChild(child);
      this.finish(
        undefined,
        new RrdtoolError(
          `rrdtool ${job.args[0]} did not answer within ${job.timeoutMs} ms; killed pid ${child.pid} (command: ${shorten(job.line)})`,
          'timeout',
          { operation: job.args[0] as string, command: shorten(job.line), timeoutMs: job.timeoutMs },
        ),
      );
    }, job.timeoutMs);
    child.stdin.write(`${job.line}\n`);
  }

  private ensureChild(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    this.stderrTail = '';
    const child = spawn(this.binary, ['-'], {
      env: this.env,
      cwd: this.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.child === child) this.onStdout(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_KEEP);
    });
    // EPIPE when the child died between two commands: the exit handler reports it.
    child.stdin.on('error', () => {});
    child.on('error', (error) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.failCurrent(
        `cannot run "${this.binary} -"${this.cwd ? ` in ${this.cwd}` : ''}: ${error.message}`,
        'not-started',
      );
    });
    // 'close', not 'exit': output written just before a crash is still read first.
    child.on('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const stderr = this.stderrTail.trim();
      this.failCurrent(
        `rrdtool - (pid ${child.pid}) ${how}${stderr ? `; stderr: ${stderr.slice(-500)}` : ''}`,
      );
    });
    return child;
  }

  private killChild(child: ChildProcessWithoutNullStreams): void {
    if (this.child === child) this.child = undefined;
    child.kill('SIGKILL');
  }

  private failCurrent(reason: string, kind: 'died' | 'not-started' = 'died'): void {
    const job = this.current;
    if (!job) return;
    this.finish(
      undefined,
      new RrdtoolError(`${reason} while running ${job.args[0]} (command: ${shorten(job.line)})`, kind, {
        operation: job.args[0] as string,
        command: shorten(job.line),
      }),
    );
  }

  private finish(result: RrdtoolResult | undefined, error?: Error): void {
    const job = this.current;
    if (!job) return;
    clearTimeout(this.timer);
    this.current = undefined;
    if (error) job.reject(error);
    else job.resolve(result as RrdtoolResult);
    this.next();
  }

  private onStdout(chunk: Buffer): void {
    if (!this.current) return; // output without a command: nothing can own it
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0 && this.current) {
      if (this.blobRemaining > 0) {
        const take = Math.min(this.blobRemaining, data.length);
        this.blobParts.push(data.subarray(0, take));
        this.blobRemaining -= take;
        data = data.subarray(take);
        if (this.blobRemaining === 0) {
          this.image = Buffer.concat(this.blobParts);
          this.blobParts = [];
          this.blobRemaining = -1;
        }
        continue;
      }
      const newline = data.indexOf(10);
      if (newline < 0) {
        this.pending = Buffer.from(data);
        return;
      }
      const line = data.toString('utf8', 0, newline);
      data = data.subarray(newline + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const job = this.current as Job;
    if (line.startsWith('OK u:')) {
      const result: RrdtoolResult = { text: this.lines.join('\n') };
      if (this.image) result.image = this.image;
      this.finish(result);
      return;
    }
    if (line.startsWith('ERROR: ')) {
      const message = line.slice('ERROR: '.length);
      this.finish(
        undefined,
        new RrdtoolError(
          `rrdtool ${job.args[0]} failed: ${message} (command: ${shorten(job.line)})`,
          DAEMON_UNREACHABLE.test(message) ? 'daemon-unreachable' : 'answered',
          { operation: job.args[0] as string, command: shorten(job.line), reply: message },
        ),
      );
      return;
    }
    if (line.startsWith(BLOB_PREFIX)) {
      const size = Number(line.slice(BLOB_PREFIX.length));
      if (Number.isInteger(size) && size >= 0) {
        this.blobRemaining = size;
        if (size === 0) {
          this.image = Buffer.alloc(0);
          this.blobRemaining = -1;
        }
        return;
      }
    }
    this.lines.push(line);
  }
}

function shorten(line: string): string {
  return line.length <= COMMAND_SHOWN ? line : `${line.slice(0, COMMAND_SHOWN)}… (${line.length} chars)`;
}
