import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseListenAddress } from './address.js';
import { Lifecycle } from './lifecycle.js';

const logger = pino({ level: 'silent' });

function harness(stoppingMessage = 'stopping') {
  const signals = new EventEmitter();
  const exits: number[] = [];
  const raised: string[] = [];
  const life = new Lifecycle({
    logger,
    stoppingMessage,
    signals,
    exit: (code) => exits.push(code),
    raise: (signal) => raised.push(signal),
  });
  return { signals, exits, life, raised };
}

describe('Lifecycle', () => {
  it('stops the parts in reverse order of start on SIGTERM, then exits 0', async () => {
    const { signals, exits, life } = harness();
    const order: string[] = [];
    for (const name of ['store', 'writer', 'receiver', 'web']) {
      life.onStop(name, async () => {
        order.push(name);
      });
    }
    life.handleSignals();
    const stopped = life.untilStopped();
    signals.emit('SIGTERM');
    expect(await stopped).toBe(0);
    expect(order).toEqual(['web', 'receiver', 'writer', 'store']);
    expect(exits).toEqual([0]);
  });

  it('lets a part finish stopping before the parts it uses stop', async () => {
    const { signals, life } = harness();
    const order: string[] = [];
    life.onStop('writer', async () => {
      order.push('writer closed');
    });
    life.onStop('receiver', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push('receiver drained');
    });
    life.handleSignals();
    const stopped = life.untilStopped();
    signals.emit('SIGINT');
    await stopped;
    expect(order).toEqual(['receiver drained', 'writer closed']);
  });

  it('stops every part once even when a second signal arrives, and exits 1 when one failed', async () => {
    const { signals, exits, life } = harness();
    let storeClosed = 0;
    life.onStop('store', async () => {
      storeClosed++;
    });
    life.onStop('web', async () => {
      throw new Error('socket busy');
    });
    life.handleSignals();
    const stopped = life.untilStopped();
    signals.emit('SIGTERM');
    signals.emit('SIGINT');
    expect(await stopped).toBe(1);
    expect(storeClosed).toBe(1);
    expect(exits).toEqual([1]);
    expect(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT')).toBe(0);
  });

  it('keeps listening while stopping; the same signal again takes its default action, the other is ignored', async () => {
    const { signals, exits, life, raised } = harness();
    let finishStop: () => void = () => {};
    life.onStop('receiver', () => new Promise<void>((resolve) => (finishStop = resolve)));
    life.handleSignals();
    const stopped = life.untilStopped();
    signals.emit('SIGINT');
    expect(signals.listenerCount('SIGINT')).toBe(1);
    signals.emit('SIGTERM');
    expect(raised).toEqual([]);
    signals.emit('SIGINT');
    expect(raised).toEqual(['SIGINT']);
    expect(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT')).toBe(0);
    finishStop();
    expect(await stopped).toBe(0);
    expect(exits).toEqual([0]);
  });

  it('stops what a failed start had started, and passes the error on', async () => {
    const { exits, life } = harness();
    const closed: string[] = [];
    await expect(
      life.starting(async () => {
        life.onStop('store', async () => {
          closed.push('store');
        });
        throw new Error('--auth basic needs --users-file');
      }),
    ).rejects.toThrow('--auth basic needs --users-file');
    expect(closed).toEqual(['store']);
    expect(exits).toEqual([]);
  });
});

describe('parseListenAddress', () => {
  it('reads host:port, bracketed IPv6 and an empty host', () => {
    expect(parseListenAddress('127.0.0.1:5434', '--listen')).toEqual({ host: '127.0.0.1', port: 5434 });
    expect(parseListenAddress('[::1]:80', '--listen')).toEqual({ host: '::1', port: 80 });
    expect(parseListenAddress(':1883', '--mqtt-listen')).toEqual({ host: '0.0.0.0', port: 1883 });
  });

  it('names the flag when the value is not host:port', () => {
    expect(() => parseListenAddress('localhost', '--listen')).toThrow(
      '--listen "localhost" must be host:port, e.g. 0.0.0.0:5434',
    );
  });
});
