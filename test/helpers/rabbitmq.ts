import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import { execa } from 'execa';

/** The machine's RabbitMQ (AMQP) and its MQTT plugin, as `scripts/setup.sh --test` leaves them. */
export const RABBITMQ_AMQP = '127.0.0.1:5672';
export const RABBITMQ_MQTT = '127.0.0.1:1884';

/** Fails loudly, naming the address, when RabbitMQ's MQTT plugin does not answer. */
export async function requireRabbitMqtt(): Promise<void> {
  const [host, port] = RABBITMQ_MQTT.split(':') as [string, string];
  await new Promise<void>((resolve, reject) => {
    const socket = new Socket();
    socket.setTimeout(3000);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    const fail = (reason: string) => {
      socket.destroy();
      reject(
        new Error(
          `RabbitMQ's MQTT plugin does not answer on ${RABBITMQ_MQTT} (${reason}); run scripts/setup.sh --test`,
        ),
      );
    };
    socket.once('timeout', () => fail('timeout'));
    socket.once('error', (error) => fail(error.message));
    socket.connect(Number(port), host);
  });
}

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const result = await execa('rabbitmqctl', ['-q', ...args], { reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`rabbitmqctl ${args.join(' ')} failed (${result.exitCode}): ${result.stderr}`);
  }
  return result.stdout;
}

/**
 * A private virtual host on the machine's RabbitMQ, so a test's `kurado.update.#` queue sees
 * only its own messages; `guest` may do everything in it. `users` are created on demand and,
 * like the vhost and its queues, removed by `remove()`.
 */
export class PrivateVhost {
  readonly name = `kurado-test-${randomUUID().slice(0, 8)}`;
  private readonly users: string[] = [];

  static async create(): Promise<PrivateVhost> {
    const vhost = new PrivateVhost();
    await rabbitmqctl('add_vhost', vhost.name);
    await rabbitmqctl('set_permissions', '-p', vhost.name, 'guest', '.*', '.*', '.*');
    return vhost;
  }

  /** AMQP URL of this vhost as `guest`. */
  get amqpUrl(): string {
    return `amqp://guest:guest@${RABBITMQ_AMQP}/${encodeURIComponent(this.name)}`;
  }

  /** MQTT URL for `user` in this vhost: RabbitMQ's MQTT plugin reads `vhost:user` as the username. */
  mqttUrl(user = 'guest', password = 'guest'): string {
    return `mqtt://${encodeURIComponent(`${this.name}:${user}`)}:${encodeURIComponent(password)}@${RABBITMQ_MQTT}`;
  }

  async addUser(user: string, password: string): Promise<void> {
    await rabbitmqctl('add_user', user, password);
    this.users.push(user);
  }

  async remove(): Promise<void> {
    for (const user of this.users) await rabbitmqctl('delete_user', user).catch(() => undefined);
    await rabbitmqctl('delete_vhost', this.name);
  }
}
