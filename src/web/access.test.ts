import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BasicAuthenticator, clientKey, hashPasswordLine, parseUsersFile } from './access.js';

const header = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('BasicAuthenticator', () => {
  it('remembers a login under a keyed hash, never the password, and only for its time', async () => {
    const users = parseUsersFile(await hashPasswordLine('alice', 'Tr0ub4dor&3'));
    let now = 1_000_000;
    const auth = new BasicAuthenticator(
      users,
      { failuresPerWindow: 1, failureWindowMs: 3_600_000, verifiedTtlMs: 1000 },
      () => now,
    );
    expect(await auth.check(header('alice', 'Tr0ub4dor&3'), '192.0.2.1')).toEqual({
      ok: true,
      user: 'alice',
    });
    expect(inspect(auth, { depth: 6, showHidden: true })).not.toContain('Tr0ub4dor&3');
    // One wrong password uses up this client's window ...
    expect(await auth.check(header('alice', 'wrong'), '192.0.2.1')).toEqual({ ok: false, reason: 'auth' });
    expect(await auth.check(header('alice', 'wrong2'), '192.0.2.1')).toMatchObject({
      ok: false,
      reason: 'rate_limited',
    });
    // ... yet the remembered login needs no scrypt and still passes,
    expect(await auth.check(header('alice', 'Tr0ub4dor&3'), '192.0.2.1')).toMatchObject({ ok: true });
    // until it expires: then it is a new check, which this client may not run now.
    now += 1001;
    expect(await auth.check(header('alice', 'Tr0ub4dor&3'), '192.0.2.1')).toMatchObject({
      reason: 'rate_limited',
    });
    expect(await auth.check(header('alice', 'Tr0ub4dor&3'), '192.0.2.2')).toMatchObject({ ok: true });
  });

  it('forgets remembered logins when the users are replaced', async () => {
    const auth = new BasicAuthenticator(parseUsersFile(await hashPasswordLine('bob', 'one')));
    expect(await auth.check(header('bob', 'one'))).toMatchObject({ ok: true });
    auth.replaceUsers(parseUsersFile(await hashPasswordLine('bob', 'two')));
    expect(await auth.check(header('bob', 'one'))).toMatchObject({ ok: false, reason: 'auth' });
    expect(await auth.check(header('bob', 'two'))).toMatchObject({ ok: true });
  });

  it('answers busy instead of queueing more checks than allowed', async () => {
    const auth = new BasicAuthenticator(parseUsersFile(await hashPasswordLine('carol', 'x')), {
      maxConcurrentChecks: 1,
      maxQueuedChecks: 2,
    });
    let most = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, auth.pendingChecks.running);
    }, 1);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => auth.check(header('carol', `guess-${i}`), `10.0.0.${i}`)),
    );
    clearInterval(sampler);
    expect(most).toBe(1);
    expect(results.filter((r) => !r.ok && r.reason === 'auth')).toHaveLength(3);
    expect(results.filter((r) => !r.ok && r.reason === 'busy')).toHaveLength(7);
    expect(auth.pendingChecks).toEqual({ running: 0, waiting: 0 });
  });
});

describe('clientKey', () => {
  it('counts an IPv6 /64 as one client and an IPv4-mapped address as IPv4', () => {
    expect(clientKey('2001:db8::1')).toBe(clientKey('2001:db8::ffff:1'));
    expect(clientKey('2001:db8::1')).not.toBe(clientKey('2001:db8:0:1::1'));
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
  });
});
