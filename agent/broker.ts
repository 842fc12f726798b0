import { EventEmitter } from 'node:events';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { IClientOptions } from 'mqtt/lib/client';
// The client alone, with our own TCP/TLS stream: the `mqtt` main entry also loads WebSocket,
// mini-program transports and http(s), none of which the agent uses (smaller bundle, less RSS).
import * as mqttClientModule from 'mqtt/lib/client';

type MqttClientClass = typeof mqttClientModule.default.default;
type MqttClient = InstanceType<MqttClientClass>;
// Node and tsx hand this CommonJS module to ESM as its exports object (class under `default`);
// esbuild's bundle honours `__esModule` and hands the class itself. Accept both.
const loadedClient = mqttClientModule.default as unknown as MqttClientClass | { default: MqttClientClass };
const MqttClient: MqttClientClass = typeof loadedClient === 'function' ? loadedClient : loadedClient.default;

/** A broker address from `--mqtt`, with the password kept out of what gets logged. */
export interface BrokerAddress {
  /** `mqtt://host:port` or `mqtts://host:port`, credentials removed. */
  url: string;
  host: string;
  port: number;
  /** MQTT over TLS (mqtts). */
  secure: boolean;
  username?: string;
  password?: string;
  /** For logs and errors: the URL without the password. */
  display: string;
}

const SCHEMES: Record<string, string> = {
  'mqtt:': 'mqtt:',
  'tcp:': 'mqtt:',
  'mqtts:': 'mqtts:',
  'tls:': 'mqtts:',
};

/**
 * `host`, `host:port`, `[v6]:port`, or `mqtt[s]://[user[:pass]@]host[:port]`. Plain addresses
 * mean MQTT over TCP, port 1883 unless given (8883 for mqtts).
 */
export function parseBrokerAddress(text: string): BrokerAddress {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('--mqtt: empty broker address');
  const withScheme = /^[a-z]+:\/\//i.test(trimmed) ? trimmed : `mqtt://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`--mqtt "${trimmed}": not host:port nor mqtt[s]://user:pass@host:port`);
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) throw new Error(`--mqtt "${url.protocol}//…": only mqtt:// and mqtts:// are supported`);
  if (url.hostname === '') throw new Error(`--mqtt "${trimmed}": no host`);
  if (url.pathname !== '' && url.pathname !== '/')
    throw new Error(`--mqtt "${trimmed}": a broker URL has no path`);
  const port = url.port === '' ? (scheme === 'mqtts:' ? 8883 : 1883) : Number(url.port);
  const host = url.hostname;
  const address: BrokerAddress = {
    url: `${scheme}//${host}:${port}`,
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port,
    secure: scheme === 'mqtts:',
    display: `${scheme}//${url.username ? `${decodeURIComponent(url.username)}:***@` : ''}${host}:${port}`,
  };
  if (url.username) address.username = decodeURIComponent(url.username);
  if (url.password) address.password = decodeURIComponent(url.password);
  return address;
}

export interface BrokerConnectionOptions {
  address: BrokerAddress;
  /** PEM of the CA that signed an mqtts broker's certificate (private CA). */
  ca?: string;
  clientId: string;
  keepaliveSeconds: number;
  /** Longest wait between reconnection attempts. */
  maxBackoffMs: number;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/**
 * One MQTT connection that never gives up: reconnects with exponential backoff (1 s, 2 s, 4 s …
 * up to `maxBackoffMs`, each wait shortened by a random part of up to half so that a fleet does
 * not reconnect in step after a broker restart). Emits `connect` after every (re)connection.
 */
export class BrokerConnection extends EventEmitter<{ connect: [] }> {
  private client: MqttClient | undefined;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private lastError = '';
  /** Rejects of publishes still waiting for their PUBACK. */
  private readonly awaitingAck = new Set<(error: Error) => void>();

  constructor(private readonly options: BrokerConnectionOptions) {
    super();
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /** The local IP of the broker connection (the agent's default host id), once connected. */
  get localAddress(): string | undefined {
    const stream = this.client?.stream as Socket | undefined;
    const address = stream?.localAddress;
    return address?.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  }

  start(): void {
    const { address, ca, clientId, keepaliveSeconds } = this.options;
    const clientOptions: IClientOptions = {
      clientId,
      keepalive: keepaliveSeconds,
      // Reconnection is ours (backoff with jitter); MQTT.js only retries at a fixed period.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      clean: true,
      protocolVersion: 4,
      queueQoSZero: false,
      // MQTT.js otherwise pre-builds 65,536 two-byte Buffers for packet ids on the first packet:
      // about 15 MB of heap to save microseconds on one publish a minute.
      writeCache: false,
    };
    if (address.username !== undefined) clientOptions.username = address.username;
    if (address.password !== undefined) clientOptions.password = address.password;
    const connectStream = () =>
      address.secure
        ? tlsConnect({
            host: address.host,
            port: address.port,
            ...(isIP(address.host) === 0 ? { servername: address.host } : {}),
            ...(ca === undefined ? {} : { ca }),
          })
        : tcpConnect({ host: address.host, port: address.port });
    const client = new MqttClient(connectStream, clientOptions);
    this.client = client;
    client.on('connect', () => {
      if (this.failures > 0 || this.lastError !== '') {
        this.options.log(
          'info',
          `connected to ${address.display} again after ${this.failures} failed attempt(s)`,
        );
      } else {
        this.options.log('info', `connected to ${address.display} as ${this.localAddress ?? '?'}`);
      }
      this.failures = 0;
      this.lastError = '';
      this.emit('connect');
    });
    client.on('error', (error) => {
      const message = error.message;
      if (message !== this.lastError) this.options.log('warn', `broker ${address.display}: ${message}`);
      this.lastError = message;
    });
    client.on('close', () => {
      // MQTT.js keeps a QoS 1 publish pending across a lost connection (for its own resend, which
      // our reconnect() with a fresh store never does): fail it now so the spool resends it.
      for (const reject of this.awaitingAck)
        reject(new Error(`connection to ${address.display} closed before PUBACK`));
      this.awaitingAck.clear();
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    const ceiling = Math.min(this.options.maxBackoffMs, 1000 * 2 ** Math.min(this.failures, 16));
    const wait = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.failures++;
    if (this.failures === 1)
      this.options.log('warn', `lost the broker ${this.options.address.display}; retrying`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closing) this.client?.reconnect();
    }, wait);
  }

  /** Publish with QoS 1; resolves on PUBACK. No PUBACK within `timeoutMs` drops the connection. */
  publish(topic: string, payload: string, timeoutMs: number): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        clearTimeout(timer);
        this.awaitingAck.delete(fail);
        reject(error);
      };
      const timer = setTimeout(() => {
        fail(new Error(`no PUBACK from ${this.options.address.display} within ${timeoutMs} ms`));
        client.end(true);
      }, timeoutMs);
      this.awaitingAck.add(fail);
      client.publish(topic, payload, { qos: 1 }, (error) => {
        if (error) fail(error);
        else {
          clearTimeout(timer);
          this.awaitingAck.delete(fail);
          resolve();
        }
      });
    });
  }

  /** Send DISCONNECT (waiting at most `timeoutMs`) and stop reconnecting. */
  async close(timeoutMs = 2000): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (!client) return;
    await Promise.race([
      new Promise<void>((resolve) => client.end(false, {}, () => resolve())),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
    client.end(true);
  }
}
