import { describe, expect, it } from 'vitest';
import { evaluateStatus, formatAge } from './status.js';

const T = 1_800_000_000;

describe('host status rules', () => {
  it('calls a host that only ever sent a warning "warn", not unknown', () => {
    const report = evaluateStatus(
      {
        plugins: ['nginx:80'],
        received: new Map(),
        recentWarnings: [
          { plugin: 'nginx:80', name: 'command', message: 'connection refused', receivedAt: T - 10 },
        ],
      },
      T,
    );
    expect(report).toEqual({ status: 'warn', reason: '1 warning: nginx:80 command: connection refused' });
  });

  it('names the newest warning and how many there are, and every stale plugin', () => {
    const report = evaluateStatus(
      {
        plugins: ['base', 'mysql:3306', 'nginx:80'],
        received: new Map([
          ['base', T - 30],
          ['nginx:80', T - 900],
          ['mysql:3306', T - 7200],
        ]),
        recentWarnings: [
          { plugin: 'base', name: 'disk', message: 'old', receivedAt: T - 200 },
          { plugin: 'base', name: 'disk', message: 'new', receivedAt: T - 20 },
        ],
      },
      T,
    );
    expect(report).toEqual({
      status: 'warn',
      reason: '2 warnings: base disk: new; mysql:3306 not received for 2 h; nginx:80 not received for 15 min',
      baseReceivedAt: T - 30,
    });
  });

  it('puts critical before warn: a down host is critical even with warnings', () => {
    const report = evaluateStatus(
      {
        plugins: ['base'],
        received: new Map([['base', T - 301]]),
        recentWarnings: [{ plugin: 'base', name: 'x', message: 'y', receivedAt: T - 1 }],
      },
      T,
    );
    expect(report.status).toBe('critical');
  });
});

describe('formatAge', () => {
  it('reads like a person would say it', () => {
    expect([0, 59, 60, 3599, 3600, 3660, 86_400, 90_000].map(formatAge)).toEqual([
      '0 s',
      '59 s',
      '1 min',
      '59 min',
      '1 h',
      '1 h 1 min',
      '1 d',
      '1 d 1 h',
    ]);
  });
});
