import { describe, expect, it } from 'vitest';
import { delivery } from '../../../test/helpers/ingest-fakes.js';
import type { InboundMessage, IngestReport } from './ingestor.js';
import { CommitLanes, SLOW_MESSAGE_BYTES } from './lanes.js';

/** An ingest step whose every commit waits until the test finishes it, and that knows some hosts. */
class ControlledIngest {
  readonly commits: { hosts: (string | undefined)[]; finish: () => void }[] = [];
  readonly known = new Set<string>();

  ingest(messages: readonly InboundMessage[]): Promise<IngestReport> {
    return new Promise((resolve) => {
      this.commits.push({
        hosts: messages.map((message) => message.host),
        finish: () => {
          for (const message of messages) if (message.host !== undefined) this.known.add(message.host);
          resolve({
            messages: messages.length,
            values: 0,
            meta: 0,
            warnings: 0,
            rejected: 0,
            duplicates: 0,
            created: 0,
            failed: 0,
            refused: 0,
            newHosts: [],
            lagSeconds: 0,
          });
        },
      });
    });
  }

  knowsHost(host: string): boolean {
    return this.known.has(host);
  }

  /** The commit that holds `host`'s message. */
  commitOf(host: string) {
    const commit = this.commits.find((candidate) => candidate.hosts.includes(host));
    if (!commit) throw new Error(`no commit holds ${host}; commits: ${JSON.stringify(this.commits)}`);
    return commit;
  }
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 5));

function lanes(ingest: ControlledIngest) {
  const lanes = new CommitLanes({
    ingestor: ingest,
    committer: { maxDelayMs: 1, roundWaitMs: 1 },
  });
  const send = (host: string | undefined, payload = 'base.metrics.x.gauge\t1\t1700000000') => {
    const message = delivery(payload);
    if (host !== undefined) message.host = host;
    lanes.add(message);
    return message;
  };
  return { lanes, send };
}

const big = 'x'.repeat(SLOW_MESSAGE_BYTES + 1);

describe('CommitLanes (decisions, with a controlled ingest step)', () => {
  it('stores and acknowledges a known host while a big message is still being stored', async () => {
    const ingest = new ControlledIngest();
    ingest.known.add('small').add('bighost');
    const { send } = lanes(ingest);
    const bigMessage = send('bighost', big);
    await settled();
    const small = send('small');
    await settled();
    ingest.commitOf('small').finish();
    await settled();
    expect(small.acked).toBe(1);
    expect(bigMessage.acked).toBe(0);
    ingest.commitOf('bighost').finish();
    await settled();
    expect(bigMessage.acked).toBe(1);
  });

  it('sends a host it does not know to the slow lane, and its next message after it, in order', async () => {
    const ingest = new ControlledIngest();
    ingest.known.add('old');
    const { send } = lanes(ingest);
    const first = send('new');
    await settled();
    const second = send('new');
    const old = send('old');
    await settled();
    // The known host commits on its own, beside the new host's first message.
    expect(ingest.commitOf('old').hosts).toEqual(['old']);
    ingest.commitOf('old').finish();
    await settled();
    expect(old.acked).toBe(1);
    // The second message waits behind the first (same lane, next commit), not beside it.
    expect(ingest.commits.filter((commit) => commit.hosts.includes('new'))).toHaveLength(1);
    ingest.commitOf('new').finish();
    await settled();
    expect(first.acked).toBe(1);
    const next = ingest.commits.at(-1);
    expect(next?.hosts).toEqual(['new']);
    next?.finish();
    await settled();
    expect(second.acked).toBe(1);
    // Stored once, the host is known: its next message takes the fast lane again.
    send('new');
    await settled();
    expect(ingest.commits.at(-1)?.hosts).toEqual(['new']);
  });

  it("holds a host's big message until its earlier message in the fast lane is stored", async () => {
    const ingest = new ControlledIngest();
    ingest.known.add('web');
    const { send } = lanes(ingest);
    const earlier = send('web');
    await settled();
    const bigMessage = send('web', big);
    await settled();
    expect(ingest.commits).toHaveLength(1);
    ingest.commitOf('web').finish();
    await settled();
    expect(earlier.acked).toBe(1);
    expect(ingest.commits).toHaveLength(2);
    ingest.commits[1]?.finish();
    await settled();
    expect(bigMessage.acked).toBe(1);
  });

  it('keeps messages without a host (relayed lines) in the fast lane, even big ones', async () => {
    const ingest = new ControlledIngest();
    const { send } = lanes(ingest);
    const relayed = send(undefined, big);
    const small = send(undefined);
    await settled();
    expect(ingest.commits).toHaveLength(1);
    expect(ingest.commits[0]?.hosts).toEqual([undefined, undefined]);
    ingest.commits[0]?.finish();
    await settled();
    expect([relayed.acked, small.acked]).toEqual([1, 1]);
  });

  it('drains both lanes on stop', async () => {
    const ingest = new ControlledIngest();
    ingest.known.add('known');
    const { lanes: committer, send } = lanes(ingest);
    const messages = [send('known'), send('fresh'), send('known', big)];
    const drained = committer.drain();
    // Finish every commit as it comes until the drain ends.
    let done = false;
    void drained.then(() => {
      done = true;
    });
    while (!done) {
      for (const commit of ingest.commits) commit.finish();
      await settled();
    }
    expect(messages.map((message) => message.acked)).toEqual([1, 1, 1]);
    expect(committer.backlog).toBe(0);
  });
});
