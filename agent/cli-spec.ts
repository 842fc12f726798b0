/** One command-line flag of the agent; both `kurado agent` (oclif) and the single-file build use these. */
export interface AgentFlagSpec {
  name: string;
  kind: 'boolean' | 'string' | 'integer' | 'number';
  description: string;
  /** Placeholder in help, e.g. `<dir>`. */
  value?: string;
  /** Environment variable read when the flag is not given (systemd EnvironmentFile=). */
  env?: string;
  default?: number | string;
  /** Tests only; not in --help. */
  hidden?: boolean;
}

export const AGENT_SUMMARY =
  'Collect Linux metrics and conf.d plugin output every interval and publish them over MQTT.';

export const AGENT_DESCRIPTION =
  'Runs on every monitored host. Each tick (aligned to the interval boundary, plus a fixed ' +
  'random delay below --max-delay) it reads /proc and /sys (cpu, load, memory, processors, TCP ' +
  'connections, disk usage, disk I/O, traffic, uptime, kernel version), runs every ' +
  '[plugin.metrics.<name>] of the *.toml files in --conf-d, and publishes one message of ' +
  'key<TAB>value<TAB>epoch lines with QoS 1 to the topic kurado/update/<self> (IPv4 dots ' +
  'written as _). Ticks are written to a spool under --state-dir first and removed once the ' +
  'broker acknowledges them, so a broker outage (up to --spool-hours) or a restart leaves no ' +
  'gap. SIGHUP reloads --conf-d; SIGTERM and SIGINT stop.';

export const AGENT_EXAMPLES = [
  'kurado agent --dump --conf-d /etc/kurado-agent/conf.d',
  'kurado agent --mqtt mq.example.com:1883 --conf-d /etc/kurado-agent/conf.d --max-delay 10',
  'KURADO_AGENT_MQTT=mqtts://agent:secret@mq.example.com kurado agent --self 10.1.2.3',
];

export const AGENT_FLAGS: readonly AgentFlagSpec[] = [
  {
    name: 'dump',
    kind: 'boolean',
    description: 'Print one collection (metrics, meta, warnings, then plugins) to stdout and exit.',
  },
  {
    name: 'mqtt',
    kind: 'string',
    value: '<host:port | mqtt[s]://user:pass@host:port>',
    env: 'KURADO_AGENT_MQTT',
    description:
      'Broker to publish to (required unless --dump). Port 1883 by default, 8883 for mqtts. ' +
      'Put credentials in the environment file, not on the command line.',
  },
  {
    name: 'self',
    kind: 'string',
    value: '<address>',
    env: 'KURADO_AGENT_SELF',
    description:
      'Host id in the topic: an IP address or host name. Default: the local address of the broker connection.',
  },
  {
    name: 'conf-d',
    kind: 'string',
    value: '<dir>',
    env: 'KURADO_AGENT_CONF_D',
    description:
      'Plugin directory: every *.toml with [plugin.metrics.<name>] command = "..." (timeout = seconds, default 30). ' +
      'Commands run with /bin/sh in this directory.',
  },
  {
    name: 'interval',
    kind: 'integer',
    value: '<minutes>',
    env: 'KURADO_AGENT_INTERVAL',
    default: 1,
    description: 'Minutes between ticks.',
  },
  {
    name: 'max-delay',
    kind: 'integer',
    value: '<seconds>',
    env: 'KURADO_AGENT_MAX_DELAY',
    default: 0,
    description:
      'Ticks start a fixed random 0..max-delay-1 seconds after the boundary, so a fleet does not publish at once.',
  },
  {
    name: 'pidfile',
    kind: 'string',
    value: '<path>',
    env: 'KURADO_AGENT_PIDFILE',
    description: 'Write the pid here; refuse to start while another live agent holds it.',
  },
  {
    name: 'state-dir',
    kind: 'string',
    value: '<dir>',
    env: 'KURADO_AGENT_STATE_DIR',
    description:
      'Where unsent ticks are spooled (<dir>/spool). Default: $STATE_DIRECTORY (systemd StateDirectory=), ' +
      'else /var/lib/kurado-agent; memory only when not writable.',
  },
  {
    name: 'spool-hours',
    kind: 'integer',
    value: '<hours>',
    env: 'KURADO_AGENT_SPOOL_HOURS',
    default: 24,
    description:
      'How many hours of ticks to keep while the broker is unreachable; older ones are dropped with a warning.',
  },
  {
    name: 'ca',
    kind: 'string',
    value: '<file>',
    env: 'KURADO_AGENT_CA',
    description: 'PEM file of the CA that signed an mqtts broker certificate (default: the system CAs).',
  },
  {
    name: 'version',
    kind: 'boolean',
    description: 'Print the agent version and exit.',
  },
  {
    name: 'interval-seconds',
    kind: 'number',
    hidden: true,
    description:
      'Tests and benchmarks only: tick every N seconds (fractions allowed) instead of --interval minutes.',
  },
];

/** The --help text of the single-file build. */
export function agentHelp(program: string): string {
  const shown = AGENT_FLAGS.filter((flag) => !flag.hidden);
  const lines = [
    AGENT_SUMMARY,
    '',
    'USAGE',
    `  ${program} --mqtt <broker> [--self <address>] [--conf-d <dir>] [--interval <minutes>] [--max-delay <seconds>]`,
    `  ${program} --dump [--conf-d <dir>]`,
    '',
    'FLAGS',
  ];
  for (const flag of shown) {
    lines.push(`  --${flag.name}${flag.value ? ` ${flag.value}` : ''}`);
    const notes = [
      flag.default === undefined ? '' : `[default: ${flag.default}]`,
      flag.env ? `[env: ${flag.env}]` : '',
    ].filter(Boolean);
    lines.push(`      ${flag.description}${notes.length ? ` ${notes.join(' ')}` : ''}`);
  }
  lines.push('  --help', '      Show this help.');
  lines.push('', 'DESCRIPTION', ...wrap(AGENT_DESCRIPTION, 96).map((line) => `  ${line}`));
  lines.push(
    '',
    'EXAMPLES',
    ...AGENT_EXAMPLES.map((example) => `  ${example.replace('kurado agent', program)}`),
  );
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
