import { Duplex } from 'node:stream';
import mqttPacket, { type IConnackPacket, type IUnsubackPacket, type Packet } from 'mqtt-packet';

/** CONNACK return codes of MQTT 3.1.1 and the MQTT 5 reason codes that say the same. */
const CONNACK_REASON_V5: Record<number, number> = {
  0: 0x00,
  1: 0x84, // unsupported protocol version
  2: 0x85, // client identifier not valid
  3: 0x88, // server unavailable
  4: 0x86, // bad user name or password
  5: 0x87, // not authorized
};

/**
 * The MQTT protocol level a connection announces in its CONNECT packet (3 = 3.1 `MQIsdp`,
 * 4 = 3.1.1, 5 = 5), or `undefined` while too few bytes have arrived, or `null` when the
 * bytes are not a CONNECT at all.
 */
export function connectProtocolLevel(head: Buffer): number | null | undefined {
  if (head.length === 0) return undefined;
  if (head[0] !== 0x10) return null;
  let offset = 1;
  for (let shift = 0; ; shift += 7) {
    if (offset >= head.length) return undefined;
    const byte = head[offset++] as number;
    if ((byte & 0x80) === 0) break;
    if (shift >= 21) return null;
  }
  if (offset + 2 > head.length) return undefined;
  const nameLength = head.readUInt16BE(offset);
  offset += 2 + nameLength;
  if (offset >= head.length) return undefined;
  return (head[offset] as number) & 0x7f;
}

/**
 * Lets an MQTT 5 client talk to a broker that speaks MQTT 3.1.1 (aedes): the client's packets
 * are parsed as MQTT 5 and handed on as 3.1.1 (properties dropped, topic aliases resolved), the
 * broker's answers go back as MQTT 5. Agents only connect, publish with QoS 0/1/2, ping and
 * disconnect; properties carry nothing Kurado reads, so dropping them loses nothing it stores.
 * Returns the stream to give the 3.1.1 broker.
 */
export function bridgeMqtt5(socket: Duplex): Duplex {
  const fromClient = mqttPacket.parser({ protocolVersion: 5 });
  const fromBroker = mqttPacket.parser({ protocolVersion: 4 });
  const topicAliases = new Map<number, string>();
  /** Topic count of each UNSUBSCRIBE in flight: an MQTT 5 UNSUBACK has one reason per topic. */
  const unsubscribes = new Map<number, number>();
  const brokerSide = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      fromBroker.parse(chunk);
      callback();
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  const toBroker = (packet: Packet) => {
    if (!brokerSide.push(mqttPacket.generate(packet, { protocolVersion: 4 }))) socket.pause();
  };
  const fail = (error: Error) => {
    brokerSide.destroy(error);
    socket.destroy();
  };

  fromClient.on('packet', (packet: Packet) => {
    switch (packet.cmd) {
      case 'connect': {
        const { properties: _ignored, ...rest } = packet;
        const will = rest.will && { ...rest.will };
        if (will) delete will.properties;
        toBroker({ ...rest, ...(will ? { will } : {}), protocolId: 'MQTT', protocolVersion: 4 });
        return;
      }
      case 'publish': {
        const alias = packet.properties?.topicAlias;
        let topic = packet.topic;
        if (alias !== undefined) {
          if (topic) topicAliases.set(alias, topic);
          else topic = topicAliases.get(alias) ?? '';
        }
        if (!topic) return fail(new Error('MQTT 5 PUBLISH with an unknown topic alias'));
        const { properties: _ignored, ...rest } = packet;
        toBroker({ ...rest, topic });
        return;
      }
      case 'subscribe':
        toBroker({
          cmd: 'subscribe',
          messageId: packet.messageId,
          subscriptions: packet.subscriptions.map(({ topic, qos }) => ({ topic, qos })),
        });
        return;
      case 'unsubscribe':
        if (packet.messageId !== undefined) unsubscribes.set(packet.messageId, packet.unsubscriptions.length);
        toBroker({
          cmd: 'unsubscribe',
          messageId: packet.messageId,
          unsubscriptions: packet.unsubscriptions,
        });
        return;
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        toBroker({ cmd: packet.cmd, messageId: packet.messageId } as Packet);
        return;
      case 'pingreq':
        toBroker({ cmd: 'pingreq' });
        return;
      case 'disconnect':
        toBroker({ cmd: 'disconnect' });
        return;
      default:
        fail(new Error(`MQTT 5 ${packet.cmd} is not supported by the embedded broker`));
    }
  });

  const toClient = (packet: Packet) => socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
  fromBroker.on('packet', (packet: Packet) => {
    switch (packet.cmd) {
      case 'connack': {
        const v4 = packet as IConnackPacket;
        toClient({
          cmd: 'connack',
          sessionPresent: v4.sessionPresent,
          reasonCode: CONNACK_REASON_V5[v4.returnCode ?? 0] ?? 0x80,
        });
        return;
      }
      case 'unsuback': {
        const count = unsubscribes.get(packet.messageId ?? -1) ?? 1;
        unsubscribes.delete(packet.messageId ?? -1);
        toClient({
          cmd: 'unsuback',
          messageId: packet.messageId,
          granted: new Array(count).fill(0),
        } as IUnsubackPacket);
        return;
      }
      default:
        toClient(packet);
    }
  });
  fromClient.on('error', fail);
  fromBroker.on('error', fail);

  socket.on('data', (chunk: Buffer) => fromClient.parse(chunk));
  socket.on('end', () => brokerSide.push(null));
  socket.on('close', () => brokerSide.destroy());
  socket.on('error', () => brokerSide.destroy());
  return brokerSide;
}
