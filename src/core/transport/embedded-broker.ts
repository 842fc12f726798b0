import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket } from 'aedes';
import type { Delivery } from '../ingest/group-commit.js';
import type { Consumer } from '../ingest/receiver.js';
import type { Logger } from '../log.js';
import { hostFromTopic, UPDATE_TOPIC_PREFIX } from '../protocol/host.js';
import { bridgeMqtt5, connectProtocolLevel } from './mqtt5-bridge.js';

/**
 * Longest client id accepted, as Mosquitto: any length an MQTT string can hold. aedes' own
 * default (23, the MQTT 3.1 limit) refuses agents in the field, such as the 2014 Perl agent
 * that connects with MQTT 3.1 and ids like `Net::MQTT::Message[22650]`.
 */
export const MAX_CLIENT_ID_LENGTH = 65_535;
/** Bytes a connection may send before its CONNECT says which protocol level it speaks. */
const MAX_CONNECT_HEAD = 1024;

/**
 * An MQTT broker inside the `kurado up` process (aedes), so one machine needs no broker
 * installed. It accepts MQTT 3.1, 3.1.1 and 5 clients with client ids of any length; aedes
 * speaks 3.1/3.1.1, so MQTT 5 connections go through a translating bridge. The receiver subscribes in-process: aedes sends an agent its PUBACK only
 * after our handler called back, i.e. after the values were stored.
 */
export class EmbeddedBroker {
  private broker: Aedes | undefined;
  private server: Server | undefined;
  /** Where agents connect, once listening. */
  port = 0;

  constructor(private readonly logger?: Logger) {}

  /** Listen on `host:port`; when the port is taken (another broker), fall back to a free one. */
  async listen(host: string, port: number): Promise<{ host: string; port: number; fellBack: boolean }> {
    this.broker = await Aedes.createBroker({ concurrency: 500, maxClientsIdLength: MAX_CLIENT_ID_LENGTH });
    const broker = this.broker;
    broker.on('clientError', (client, error) =>
      this.logger?.debug({ client: client.id, err: error.message }, 'MQTT client error'),
    );
    this.server = createServer((socket) => routeByProtocol(socket, broker.handle));
    const server = this.server;
    const bind = (wanted: number) =>
      new Promise<number>((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException) => reject(error);
        server.once('error', onError);
        server.listen(wanted, host, () => {
          server.off('error', onError);
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : wanted);
        });
      });
    try {
      this.port = await bind(port);
      return { host, port: this.port, fellBack: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      this.logger?.warn(
        `MQTT port ${host}:${port} is taken (another broker?); the embedded broker takes a free port`,
      );
      this.port = await bind(0);
      return { host, port: this.port, fellBack: true };
    }
  }

  /** A consumer that receives agent updates in-process, for the Receiver. */
  consumer(): Consumer {
    const broker = this.broker;
    if (!broker) throw new Error('embedded broker is not listening yet');
    const topic = `${UPDATE_TOPIC_PREFIX}+`;
    let handler: ((packet: AedesPublishPacket, callback: () => void) => void) | undefined;
    return {
      start: (onDelivery: (delivery: Delivery) => void) =>
        new Promise<void>((resolve) => {
          handler = (packet, callback) => {
            const identity = hostFromTopic(packet.topic);
            if ('error' in identity) {
              this.logger?.warn({ topic: packet.topic }, `dropping message: ${identity.error}`);
              callback();
              return;
            }
            const payload = Buffer.isBuffer(packet.payload)
              ? packet.payload.toString('utf8')
              : String(packet.payload);
            onDelivery({ payload, host: identity.host, settle: callback });
          };
          broker.subscribe(topic, handler, resolve);
        }),
      stop: () =>
        new Promise<void>((resolve) => {
          if (handler) broker.unsubscribe(topic, handler, resolve);
          else resolve();
        }),
    };
  }

  /**
   * Stop accepting, then disconnect every client: a listening server's close waits for its open
   * connections, and connected agents never leave by themselves.
   */
  async close(): Promise<void> {
    const server = this.server;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.broker ? this.broker.close(() => resolve()) : resolve()));
    await closed;
  }
}

/**
 * Hand a new connection to aedes directly (MQTT 3.1, 3.1.1) or through the MQTT 5 bridge, once
 * its CONNECT packet has shown the protocol level.
 */
function routeByProtocol(socket: Socket, handle: (stream: Duplex) => void): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const level = connectProtocolLevel(head);
    if (level === undefined && head.length < MAX_CONNECT_HEAD) return;
    socket.off('data', onData);
    socket.pause();
    socket.unshift(head);
    handle(level === 5 ? bridgeMqtt5(socket) : socket);
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
}
