import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { delivery, FakeIngest } from '../../../test/helpers/ingest-fakes.js';
import { GroupCommitter } from './group-commit.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function committer(
  ingest: FakeIngest,
  options: Partial<ConstructorParameters<typeof GroupCommitter>[0]> = {},
) {
  return new GroupCommitter({ ingestor: ingest, ...options });
}

/**
 * Mosquitto's shared subscription as the receiver sees it: the broker spreads messages over the
 * member connections round-robin, and each connection hands over its next message only after the
 * previous one was acknowledged, `latencyMs` later (its network, its turn in the event loop).
 */
function sharedSubscription(
  target: GroupCommitter,
  connections: { name: string; latencyMs: number }[],
  payloads: string[],
) {
  const queues = connections.map(() => [] as string[]);
  for (const [index, payload] of payloads.entries()) queues[index % connections.length]?.push(payload);
  const handOver = (index: number) => {
    const connection = connections[index] as { name: string; latencyMs: number };
    const payload = queues[index]?.shift();
    if (payload === undefined) return;
    const message = delivery(payload, connection.name);
    const settle = message.settle;
    message.settle = () => {
      settle();
      setTimeout(() => handOver(index), connection.latencyMs);
    };
    target.add(message);
  };
  return {
    start: () => {
      for (const index of connections.keys()) setTimeout(() => handOver(index), 1);
    },
  };
}

/** Store each batch like an RRD file does: a value at or before the last stored one is lost. */
function storedInOrder(batches: string[][]): { stored: number[]; lost: number[] } {
  const stored: number[] = [];
  const lost: number[] = [];
  for (const batch of batches) {
    for (const value of batch.map(Number).sort((a, b) => a - b)) {
      if (stored.length > 0 && value <= (stored[stored.length - 1] as number)) lost.push(value);
      else stored.push(value);
    }
  }
  return { stored, lost };
}

describe('GroupCommitter', () => {
  it('commits messages that arrive together as one batch and acknowledges them only after it is stored', async () => {
    const ingest = new FakeIngest();
    ingest.hold = true;
    const group = committer(ingest, { maxDelayMs: 20 });
    const messages = ['a', 'b', 'c'].map((payload) => delivery(payload));
    for (const message of messages) group.add(message);
    await vi.advanceTimersByTimeAsync(19);
    expect(ingest.batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(ingest.payloads()).toEqual([['a', 'b', 'c']]);
    expect(messages.map((message) => message.acked)).toEqual([0, 0, 0]);
    ingest.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(messages.map((message) => message.acked)).toEqual([1, 1, 1]);
    expect(group.backlog).toBe(0);
  });

  it('runs one commit at a time: what arrives meanwhile goes into the next batch', async () => {
    const ingest = new FakeIngest();
    ingest.hold = true;
    const group = committer(ingest, { maxDelayMs: 5 });
    group.add(delivery('1'));
    await vi.advanceTimersByTimeAsync(5);
    group.add(delivery('2'));
    group.add(delivery('3'));
    await vi.advanceTimersByTimeAsync(100);
    expect(ingest.payloads()).toEqual([['1']]);
    ingest.release();
    await vi.advanceTimersByTimeAsync(5);
    expect(ingest.payloads()).toEqual([['1'], ['2', '3']]);
  });

  it('acknowledges nothing while the write path fails, and retries the same messages with backoff', async () => {
    const ingest = new FakeIngest();
    ingest.failures.push(new Error('rrdcached unreachable'), new Error('store unreachable'));
    const onCommit = vi.fn();
    const group = committer(ingest, { maxDelayMs: 1, retryInitialMs: 500, retryMaxMs: 30_000, onCommit });
    const messages = [delivery('a'), delivery('b')];
    for (const message of messages) group.add(message);
    await vi.advanceTimersByTimeAsync(1);
    expect(ingest.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(499);
    expect(ingest.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(ingest.batches).toHaveLength(2);
    expect(messages.map((message) => message.acked)).toEqual([0, 0]);
    expect(onCommit).not.toHaveBeenCalled();
    // The delay doubles: 1000 ms after the second failure.
    await vi.advanceTimersByTimeAsync(999);
    expect(ingest.batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(ingest.payloads()).toEqual([
      ['a', 'b'],
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(messages.map((message) => message.acked)).toEqual([1, 1]);
    expect(onCommit).toHaveBeenCalledTimes(1);
  });

  it('splits a backlog into commits of at most maxMessages, in arrival order, without waiting', async () => {
    const ingest = new FakeIngest();
    const group = committer(ingest, { maxMessages: 2, maxDelayMs: 1000 });
    const messages = ['1', '2', '3', '4', '5'].map((payload) => delivery(payload));
    for (const message of messages) group.add(message);
    await vi.advanceTimersByTimeAsync(0);
    // A full batch goes at once; the rest waits for company no longer than maxDelayMs.
    expect(ingest.payloads()).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(ingest.payloads()).toEqual([['1', '2'], ['3', '4'], ['5']]);
    expect(messages.every((message) => message.acked === 1)).toBe(true);
  });

  it('waits for every connection of the previous round, but no longer than roundWaitMs', async () => {
    const ingest = new FakeIngest();
    const group = committer(ingest, { maxDelayMs: 20, roundWaitMs: 250 });
    group.add(delivery('a1', 'A'));
    group.add(delivery('b1', 'B'));
    await vi.advanceTimersByTimeAsync(20);
    expect(ingest.payloads()).toEqual([['a1', 'b1']]);

    // B is slow to hand over its next message: the round waits for it, then commits at once.
    group.add(delivery('a2', 'A'));
    await vi.advanceTimersByTimeAsync(100);
    expect(ingest.batches).toHaveLength(1);
    group.add(delivery('b2', 'B'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ingest.payloads()[1]).toEqual(['a2', 'b2']);

    // B has nothing more: A's message goes after roundWaitMs, not at maxDelayMs and not never.
    group.add(delivery('a3', 'A'));
    await vi.advanceTimersByTimeAsync(249);
    expect(ingest.batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(ingest.payloads()[2]).toEqual(['a3']);
  });

  it('counts a message left over from a full batch as arrived for the next round', async () => {
    const ingest = new FakeIngest();
    ingest.hold = true;
    const group = committer(ingest, { maxMessages: 3, maxDelayMs: 20, roundWaitMs: 250 });
    group.add(delivery('a1', 'A'));
    group.add(delivery('b1', 'B'));
    await vi.advanceTimersByTimeAsync(20);
    expect(ingest.payloads()).toEqual([['a1', 'b1']]);
    // A connection that came back hands over messages again while round one is being stored:
    // four wait, three fit in round two, b3 is left over and already counts for round three.
    for (const payload of ['a2', 'b2', 'a3', 'b3']) group.add(delivery(payload, payload[0]?.toUpperCase()));
    ingest.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(ingest.payloads()[1]).toEqual(['a2', 'b2', 'a3']);
    ingest.release();
    await vi.advanceTimersByTimeAsync(0);
    group.add(delivery('a4', 'A'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ingest.payloads()[2]).toEqual(['b3', 'a4']);
  });

  it("stores one host's messages in publish order when the broker spreads them over connections of different speed", async () => {
    const ingest = new FakeIngest();
    const group = committer(ingest, { maxDelayMs: 20, roundWaitMs: 250 });
    // A receiver restarted after kill -9: the broker holds a backlog for every session, and
    // commits wait until all connections are up.
    group.pause();
    const timestamps = Array.from({ length: 60 }, (_, index) => String(1_700_000_000 + 60 * index));
    const broker = sharedSubscription(
      group,
      [
        { name: 'c0', latencyMs: 1 },
        { name: 'c1', latencyMs: 3 },
        { name: 'c2', latencyMs: 40 },
        { name: 'c3', latencyMs: 150 },
      ],
      timestamps,
    );
    broker.start();
    await vi.advanceTimersByTimeAsync(1);
    group.resume();
    await vi.advanceTimersByTimeAsync(10_000);
    const { stored, lost } = storedInOrder(ingest.payloads());
    expect(lost).toEqual([]);
    expect(stored.map(String)).toEqual(timestamps);
  });

  it('commits and acknowledges everything pending on drain, without waiting for timers', async () => {
    const ingest = new FakeIngest();
    const group = committer(ingest, { maxDelayMs: 60_000, maxMessages: 2 });
    const messages = ['1', '2', '3'].map((payload) => delivery(payload, 'c0'));
    group.pause();
    for (const message of messages) group.add(message);
    await group.drain();
    expect(ingest.payloads()).toEqual([['1', '2'], ['3']]);
    expect(messages.map((message) => message.acked)).toEqual([1, 1, 1]);
  });

  it('on drain with the write path down, tries once more and leaves the batch unacknowledged for the broker', async () => {
    const ingest = new FakeIngest();
    ingest.failures.push(new Error('down'), new Error('down'), new Error('down'));
    const group = committer(ingest, { maxDelayMs: 1, retryInitialMs: 60_000 });
    const message = delivery('1');
    group.add(message);
    await vi.advanceTimersByTimeAsync(1);
    expect(ingest.batches).toHaveLength(1);
    // drain wakes the backoff wait instead of sitting out its 60 s.
    let drained = false;
    void group.drain().then(() => {
      drained = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(drained).toBe(true);
    expect(ingest.batches).toHaveLength(2);
    expect(message.acked).toBe(0);
  });
});

describe('GroupCommitter with a storage node down', () => {
  it('acknowledges the other hosts at once and holds the down node’s messages, then stores them first', async () => {
    const ingest = new FakeIngest();
    ingest.downHosts.add('b');
    const commits = committer(ingest, { maxDelayMs: 10, heldRetryMs: 1000 });
    const a1 = delivery('a1', undefined, 'a');
    const b1 = delivery('b1', undefined, 'b');
    commits.add(a1);
    commits.add(b1);
    await vi.advanceTimersByTimeAsync(10);
    expect([a1.acked, b1.acked]).toEqual([1, 0]);
    expect(commits.heldCount).toBe(1);

    // The next minute: host a is stored within the batch delay, not after some wait for node b.
    const a2 = delivery('a2', undefined, 'a');
    const b2 = delivery('b2', undefined, 'b');
    commits.add(a2);
    commits.add(b2);
    await vi.advanceTimersByTimeAsync(10);
    expect([a2.acked, b2.acked]).toEqual([1, 0]);
    expect(ingest.payloads()[1]).toEqual(['b1', 'a2', 'b2']);
    expect(commits.backlog).toBe(2);

    // With nothing else arriving the held messages are tried now and then; node b comes back.
    await vi.advanceTimersByTimeAsync(1000);
    expect(ingest.payloads()[2]).toEqual(['b1', 'b2']);
    ingest.downHosts.clear();
    const a3 = delivery('a3', undefined, 'a');
    const b3 = delivery('b3', undefined, 'b');
    commits.add(a3);
    commits.add(b3);
    await vi.advanceTimersByTimeAsync(10);
    // The held ones go in front of the newer message of the same host: nothing is stored out of order.
    expect(ingest.payloads().at(-1)).toEqual(['b1', 'b2', 'a3', 'b3']);
    expect([b1.acked, b2.acked, a3.acked, b3.acked]).toEqual([1, 1, 1, 1]);
    expect(commits.backlog).toBe(0);
  });

  it('leaves held messages unacknowledged at shutdown instead of waiting for their node', async () => {
    const ingest = new FakeIngest();
    ingest.downHosts.add('b');
    const commits = committer(ingest, { maxDelayMs: 10 });
    const a1 = delivery('a1', undefined, 'a');
    const b1 = delivery('b1', undefined, 'b');
    commits.add(a1);
    commits.add(b1);
    await commits.drain();
    expect([a1.acked, b1.acked]).toEqual([1, 0]);
    expect(commits.heldCount).toBe(1);
  });
});
