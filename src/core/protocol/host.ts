import { isIP } from 'node:net';

export const UPDATE_TOPIC_PREFIX = 'kurado/update/';
export const UPDATE_ROUTING_KEY_PREFIX = 'kurado.update.';

const UNDERSCORED_IPV4 = /^\d{1,3}(?:_\d{1,3}){3}$/;
const HOSTNAME_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/** Directory under data_dir with the summary RRD files of services and labels. */
export const AGGREGATES_DIRECTORY = 'kurado.aggregates';

/**
 * Names of the files Kurado keeps in data_dir next to the host directories (the embedded SQLite
 * store and its journals, the service summaries). A host of that name would collide with them.
 */
export const RESERVED_HOST_NAMES: ReadonlySet<string> = new Set([
  AGGREGATES_DIRECTORY,
  'kurado.db',
  'kurado.db-wal',
  'kurado.db-shm',
  'kurado.db-journal',
]);

/**
 * Why `host` cannot name a monitored host, or `undefined` when it can. A host is an IPv4 or IPv6
 * address or a DNS name; anything else (slashes, `..`, spaces, NUL) is refused before it can
 * become a directory under data_dir.
 */
export function hostProblem(host: string): string | undefined {
  if (host.length === 0) return 'empty host';
  if (host.length > 253) return `host name longer than 253 characters`;
  if (isIP(host) !== 0) return undefined;
  if (RESERVED_HOST_NAMES.has(host.toLowerCase())) {
    return `"${host}" is the name of a file Kurado keeps in data_dir, so it cannot name a host`;
  }
  if (/^[\d.]+$/.test(host)) return `"${printable(host)}" is not a valid IPv4 address`;
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.');
  for (const label of labels) {
    if (!HOSTNAME_LABEL.test(label)) {
      return `"${printable(host)}" is neither an IP address nor a host name`;
    }
  }
  return undefined;
}

/**
 * Canonical form of a host id as agents send it: older agents write IPv4 dots as `_`
 * (`10_1_2_3` means `10.1.2.3`) so that RabbitMQ does not split the address into routing-key words.
 */
export function normalizeHost(raw: string): string {
  const trimmed = raw.trim();
  if (UNDERSCORED_IPV4.test(trimmed)) return trimmed.replaceAll('_', '.');
  // DNS names are case-insensitive and may end in the root dot; IPv6 is written in lower case.
  const name = trimmed.endsWith('.') && isIP(trimmed) === 0 ? trimmed.slice(0, -1) : trimmed;
  return name.toLowerCase();
}

/** The host an MQTT topic `kurado/update/<host>` names, or an error message. */
export function hostFromTopic(topic: string): { host: string } | { error: string } {
  if (!topic.startsWith(UPDATE_TOPIC_PREFIX)) {
    return { error: `topic "${printable(topic)}" does not start with ${UPDATE_TOPIC_PREFIX}` };
  }
  return checkedHost(topic.slice(UPDATE_TOPIC_PREFIX.length), `topic "${printable(topic)}"`);
}

/**
 * The host an AMQP routing key names. RabbitMQ's MQTT plugin turns the topic's `/` into `.` and
 * keeps a hostname's own dots, so the host is everything after `kurado.update.`.
 */
export function hostFromRoutingKey(routingKey: string): { host: string } | { error: string } {
  if (!routingKey.startsWith(UPDATE_ROUTING_KEY_PREFIX)) {
    return {
      error: `routing key "${printable(routingKey)}" does not start with ${UPDATE_ROUTING_KEY_PREFIX}`,
    };
  }
  return checkedHost(
    routingKey.slice(UPDATE_ROUTING_KEY_PREFIX.length),
    `routing key "${printable(routingKey)}"`,
  );
}

/** The topic an agent publishes to: IPv4 dots become `_`, hostnames and IPv6 stay as they are. */
export function topicForHost(host: string): string {
  return UPDATE_TOPIC_PREFIX + (isIP(host) === 4 ? host.replaceAll('.', '_') : host);
}

function checkedHost(raw: string, where: string): { host: string } | { error: string } {
  const host = normalizeHost(raw);
  const problem = hostProblem(host);
  return problem ? { error: `${where}: ${problem}` } : { host };
}

/** Text safe to put in a log line or an error: control characters shown as `\xNN`, cut at 200. */
export function printable(text: string, max = 200): string {
  const shown = text.replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return shown.length > max ? `${shown.slice(0, max)}…` : shown;
}
