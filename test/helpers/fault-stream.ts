import { randomUUID } from 'node:crypto';
import path from 'node:path';
import mqtt from 'mqtt';
import { topicForHost } from '../../src/core/protocol/host.js';
import type { RrdReader } from './rrd-assert.js';

export interface TestMessage {
  host: string;
  payload: string;
}

/** A minute-aligned epoch `minutes` minutes ago, so every value of a test lies in the past. */
export function minutesAgo(minutes: number): number {
  const now = Math.floor(Date.now() / 1000);
  return now - (now % 60) - minutes * 60;
}

/**
 * Minute `minute` of `host`: gauge `test.metrics.minute` = the minute index at `start + minute * 60`,
 * and meta `test.meta.last-minute` naming it (so the store is written by every message too).
 */
export function minuteMessage(host: string, start: number, minute: number): TestMessage {
  const timestamp = start + minute * 60;
  return {
    host,
    payload: `test.metrics.minute.gauge\t${minute}\t${timestamp}\ntest.meta.last-minute\t${minute}\t${timestamp}\n`,
  };
}

/** The RRD file `minuteMessage` writes for `host`. */
export function minuteFile(dataDir: string, host: string): string {
  return path.join(dataDir, host, 'test', 'minute.gauge.rrd');
}

/** Publish with QoS 1; resolves when the broker acknowledged every message. */
export async function publishMqtt(url: string, messages: readonly TestMessage[]): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `test-pub-${randomUUID()}`, reconnectPeriod: 0 });
  try {
    await Promise.all(
      messages.map(({ host, payload }) => client.publishAsync(topicForHost(host), payload, { qos: 1 })),
    );
  } finally {
    await client.endAsync();
  }
}

/** Minutes `[0, count)` of `host` whose value is not (yet) readable through rrdcached. */
export async function missingMinutes(
  reader: RrdReader,
  dataDir: string,
  host: string,
  start: number,
  count: number,
): Promise<number[]> {
  let rows: Map<number, number | null>;
  try {
    rows = await reader.fetch(minuteFile(dataDir, host), start - 60, start + (count - 1) * 60);
  } catch {
    return Array.from({ length: count }, (_, minute) => minute);
  }
  const missing: number[] = [];
  for (let minute = 0; minute < count; minute++) {
    if (rows.get(start + minute * 60) !== minute) missing.push(minute);
  }
  return missing;
}
