import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
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

/**
 * Checks Basic credentials against scrypt hashes. A browser sends the credentials with every
 * PNG, so a successful check is remembered (by a SHA-256 of user+password, in memory) and
 * repeated requests do not pay scrypt again.
 */
export class BasicAuthenticator {
  private readonly verified = new Set<string>();
  private readonly dummySalt = randomBytes(16);

  constructor(private users: Map<string, StoredHash>) {}

  /** Replace the users (a changed users file); remembered logins are forgotten. */
  replaceUsers(users: Map<string, StoredHash>): void {
    this.users = users;
    this.verified.clear();
  }

  async check(authorization: string | undefined): Promise<string | undefined> {
    if (!authorization) return undefined;
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (!match?.[1]) return undefined;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const fingerprint = createHash('sha256').update(user).update('\0').update(password).digest('base64');
    if (this.verified.has(fingerprint)) return user;
    const stored = this.users.get(user);
    if (!stored) {
      // Same work for an unknown user as for a wrong password: no user-name oracle by timing.
      await scrypt(password, this.dummySalt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LENGTH);
      return undefined;
    }
    const key = await scrypt(password, stored.salt, stored.n, stored.r, stored.p, stored.key.length);
    if (!timingSafeEqual(key, stored.key)) return undefined;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.add(fingerprint);
    return user;
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
  ) {
    this.authenticator = new BasicAuthenticator(loadUsersFile(file));
    this.mtimeMs = statSync(file).mtimeMs;
  }

  check(authorization: string | undefined): Promise<string | undefined> {
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
    return this.authenticator.check(authorization);
  }
}
