import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { parseMessage } from '../../../src/core/protocol/index.js';

export const PROJECT_ROOT = new URL('../../../', import.meta.url).pathname;

/** A unique host id per test, so parallel tests never read each other's topics. */
export function uniqueSelf(label: string): string {
  return `${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.agent-test`;
}

export function tempDir(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `kurado-agent-${label}-`));
}

export interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<number | null>;
}

function track(child: ChildProcess): RunningProcess {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The agent from source (agent/bin.ts under tsx), as `kurado agent` runs it. */
export function startAgentProcess(args: string[]): RunningProcess {
  return track(
    spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'agent/bin.ts'), ...args], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** A received agent message with the timestamps it carries. */
export interface Received {
  topic: string;
  payload: string;
  /** The single epoch all base lines carry. */
  epoch: number;
}

/** Subscribe to one agent's topic; fails loudly naming the broker when it is not there. */
export async function subscribe(
  url: string,
  topic: string,
  options: { clientId?: string; clean?: boolean } = {},
): Promise<{ client: MqttClient; messages: Received[] }> {
  const messages: Received[] = [];
  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(url, {
      clientId: options.clientId ?? `kurado-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      clean: options.clean ?? true,
      reconnectPeriod: 300,
      connectTimeout: 5000,
      protocolVersion: 4,
    });
  } catch (error) {
    throw new Error(
      `Mosquitto at ${url} is not reachable (start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf): ${(error as Error).message}`,
    );
  }
  client.on('message', (receivedTopic, payload) => {
    const text = payload.toString('utf8');
    const epoch = Number(/^base\.metrics\.[^\t]+\t[^\t]*\t(\d+)$/m.exec(text)?.[1]);
    messages.push({ topic: receivedTopic, payload: text, epoch });
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, messages };
}

export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs: number,
  details = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${details()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function parseCleanly(payload: string, host: string): ReturnType<typeof parseMessage> {
  return parseMessage(payload, { host, now: Math.floor(Date.now() / 1000) });
}

export { freePort, PrivateMosquitto, portOpen } from '../../helpers/mosquitto.js';
