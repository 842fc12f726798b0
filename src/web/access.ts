import { createHmac, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import ipaddr from 'ipaddr.js';

/**
 * Read-only access control for `kurado serve`:
 * - `--allow-from CIDR` (repeatable): the TCP peer address must fall in one of the ranges (403).
 * - `--auth basic` + users file: `user:scrypt$N$r$p$<salt b64>$<hash b64>` lines (401).
 * - `--trusted-proxy-header NAME`: an authenticating reverse proxy puts the user name in NAME;
 *   a request without it is refused (401). Combine with `--allow-from <proxy address>` so that
 *   nobody can reach Kurado around the proxy and forge the header.
 * `X-Forwarded-For` is never used for access decisions (only the TCP peer counts).
 */

const SCRYPT_N = 16384;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const KEY_LENGTH = 32;

function scrypt(
  password: string,
  salt: Buffer,
  n: number,
  r: number,
  p: number,
  length: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, length, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** One users-file line for `user` with `password`: `user:scrypt$16384$8$1$<salt>$<hash>`. */
export async function hashPasswordLine(user: string, password: string): Promise<string> {
  if (!/^[^:\s]+$/.test(user))
    throw new Error(`user name "${user}" must not be empty or contain ":" or spaces`);
  if (password.length === 0) throw new Error('password must not be empty');
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LENGTH);
  return `${user}:scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface StoredHash {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export class UsersFileError extends Error {
  override name = 'UsersFileError';
}

/** Parse a users file; every broken line is reported with its file name and line number. */
export function parseUsersFile(text: string, file = 'users file'): Map<string, StoredHash> {
  const users = new Map<string, StoredHash>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new UsersFileError(`${where}: expected "user:scrypt$N$r$p$salt$hash"`);
    const user = line.slice(0, colon);
    const parts = line.slice(colon + 1).split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') {
      throw new UsersFileError(
        `${where}: the password of "${user}" is not an scrypt hash (use "kurado web passwd")`,
      );
    }
    const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
    const salt = Buffer.from(parts[4] ?? '', 'base64');
    const key = Buffer.from(parts[5] ?? '', 'base64');
    if (![n, r, p].every((v) => Number.isInteger(v) && v > 0) || salt.length === 0 || key.length < 16) {
      throw new UsersFileError(`${where}: malformed scrypt hash for "${user}"`);
    }
    users.set(user, { n, r, p, salt, key });
  });
  return users;
}

export function loadUsersFile(file: string): Map<string, StoredHash> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsersFileError(`cannot read users file ${file}: ${(error as Error).message}`);
  }
  return parseUsersFile(text, file);
}

/** What a flood of logins may cost the server; `kurado serve` flags set some of them. */
export interface AuthLimits {
  /** Wrong passwords one client (IPv4 address or IPv6 /64) may send per window; then 429. */
  failuresPerWindow: number;
  failureWindowMs: number;
  /**
   * scrypt checks running at once. They run on libuv's thread pool (4 threads by default),
   * which gzip, static files and DNS share: a flood must never hold all of it.
   */
  maxConcurrentChecks: number;
  /** Checks waiting for a slot; past this a new one is refused with 503 at once. */
  maxQueuedChecks: number;
  /** How long a successful check is remembered (a browser sends credentials with every PNG). */
  verifiedTtlMs: number;
  /** Remembered logins at most (the oldest is forgotten first). */
  verifiedMax: number;
  /** Client addresses whose failures are tracked at most (the oldest window is dropped first). */
  trackedClientsMax: number;
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = {
  failuresPerWindow: 10,
  failureWindowMs: 60_000,
  maxConcurrentChecks: 2,
  maxQueuedChecks: 32,
  verifiedTtlMs: 5 * 60_000,
  verifiedMax: 10_000,
  trackedClientsMax: 100_000,
};

export type AuthResult =
  | { ok: true; user: string }
  /** `missing`: no or unreadable credentials (the browser has not asked the user yet). */
  | { ok: false; reason: 'missing' | 'auth' }
  /** `rate_limited`: too many wrong passwords from this client; `busy`: too many checks queued. */
  | { ok: false; reason: 'rate_limited' | 'busy'; retryAfterSeconds: number };

/** The key failures are counted under: the address, or its /64 for IPv6 (one end site). */
export function clientKey(peer: string | undefined): string {
  if (!peer || !ipaddr.isValid(peer)) return peer ?? '';
  const address = normalise(ipaddr.parse(peer));
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}

/**
 * Checks Basic credentials against scrypt hashes, so that a flood of wrong passwords costs the
 * sender and not the users:
 * - a successful check is remembered for a while under an HMAC of user and password with a
 *   per-process random key (the password itself is never kept); an entry counts only while
 *   the user's stored hash is the one it was checked against, and a users-file reload forgets
 *   them all;
 * - identical checks in flight share one scrypt run;
 * - a client past `failuresPerWindow` wrong passwords gets `rate_limited` without any scrypt;
 * - at most `maxConcurrentChecks` scrypt runs at once, `maxQueuedChecks` waiting, else `busy`.
 */
export class BasicAuthenticator {
  private readonly limits: AuthLimits;
  private readonly secret = randomBytes(32);
  private readonly dummySalt = randomBytes(16);
  private readonly verified = new Map<string, { user: string; stored: StoredHash; expires: number }>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** Per client: wrong passwords in the current window, and its checks still running. */
  private readonly failures = new Map<string, { count: number; pending: number; windowEnds: number }>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private users: Map<string, StoredHash>,
    limits: Partial<AuthLimits> = {},
    private readonly now: () => number = Date.now,
    /** Told once per client and window when the client crosses the failure limit. */
    private readonly onLimited: (client: string, failures: number, retryAfterSeconds: number) => void = () =>
      undefined,
  ) {
    this.limits = { ...DEFAULT_AUTH_LIMITS, ...limits };
  }

  /** Replace the users (a changed users file); remembered logins are forgotten. */
  replaceUsers(users: Map<string, StoredHash>): void {
    this.users = users;
    this.verified.clear();
  }

  /** scrypt runs in progress and waiting (for /metrics and tests). */
  get pendingChecks(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  async check(authorization: string | undefined, peer?: string): Promise<AuthResult> {
    if (!authorization) return { ok: false, reason: 'missing' };
    const match = /^Basic\s+([A-Za-z0-9+/=]{1,4096})\s*$/i.exec(authorization);
    if (!match?.[1]) return { ok: false, reason: 'missing' };
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, reason: 'missing' };
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const fingerprint = createHmac('sha256', this.secret)
      .update(user)
      .update('\0')
      .update(password)
      .digest('base64');
    const now = this.now();
    const stored = this.users.get(user);
    const remembered = this.verified.get(fingerprint);
    if (remembered) {
      if (remembered.expires > now && remembered.stored === stored) return { ok: true, user };
      this.verified.delete(fingerprint);
    }

    const client = clientKey(peer);
    const entry = this.clientEntry(client, now);
    // Checks still running count against the limit too: 64 guesses sent at once are not 64 scrypts.
    if (entry.count + entry.pending >= this.limits.failuresPerWindow) {
      return {
        ok: false,
        reason: 'rate_limited',
        retryAfterSeconds: Math.ceil((entry.windowEnds - now) / 1000),
      };
    }

    let pending = this.inFlight.get(fingerprint);
    if (!pending) {
      if (
        this.running >= this.limits.maxConcurrentChecks &&
        this.waiting.length >= this.limits.maxQueuedChecks
      ) {
        return { ok: false, reason: 'busy', retryAfterSeconds: 1 };
      }
      entry.pending++;
      pending = this.verify(stored, password).finally(() => {
        this.inFlight.delete(fingerprint);
        entry.pending--;
      });
      this.inFlight.set(fingerprint, pending);
    }
    const good = await pending;
    if (good && stored && this.users.get(user) === stored) {
      if (this.verified.size >= this.limits.verifiedMax) {
        const oldest = this.verified.keys().next().value;
        if (oldest !== undefined) this.verified.delete(oldest);
      }
      this.verified.set(fingerprint, { user, stored, expires: this.now() + this.limits.verifiedTtlMs });
      return { ok: true, user };
    }
    const after = this.clientEntry(client, this.now());
    after.count++;
    if (after.count === this.limits.failuresPerWindow) {
      this.onLimited(client, after.count, Math.ceil((after.windowEnds - this.now()) / 1000));
    }
    return { ok: false, reason: 'auth' };
  }

  /** The client's current failure window; a new one when the last has ended. */
  private clientEntry(client: string, now: number): { count: number; pending: number; windowEnds: number } {
    const entry = this.failures.get(client);
    if (entry && entry.windowEnds > now) return entry;
    if (entry) this.failures.delete(client);
    // Entries are in the order their windows started: drop from the front what has ended, and
    // the oldest windows when the table is full.
    for (const [key, value] of this.failures) {
      if (value.windowEnds > now && this.failures.size < this.limits.trackedClientsMax) break;
      this.failures.delete(key);
    }
    const fresh = { count: 0, pending: 0, windowEnds: now + this.limits.failureWindowMs };
    this.failures.set(client, fresh);
    return fresh;
  }

  /** One scrypt comparison, waiting for a slot; an unknown user costs the same as a known one. */
  private async verify(stored: StoredHash | undefined, password: string): Promise<boolean> {
    // A finishing check hands its slot straight to the next waiter, so `running` never
    // exceeds the cap, whatever runs in between.
    if (this.running < this.limits.maxConcurrentChecks) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      if (!stored) {
        // Same work for an unknown user as for a wrong password: no user-name oracle by timing.
        await scrypt(password, this.dummySalt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LENGTH);
        return false;
      }
      const key = await scrypt(password, stored.salt, stored.n, stored.r, stored.p, stored.key.length);
      return timingSafeEqual(key, stored.key);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

export class AllowList {
  private readonly ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][];

  constructor(cidrs: string[]) {
    this.ranges = cidrs.map((cidr) => {
      const text = cidr.includes('/') ? cidr : `${cidr}/${ipaddr.IPv6.isValid(cidr) ? 128 : 32}`;
      try {
        const [address, bits] = ipaddr.parseCIDR(text);
        return [
          normalise(address),
          address.kind() === 'ipv6' && normalise(address).kind() === 'ipv4' ? bits - 96 : bits,
        ];
      } catch {
        throw new Error(`--allow-from "${cidr}" is not an IP address or CIDR range`);
      }
    });
  }

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  allows(peer: string | undefined): boolean {
    if (this.ranges.length === 0) return true;
    if (!peer || !ipaddr.isValid(peer)) return false;
    const address = normalise(ipaddr.parse(peer));
    return this.ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  }
}

/** `::ffff:10.0.0.1` (a dual-stack socket's IPv4 peer) compares as `10.0.0.1`. */
function normalise(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (address as ipaddr.IPv6).toIPv4Address();
  }
  return address;
}

/**
 * A users file watched for changes: `current()` re-reads it when its modification time changed
 * (checked at most every `intervalMs`), so adding or removing a user needs no restart. A file
 * that became unreadable or broken keeps the last good users and reports the problem once.
 */
export class UsersFileWatcher {
  readonly authenticator: BasicAuthenticator;
  private mtimeMs: number;
  private checkedAt = Date.now();

  constructor(
    private readonly file: string,
    private readonly onError: (message: string) => void = () => undefined,
    private readonly intervalMs = 5000,
    limits: Partial<AuthLimits> = {},
    onLimited?: (client: string, failures: number, retryAfterSeconds: number) => void,
  ) {
    this.authenticator = new BasicAuthenticator(loadUsersFile(file), limits, Date.now, onLimited);
    this.mtimeMs = statSync(file).mtimeMs;
  }

  check(authorization: string | undefined, peer?: string): Promise<AuthResult> {
    const now = Date.now();
    if (now - this.checkedAt >= this.intervalMs) {
      this.checkedAt = now;
      try {
        const mtimeMs = statSync(this.file).mtimeMs;
        if (mtimeMs !== this.mtimeMs) {
          this.mtimeMs = mtimeMs;
          this.authenticator.replaceUsers(loadUsersFile(this.file));
        }
      } catch (error) {
        this.onError(`users file not reloaded, keeping the previous users: ${(error as Error).message}`);
      }
    }
    return this.authenticator.check(authorization, peer);
  }
}
