/**
 * The server list (`hosts.toml`, imported with `kurado hosts import`): roles name the plugins a
 * host runs, services hold labelled sections, each section names a role and lists hosts as
 * `"<address> <hostname> <comments…>"`. See templates/hosts.toml for the format with comments.
 *
 * Every problem is collected (not just the first) and reported with the file and the place:
 * `hosts.toml:14: services.shop[2] (label "db") hosts[1] "10.0.0.300 db01": bad address …`.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseToml, TomlError } from 'smol-toml';
import { hostProblem, normalizeHost, printable } from '../protocol/host.js';
import { pluginIdentifierProblem } from '../protocol/lines.js';
import {
  type HostOptions,
  type HostRecord,
  type PluginSettings,
  type PluginSettingValue,
  UNREGISTERED_SERVICE,
} from '../store/types.js';
import { hostEntryLines, sectionKey } from './entry-lines.js';
import { mergeHostOptions } from './host-options.js';

export interface Role {
  name: string;
  /** Plugin identifiers in the order written: `base`, `nginx:8080:/nginx_status`. */
  plugins: string[];
  /** Settings keyed by plugin name (`mysql`, every mysql instance) or identifier (`mysql:3307`). */
  settings: PluginSettings;
  /** `max_files` and `relay` of the role; a section or a host entry may override them. */
  options: HostOptions;
}

export interface SectionSummary {
  label: string;
  role: string;
  hosts: number;
}

export interface ServerList {
  file: string;
  roles: Map<string, Role>;
  /** Services in file order, with their sections. */
  services: { name: string; sections: SectionSummary[] }[];
  /** Every host, in file order, with its role's plugins and resolved settings. */
  hosts: HostRecord[];
  /** Things that are allowed but probably not meant (a hostname listed twice). */
  warnings: string[];
}

export class ServerListError extends Error {
  override name = 'ServerListError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      problems.length === 1
        ? problems[0]!
        : `${file}: ${problems.length} problems:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
}

type Table = Record<string, unknown>;

const TOP_LEVEL_KEYS = ['settings', 'roles', 'services'];
const ROLE_KEYS = ['plugins', 'settings', 'max_files', 'relay', 'storage'];
const SECTION_KEYS = ['label', 'role', 'hosts', 'max_files', 'relay', 'storage'];
/** Keys of a host entry written as a table: `{ host = "<address> …", max_files = N, relay = true }`. */
const ENTRY_KEYS = ['host', 'max_files', 'relay', 'storage'];
/**
 * Bounds of a server list: the store's columns (a name of 255 characters, MySQL's VARCHAR) and
 * what a page shows; the file itself is read whole, so its size is bounded first.
 */
export const SERVER_LIST_LIMITS = {
  /** Largest file (about 300,000 host entries). */
  fileBytes: 16 * 1024 * 1024,
  /** Longest service, label or role name, and hostname. */
  nameLength: 255,
  /** Longest comment of a host entry. */
  commentLength: 1024,
  /** Longest plugin setting key, and string value. */
  settingKeyLength: 255,
  settingValueLength: 4096,
  /** Most bytes of one host's resolved plugin settings (JSON; a MySQL TEXT column holds 65,535). */
  settingsBytes: 60_000,
} as const;

/** Control characters: a NUL breaks rrdtool arguments later, a newline forges lines in answers. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Keys people bring from CloudForecast/upstream Kurado YAML, and what they are called here. */
const RENAMED_KEYS: Record<string, string> = {
  roll: 'role',
  rolls: 'roles',
  servers: 'hosts',
  metrics: 'plugins',
  resources: 'plugins',
  metrics_config: 'settings',
  component_config: 'settings',
};

/** Read and check a server list file. Throws ServerListError (or a TOML error with line:column). */
export function readServerList(file: string): ServerList {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > SERVER_LIST_LIMITS.fileBytes) {
      throw new ServerListError(file, [
        `${file}: ${size} bytes, more than a server list may have (${SERVER_LIST_LIMITS.fileBytes} bytes)`,
      ]);
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ServerListError) throw error;
    throw new ServerListError(file, [`cannot read ${file}: ${(error as Error).message}`]);
  }
  return parseServerList(text, file);
}

/** Check a server list given as text; `file` is only used in messages. */
export function parseServerList(text: string, file: string): ServerList {
  let document: Table;
  try {
    document = parseToml(text) as Table;
  } catch (error) {
    if (error instanceof TomlError) {
      throw new ServerListError(file, [
        `${file}:${error.line}:${error.column}: ${error.message.split('\n')[0]}`,
      ]);
    }
    throw error;
  }
  return new ServerListChecker(text, file).check(document);
}

const isTable = (value: unknown): value is Table =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

const kind = (value: unknown): string =>
  Array.isArray(value)
    ? 'an array'
    : isTable(value)
      ? 'a table'
      : value instanceof Date
        ? 'a date'
        : `a ${typeof value}`;

const quoted = (text: string) => `"${printable(text, 80)}"`;

class ServerListChecker {
  private readonly problems: string[] = [];
  private readonly warnings: string[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  private problem(place: string, message: string, line?: number): void {
    this.problems.push(`${this.file}${line ? `:${line}` : ''}: ${place}: ${message}`);
  }

  private unknownKeys(table: Table, known: readonly string[], place: string, line?: number): void {
    for (const key of Object.keys(table)) {
      if (known.includes(key)) continue;
      const hint = RENAMED_KEYS[key] ? ` (did you mean "${RENAMED_KEYS[key]}"?)` : '';
      this.problem(
        place,
        `unknown key ${quoted(key)}${hint}; expected ${known.map((k) => `"${k}"`).join(', ')}`,
        line,
      );
    }
  }

  /** Line of each host entry, per section; computed on first use (one pass over the text). */
  private entryLines: Map<string, number[]> | undefined;

  private lineOfEntry(service: string, sectionIndex: number, hostIndex: number): number | undefined {
    this.entryLines ??= hostEntryLines(this.text);
    return this.entryLines.get(sectionKey(service, sectionIndex))?.[hostIndex];
  }

  /** `max_files` and `relay` written on one role, section or host entry, checked. */
  private hostOptions(table: Table, place: string, line?: number): HostOptions {
    const options: HostOptions = {};
    const maxFiles = table.max_files;
    if (maxFiles !== undefined) {
      if (typeof maxFiles !== 'number' || !Number.isInteger(maxFiles) || maxFiles < 0) {
        this.problem(
          place,
          `max_files must be a whole number of files (0 or more), not ${quoted(String(maxFiles))}`,
          line,
        );
      } else options.maxFiles = maxFiles;
    }
    const relay = table.relay;
    if (relay !== undefined) {
      if (typeof relay !== 'boolean')
        this.problem(place, `relay must be true or false, not ${kind(relay)}`, line);
      else options.relay = relay;
    }
    const storage = table.storage;
    if (storage !== undefined) {
      // Which names exist is kurado.toml's business: a pin naming no node is logged at placement.
      if (typeof storage !== 'string' || storage === '' || CONTROL.test(storage))
        this.problem(place, `storage must be the name of a [[storage]] node, not ${kind(storage)}`, line);
      else options.storage = storage;
    }
    return options;
  }

  check(document: Table): ServerList {
    this.unknownKeys(document, TOP_LEVEL_KEYS, 'top level');
    const globalSettings = this.settingsTable(document.settings, 'settings');
    const roles = this.roles(document.roles);
    const usedPlugins = new Set(
      [...roles.values()].flatMap((r) => r.plugins.flatMap((p) => [p, pluginName(p)])),
    );
    for (const key of Object.keys(globalSettings)) {
      if (!usedPlugins.has(key))
        this.warnings.push(`${this.file}: settings.${key}: no role lists a ${key} plugin`);
    }
    for (const role of roles.values()) {
      const bytes = Buffer.byteLength(JSON.stringify(resolveSettings(role, globalSettings) ?? {}));
      if (bytes > SERVER_LIST_LIMITS.settingsBytes) {
        this.problem(
          `roles.${role.name}`,
          `its plugin settings (with [settings]) take ${bytes} bytes as JSON, more than ${SERVER_LIST_LIMITS.settingsBytes}`,
        );
      }
    }
    const { services, hosts } = this.services(document.services, roles, globalSettings);
    if (this.problems.length > 0) throw new ServerListError(this.file, this.problems);
    return { file: this.file, roles, services, hosts, warnings: this.warnings };
  }

  private settingsTable(value: unknown, place: string): PluginSettings {
    if (value === undefined) return {};
    if (!isTable(value)) {
      this.problem(place, `must be a table of plugin settings ([${place}.<plugin>]), not ${kind(value)}`);
      return {};
    }
    const settings: PluginSettings = {};
    for (const [plugin, entries] of Object.entries(value)) {
      const where = `${place}.${plugin}`;
      if (!isTable(entries)) {
        this.problem(where, `must be a table of key = value, not ${kind(entries)}`);
        continue;
      }
      const flat: Record<string, PluginSettingValue> = {};
      for (const [key, setting] of Object.entries(entries)) {
        if (key.length > SERVER_LIST_LIMITS.settingKeyLength) {
          this.problem(
            where,
            `a setting key is longer than ${SERVER_LIST_LIMITS.settingKeyLength} characters`,
          );
        } else if (typeof setting === 'string' && setting.length > SERVER_LIST_LIMITS.settingValueLength) {
          this.problem(`${where}.${key}`, `longer than ${SERVER_LIST_LIMITS.settingValueLength} characters`);
        } else if (
          typeof setting === 'string' ||
          typeof setting === 'number' ||
          typeof setting === 'boolean'
        ) {
          flat[key] = setting;
        } else {
          this.problem(`${where}.${key}`, `must be a string, number or boolean, not ${kind(setting)}`);
        }
      }
      settings[plugin] = flat;
    }
    return settings;
  }

  private roles(value: unknown): Map<string, Role> {
    const roles = new Map<string, Role>();
    if (value === undefined) return roles;
    if (!isTable(value)) {
      this.problem('roles', `must be a table of roles ([roles.<name>]), not ${kind(value)}`);
      return roles;
    }
    for (const [name, body] of Object.entries(value)) {
      const place = `roles.${name}`;
      if (CONTROL.test(name)) {
        this.problem(`roles.${quoted(name)}`, 'a role name must not contain control characters');
        continue;
      }
      if (name.length > SERVER_LIST_LIMITS.nameLength) {
        this.problem(
          `roles.${quoted(name)}`,
          `a role name is at most ${SERVER_LIST_LIMITS.nameLength} characters`,
        );
        continue;
      }
      if (!isTable(body)) {
        this.problem(place, `must be a table with plugins = [...], not ${kind(body)}`);
        continue;
      }
      this.unknownKeys(body, ROLE_KEYS, place);
      const plugins: string[] = [];
      if (!Array.isArray(body.plugins)) {
        this.problem(
          place,
          body.plugins === undefined
            ? 'has no plugins = [...]'
            : `plugins must be an array, not ${kind(body.plugins)}`,
        );
      } else {
        for (const [index, plugin] of (body.plugins as unknown[]).entries()) {
          const where = `${place}.plugins[${index + 1}]`;
          const problem =
            typeof plugin !== 'string'
              ? `must be a string, not ${kind(plugin)}`
              : (pluginIdentifierProblem(plugin) ??
                (plugins.includes(plugin) ? `${quoted(plugin)} is listed twice` : undefined));
          if (problem) this.problem(where, problem);
          else plugins.push(plugin as string);
        }
      }
      const settings = this.settingsTable(body.settings, `${place}.settings`);
      for (const key of Object.keys(settings)) {
        if (!plugins.some((p) => p === key || pluginName(p) === key)) {
          this.problem(
            `${place}.settings.${key}`,
            `role ${quoted(name)} lists no plugin ${quoted(key)} (plugins: ${plugins.join(', ') || 'none'})`,
          );
        }
      }
      roles.set(name, { name, plugins, settings, options: this.hostOptions(body, place) });
    }
    return roles;
  }

  private services(
    value: unknown,
    roles: Map<string, Role>,
    globalSettings: PluginSettings,
  ): { services: ServerList['services']; hosts: HostRecord[] } {
    const services: ServerList['services'] = [];
    const hosts: HostRecord[] = [];
    if (value === undefined) return { services, hosts };
    if (!isTable(value)) {
      this.problem('services', `must be sections written [[services.<name>]], not ${kind(value)}`);
      return { services, hosts };
    }
    const addressPlace = new Map<string, string>();
    const hostnamePlace = new Map<string, string>();
    for (const [service, sections] of Object.entries(value)) {
      if (service === UNREGISTERED_SERVICE) {
        this.problem(
          `services.${service}`,
          `"${UNREGISTERED_SERVICE}" is reserved for hosts that push without being listed`,
        );
        continue;
      }
      if (CONTROL.test(service)) {
        this.problem(`services.${quoted(service)}`, 'a service name must not contain control characters');
        continue;
      }
      if (service.length > SERVER_LIST_LIMITS.nameLength) {
        this.problem(
          `services.${quoted(service)}`,
          `a service name is at most ${SERVER_LIST_LIMITS.nameLength} characters`,
        );
        continue;
      }
      if (service.trim() === '') {
        this.problem('services', 'a service needs a name ([[services."Shop (EU)"]] for names with spaces)');
        continue;
      }
      if (!Array.isArray(sections)) {
        this.problem(
          `services.${service}`,
          `write each section as [[services.${service}]] (double brackets: a service is a list of sections), not ${kind(sections)}`,
        );
        continue;
      }
      const summary: SectionSummary[] = [];
      for (const [sectionIndex, section] of (sections as unknown[]).entries()) {
        const sectionPlace = `services.${service}[${sectionIndex + 1}]`;
        if (!isTable(section)) {
          this.problem(sectionPlace, `must be a table, not ${kind(section)}`);
          continue;
        }
        const label = section.label ?? '';
        const place = label ? `${sectionPlace} (label ${quoted(String(label))})` : sectionPlace;
        this.unknownKeys(section, SECTION_KEYS, place);
        if (typeof label !== 'string') {
          this.problem(place, `label must be a string, not ${kind(label)}`);
          continue;
        }
        if (CONTROL.test(label)) {
          this.problem(place, 'label must not contain control characters');
          continue;
        }
        if (label.length > SERVER_LIST_LIMITS.nameLength) {
          this.problem(place, `label is at most ${SERVER_LIST_LIMITS.nameLength} characters`);
          continue;
        }
        const roleName = section.role;
        let role: Role | undefined;
        if (typeof roleName !== 'string') {
          this.problem(
            place,
            roleName === undefined
              ? 'names no role (role = "…")'
              : `role must be a string, not ${kind(roleName)}`,
          );
        } else {
          role = roles.get(roleName);
          if (!role) {
            const known = [...roles.keys()];
            this.problem(
              place,
              `unknown role ${quoted(roleName)}; roles: ${known.length ? known.join(', ') : 'none defined ([roles.<name>])'}`,
            );
          }
        }
        if (!Array.isArray(section.hosts)) {
          this.problem(
            place,
            section.hosts === undefined
              ? 'has no hosts = [...]'
              : `hosts must be an array, not ${kind(section.hosts)}`,
          );
          continue;
        }
        const sectionOptions = this.hostOptions(section, place);
        if (section.hosts.length === 0) this.warnings.push(`${this.file}: ${place}: lists no hosts`);
        let count = 0;
        for (const [hostIndex, written] of (section.hosts as unknown[]).entries()) {
          const entryPlace = `${place} hosts[${hostIndex + 1}]`;
          const line = this.lineOfEntry(service, sectionIndex, hostIndex);
          let entry: unknown = written;
          let entryOptions: HostOptions = {};
          if (isTable(written)) {
            this.unknownKeys(written, ENTRY_KEYS, entryPlace, line);
            entry = written.host;
            if (typeof entry !== 'string') {
              this.problem(
                entryPlace,
                `a host written as a table needs host = "<address> <hostname> <comments…>"${entry === undefined ? '' : `, not ${kind(entry)}`}`,
                line,
              );
              continue;
            }
            entryOptions = this.hostOptions(written, entryPlace, line);
          } else if (typeof entry !== 'string') {
            this.problem(
              entryPlace,
              `must be a string "<address> <hostname> <comments…>" or a table { host = "…", max_files = N, relay = true }, not ${kind(entry)}`,
              line,
            );
            continue;
          }
          const here = `${entryPlace} ${quoted(entry)}`;
          if (CONTROL.test(entry)) {
            // Comments too: a newline in one would add a line to every text listing of hosts.
            this.problem(
              here,
              'has control characters (a newline, tab or NUL); write one line of printable text',
              line,
            );
            continue;
          }
          const match = /^\s*(\S+)(?:\s+(\S+))?(?:\s+(.*?))?\s*$/s.exec(entry);
          if (!match) {
            this.problem(here, 'is empty; write "<address> <hostname> <comments…>"', line);
            continue;
          }
          const address = normalizeHost(match[1]!);
          const problem =
            hostProblem(address) ??
            // All-digit labels pass as a host name, but "10.0.0.300" is a mistyped IPv4 address.
            (/^[\d.]+$/.test(address) && isIP(address) === 0
              ? `"${address}" is not a valid IPv4 address`
              : undefined);
          if (problem) {
            this.problem(here, `bad address: ${problem}`, line);
            continue;
          }
          const hostname = match[2] ?? address;
          const comments = match[3] ?? '';
          if (hostname.length > SERVER_LIST_LIMITS.nameLength) {
            this.problem(here, `hostname longer than ${SERVER_LIST_LIMITS.nameLength} characters`, line);
            continue;
          }
          if (comments.length > SERVER_LIST_LIMITS.commentLength) {
            this.problem(here, `comments longer than ${SERVER_LIST_LIMITS.commentLength} characters`, line);
            continue;
          }
          const previous = addressPlace.get(address);
          if (previous) {
            this.problem(here, `address ${address} is already listed at ${previous}`, line);
            continue;
          }
          addressPlace.set(address, `${entryPlace}${line ? ` (line ${line})` : ''}`);
          const otherHost = hostnamePlace.get(hostname);
          if (otherHost && hostname !== address) {
            this.warnings.push(
              `${this.file}${line ? `:${line}` : ''}: ${here}: hostname ${hostname} is also used at ${otherHost}`,
            );
          }
          hostnamePlace.set(hostname, entryPlace);
          count++;
          if (!role) continue;
          const record: HostRecord = {
            address,
            hostname,
            comments,
            service,
            label,
            role: role.name,
            plugins: [...role.plugins],
            origin: 'import',
          };
          const settings = resolveSettings(role, globalSettings);
          if (settings) record.settings = settings;
          const options = mergeHostOptions(role.options, sectionOptions, entryOptions);
          if (Object.keys(options).length > 0) record.options = options;
          hosts.push(record);
        }
        summary.push({ label, role: typeof roleName === 'string' ? roleName : '', hosts: count });
      }
      services.push({ name: service, sections: summary });
    }
    return { services, hosts };
  }
}

function pluginName(identifier: string): string {
  const colon = identifier.indexOf(':');
  return colon < 0 ? identifier : identifier.slice(0, colon);
}

/**
 * Settings of each plugin instance of a role, most specific last: global by name, global by
 * identifier, role by name, role by identifier. Undefined when no plugin has any.
 */
export function resolveSettings(role: Role, globalSettings: PluginSettings): PluginSettings | undefined {
  const resolved: PluginSettings = {};
  for (const plugin of role.plugins) {
    const name = pluginName(plugin);
    const merged = {
      ...globalSettings[name],
      ...(plugin !== name ? globalSettings[plugin] : undefined),
      ...role.settings[name],
      ...(plugin !== name ? role.settings[plugin] : undefined),
    };
    if (Object.keys(merged).length > 0) resolved[plugin] = merged;
  }
  return Object.keys(resolved).length > 0 ? resolved : undefined;
}
