import { describe, expect, it } from 'vitest';
import { baseState, evaluateStatus, formatAge, statusRulesText } from './status.js';
import { STALE_AFTER_SECONDS } from './types.js';

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

describe('base state (the "agent down" rule)', () => {
  it('expects base when the role lists it or the host ever sent it', () => {
    expect(baseState(['nginx:80'], undefined, T)).toEqual({ state: 'not-expected' });
    expect(baseState(['base'], undefined, T)).toEqual({ state: 'never' });
    expect(baseState(['nginx:80'], T - 60, T)).toEqual({ state: 'fresh', receivedAt: T - 60 });
    expect(baseState([], T - STALE_AFTER_SECONDS - 1, T)).toEqual({
      state: 'stale',
      receivedAt: T - STALE_AFTER_SECONDS - 1,
      age: STALE_AFTER_SECONDS + 1,
    });
    expect(baseState(['base'], T - STALE_AFTER_SECONDS, T).state).toBe('fresh');
  });

  it('makes the host critical exactly when base is never received or stale', () => {
    for (const [plugins, at] of [
      [['base'], undefined],
      [[], T - 3600],
      [['base'], T - 10],
      [['nginx:80'], undefined],
    ] as const) {
      const received = new Map<string, number>([['nginx:80', T - 10]]);
      if (at !== undefined) received.set('base', at);
      const { state } = baseState(plugins, at, T);
      const { status } = evaluateStatus({ plugins: [...plugins], received, recentWarnings: [] }, T);
      expect(status === 'critical', `${plugins} ${at}`).toBe(state === 'never' || state === 'stale');
    }
  });
});

describe('statusRulesText', () => {
  it('states the thresholds the rules use', () => {
    const text = statusRulesText();
    expect(text).toContain('base was never received or is older than 5 min');
    expect(text).toContain('a warning in the last 5 min');
    expect(text).toContain('counts for 1 h, then is taken as removed');
  });
});
