import { request } from 'node:http';
import { isIP, Socket } from 'node:net';
import { excerpt } from './text.js';
import type { FetchContext, PullTarget } from './types.js';
import { FetchError } from './types.js';

/** Largest reply a fetcher reads; a status page is a few KB, so more is a wrong target. */
export const MAX_REPLY_BYTES = 1024 * 1024;

/** `host:port`, with brackets around an IPv6 address, for messages. */
export function endpoint(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The Host header for an address: an IPv6 address goes in brackets (RFC 7230). */
export function hostHeader(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/** The port in argument `index` (`nginx:8080` → 8080), or `fallback` when it is absent or empty. */
export function portArg(target: PullTarget, index: number, fallback: number): number {
  const raw = target.args[index];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535)
    throw new FetchError(`${target.plugin}: "${raw}" is not a TCP port (1-65535)`);
  return port;
}

/** A string setting, or undefined when unset; numbers and booleans are turned into text. */
export function stringSetting(target: PullTarget, key: string): string | undefined {
  const value = target.settings[key];
  return value === undefined ? undefined : String(value);
}

/**
 * A FetchError for a socket-level failure, naming the endpoint and what a human can check.
 * `err` may be anything thrown; its message is never copied when it could hold a secret.
 */
export function networkError(err: unknown, where: string, context: FetchContext): FetchError {
  if (err instanceof FetchError) return err;
  if (context.signal.aborted) return timeoutError(where, context);
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return new FetchError(`connection refused by ${where} (nothing listens on that port?)`);
    case 'ECONNRESET':
    case 'EPIPE':
      return new FetchError(`connection reset by ${where}`);
    case 'ETIMEDOUT':
      return new FetchError(`connecting to ${where} timed out`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new FetchError(`${where} is unreachable (${code})`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new FetchError(`cannot resolve the address of ${where} (${code})`);
    default: {
      const message = err instanceof Error ? err.message : String(err);
      return new FetchError(`${where}: ${message}`);
    }
  }
}

export function timeoutError(where: string, context: FetchContext): FetchError {
  return new FetchError(`no answer from ${where} within ${context.timeoutMs} ms`);
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * GET `http://address:port/path` with a Host header of `hostHeader`, reading at most
 * MAX_REPLY_BYTES; gives up when `context.signal` aborts. Any status is returned; the caller
 * decides what is an error.
 */
export function httpGet(
  address: string,
  port: number,
  path: string,
  hostHeader: string,
  context: FetchContext,
): Promise<HttpReply> {
  const where = endpoint(address, port);
  return new Promise((resolve, reject) => {
    if (context.signal.aborted) {
      reject(timeoutError(where, context));
      return;
    }
    const req = request({
      host: address,
      port,
      path,
      method: 'GET',
      headers: { Host: hostHeader, 'User-Agent': 'kurado-pull', Connection: 'close' },
      agent: false,
      signal: context.signal,
    });
    req.on('error', (err) => reject(networkError(err, where, context)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_REPLY_BYTES) {
          req.destroy();
          reject(new FetchError(`reply from http://${where}${path} is larger than ${MAX_REPLY_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => reject(networkError(err, where, context)));
      // An abort or a reset mid-body may end the reply with neither 'end' nor 'error'.
      res.on('close', () => {
        if (!res.complete)
          reject(networkError(new Error('connection closed in the middle of the reply'), where, context));
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.end();
  });
}

/** An HTTP status page GET that fails with a FetchError unless the status is 200. */
export async function httpStatusPage(
  address: string,
  port: number,
  path: string,
  hostHeader: string,
  context: FetchContext,
): Promise<HttpReply> {
  const reply = await httpGet(address, port, path, hostHeader, context);
  if (reply.status !== 200)
    throw new FetchError(
      `HTTP ${reply.status} from http://${endpoint(address, port)}${path} (Host: ${hostHeader}); is the status page enabled at that path?`,
    );
  return reply;
}

/**
 * Open a TCP connection, write each request and read until `done(reply)` says the answer is
 * complete; then the next request. Returns the replies. Gives up when the signal aborts.
 */
export function tcpExchange(
  address: string,
  port: number,
  requests: string[],
  done: (reply: string) => boolean,
  context: FetchContext,
): Promise<string[]> {
  const where = endpoint(address, port);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const replies: string[] = [];
    let buffer = '';
    let settled = false;
    const finish = (err?: FetchError) => {
      if (settled) return;
      settled = true;
      context.signal.removeEventListener('abort', abort);
      socket.destroy();
      if (err) reject(err);
      else resolve(replies);
    };
    const abort = () => finish(timeoutError(where, context));
    if (context.signal.aborted) {
      abort();
      return;
    }
    context.signal.addEventListener('abort', abort, { once: true });
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('error', (err) => finish(networkError(err, where, context)));
    socket.on('close', () =>
      finish(
        new FetchError(
          buffer === ''
            ? `${where} closed the connection without answering`
            : `${where} closed the connection in the middle of a reply: "${excerpt(buffer)}"`,
        ),
      ),
    );
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REPLY_BYTES) {
        finish(new FetchError(`reply from ${where} is larger than ${MAX_REPLY_BYTES} bytes`));
        return;
      }
      if (!done(buffer)) return;
      replies.push(buffer);
      buffer = '';
      const next = requests[replies.length];
      if (next === undefined) finish();
      else socket.write(next);
    });
    socket.connect({ host: address, port }, () => {
      const first = requests[0];
      if (first === undefined) finish();
      else socket.write(first);
    });
  });
}
