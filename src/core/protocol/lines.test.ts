import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostFromRoutingKey, hostFromTopic, topicForHost } from './host.js';
import { type MetricKey, parseKey, parseMessage, SlicedParse } from './lines.js';
import { normalizePluginOutput } from './plugin-output.js';

const seed = readFileSync(new URL('./fixtures/seed-agent-output.tsv', import.meta.url), 'utf8');
const NOW = 1_404_871_100;

describe('parseMessage on the upstream agent sample (fixtures/seed-agent-output.tsv)', () => {
  const parsed = parseMessage(seed, { host: '10.0.0.1', now: NOW });

  it('accepts 35 metrics and 3 meta values', () => {
    expect(parsed.metrics).toHaveLength(35);
    expect(parsed.meta).toHaveLength(3);
    expect(parsed.warnings).toHaveLength(0);
  });

  it('rejects the three .device typos as an unknown data-source type', () => {
    expect(parsed.rejected).toHaveLength(3);
    for (const rejection of parsed.rejected) {
      expect(rejection.reason).toMatch(/unknown data-source type "device"/);
      expect(rejection.text).toContain('write-sectors.device');
      expect(rejection.host).toBe('10.0.0.1');
    }
  });

  it('splits keys into plugin, name and type', () => {
    const cpuUser = parsed.metrics.find((m) => m.name === 'cpu-user');
    expect(cpuUser).toEqual({
      host: '10.0.0.1',
      key: 'base.metrics.cpu-user.derive',
      plugin: 'base',
      name: 'cpu-user',
      type: 'derive',
      value: 44508,
      timestamp: 1404871027,
    });
    expect(parsed.meta.find((m) => m.name === 'version')?.value).toMatch(/^Linux version 2\.6\.32/);
  });
});

describe('SlicedParse', () => {
  it('gives the same values, meta and rejections, with line numbers, however the message is sliced', () => {
    const whole = parseMessage(seed, { host: '10.0.0.1', now: NOW });
    for (const slice of [1, 7, 1000]) {
      const keys: string[] = [];
      const parse = new SlicedParse(
        seed,
        { host: '10.0.0.1', now: NOW },
        (_host, key, _parsed: MetricKey) => {
          keys.push(key);
        },
      );
      let calls = 1;
      while (!parse.next(slice)) calls++;
      expect(keys).toEqual(whole.metrics.map((metric) => metric.key));
      expect(parse.result.meta).toEqual(whole.meta);
      expect(parse.result.rejected).toEqual(whole.rejected);
      expect(calls).toBe(Math.max(1, Math.ceil(parse.lines / slice)));
    }
  });
});

describe('parseMessage line handling', () => {
  const now = 1_800_000_000;
  const parse = (text: string) => parseMessage(text, { host: 'web01.example.com', now });

  it('skips comments and blank lines without rejecting them', () => {
    const parsed = parse(`# header\n// note\n\nbase.metrics.x.gauge\t1\t${now}\n`);
    expect(parsed.metrics).toHaveLength(1);
    expect(parsed.rejected).toHaveLength(0);
  });

  it('takes the host from a 4th field when the message host may relay', () => {
    const parsed = parseMessage(`10_1_2_3\tbase.metrics.x.gauge\t1\t${now}`, {
      host: 'proxy01',
      now,
      mayRelay: true,
    });
    expect(parsed.metrics[0]?.host).toBe('10.1.2.3');
  });

  it('refuses a 4th-field address other than the message host unless it may relay', () => {
    const parsed = parse(
      `10_1_2_3\tbase.metrics.x.gauge\t1\t${now}\nweb01.example.com\tbase.metrics.y.gauge\t2\t${now}`,
    );
    expect(parsed.metrics.map((m) => `${m.host} ${m.name}`)).toEqual(['web01.example.com y']);
    expect(parsed.rejected).toEqual([
      expect.objectContaining({
        line: 1,
        host: 'web01.example.com',
        reason: expect.stringMatching(/relayed line for 10\.1\.2\.3 refused.*relay = true/),
      }),
    ]);
    // Without a message host (a trusted in-process source) the address field is the host.
    expect(parseMessage(`10_1_2_3\tbase.metrics.x.gauge\t1\t${now}`, { now }).metrics).toHaveLength(1);
  });

  it('counts the line limit in UTF-8 bytes, not characters', () => {
    const euros = '€'.repeat(1400); // 1400 characters, 4200 bytes
    const parsed = parse(`base.meta.x\t${euros}\t${now}\nbase.meta.y\t${'€'.repeat(1000)}\t${now}`);
    expect(parsed.meta.map((m) => m.name)).toEqual(['y']);
    expect(parsed.rejected[0]?.reason).toBe('line longer than 4096 bytes');
  });

  it('rejects control characters in meta and warning values, with the reason', () => {
    const parsed = parse(
      [
        `base.meta.nul\tLinux\u0000x\t${now}`,
        `base.warn.esc\tbad \u001b[31m\t${now}`,
        `base.meta.c1\tx\u0085y\t${now}`,
        `base.meta.ok\tLinux 6.1 (Debian)\t${now}`,
      ].join('\n'),
    );
    expect(parsed.meta.map((m) => m.name)).toEqual(['ok']);
    expect(parsed.warnings).toEqual([]);
    expect(parsed.rejected.map((r) => r.reason)).toEqual([
      'meta value has control characters',
      'warn value has control characters',
      'meta value has control characters',
    ]);
  });

  it("refuses host names that are Kurado's own files in data_dir", () => {
    expect(hostFromTopic('kurado/update/kurado.db')).toEqual({
      error: expect.stringMatching(/file Kurado keeps in data_dir/),
    });
    expect(hostFromTopic('kurado/update/KURADO.DB-WAL')).toHaveProperty('error');
    expect(hostFromTopic('kurado/update/kurado.example.com')).toEqual({ host: 'kurado.example.com' });
  });

  it('keeps good lines around bad ones and names the reason of each bad one', () => {
    const lines = [
      `base.metrics.ok-1.gauge\t1\t${now}`,
      `base.metrics.bad.gauge\tabc\t${now}`,
      `base.metrics.missing\t${now}`,
      `base.metrics.nodstype\t1\t${now}`,
      `base.other.x.gauge\t1\t${now}`,
      `base.metrics.old.gauge\t1\t900000000`,
      `base.metrics.future.gauge\t1\t${now + 7200}`,
      `base.metrics.notime.gauge\t1\t`,
      `base.metrics.../../etc/passwd.gauge\t1\t${now}`,
      `base.metrics.${'x'.repeat(200)}.gauge\t1\t${now}`,
      `base.metrics.y.gauge\t1\t${now}\textra\tfields`,
      `base.metrics.ok-2.counter\tU\t${now}`,
      `base.metrics.long.gauge\t${'1'.repeat(5000)}\t${now}`,
    ];
    const parsed = parse(lines.join('\n'));
    expect(parsed.metrics.map((m) => m.name)).toEqual(['ok-1', 'ok-2']);
    expect(parsed.metrics[1]?.value).toBeNull();
    const reasons = parsed.rejected.map((r) => `${r.line}: ${r.reason}`);
    expect(reasons).toEqual([
      expect.stringMatching(/^2: value "abc" is not a number/),
      expect.stringMatching(/^3: missing field/),
      expect.stringMatching(/^4: metric .* has no data-source type/),
      expect.stringMatching(/^5: unknown kind "other"/),
      expect.stringMatching(/^6: timestamp 900000000 is before 2000/),
      expect.stringMatching(/^7: timestamp .* ahead/),
      expect.stringMatching(/^8: missing timestamp/),
      expect.stringMatching(/^9: name .* (empty or dot-only part|characters other than)/),
      expect.stringMatching(/^10: name longer than/),
      expect.stringMatching(/^11: too many fields/),
      expect.stringMatching(/^13: line longer than 4096/),
    ]);
  });

  it('unescapes an upstream-escaped plugin identifier', () => {
    expect(parseKey('http%3A80.metrics.busy.gauge')).toEqual({
      plugin: 'http:80',
      kind: 'metrics',
      name: 'busy',
      type: 'gauge',
      metric: 'busy.gauge',
    });
    expect(parseKey('%2e%2e.metrics.x.gauge')).toMatch(/plugin name/);
  });

  it('rejects every line when there is no host at all', () => {
    const parsed = parseMessage(`base.metrics.x.gauge\t1\t${now}`, { now });
    expect(parsed.rejected[0]?.reason).toMatch(/no host/);
  });
});

describe('host identity', () => {
  it('reads IPv4 with underscores, hostnames and IPv6 from topics', () => {
    expect(hostFromTopic('kurado/update/10_1_2_3')).toEqual({ host: '10.1.2.3' });
    expect(hostFromTopic('kurado/update/Web01.Example.com')).toEqual({ host: 'web01.example.com' });
    expect(hostFromTopic('kurado/update/2001:db8::1')).toEqual({ host: '2001:db8::1' });
    expect(hostFromTopic('kurado/update/../../etc')).toHaveProperty('error');
    expect(hostFromTopic('kurado/update/10_0_0_300')).toEqual({
      error: expect.stringMatching(/not a valid IPv4/),
    });
    expect(hostFromTopic('other/10_1_2_3')).toHaveProperty('error');
  });

  it('reads the host after kurado.update. in an AMQP routing key, dots included', () => {
    expect(hostFromRoutingKey('kurado.update.10_1_2_3')).toEqual({ host: '10.1.2.3' });
    expect(hostFromRoutingKey('kurado.update.db1.example.com')).toEqual({ host: 'db1.example.com' });
  });

  it('writes IPv4 dots as underscores in the topic', () => {
    expect(topicForHost('10.1.2.3')).toBe('kurado/update/10_1_2_3');
    expect(topicForHost('web01')).toBe('kurado/update/web01');
  });
});

describe('normalizePluginOutput', () => {
  it("applies the upstream agent's rules and keeps warn lines as warnings", () => {
    const out = normalizePluginOutput(
      'process',
      'fork.derive\t39234\t\nstats.saikoro\t4\t100\nmeta.version\t1.2\nwarn.disk\tfull\ngarbage\n',
      1000,
    );
    expect(out.lines).toEqual([
      'process.metrics.fork.derive\t39234\t1000',
      'process.metrics.stats.saikoro.gauge\t4\t100',
      'process.meta.version\t1.2\t1000',
      'process.warn.disk\tfull\t1000',
    ]);
    expect(out.problems).toEqual([expect.stringMatching(/^line 5: expected key<TAB>value/)]);
  });
});
