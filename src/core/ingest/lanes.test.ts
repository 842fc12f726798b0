import { describe, expect, it } from 'vitest';
import { delivery, emptyIngestReport } from '../../../test/helpers/ingest-fakes.js';
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
          resolve(emptyIngestReport(messages.length));
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

/** Wait until `check` holds (the lanes commit on timers and promise chains). */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Long enough for a commit that should not happen to have happened (it only weakens a check). */
const quiet = () => new Promise((resolve) => setTimeout(resolve, 30));

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
    await until(() => ingest.commits.length === 1, 'the big commit');
    const small = send('small');
    await until(() => ingest.commits.length === 2, 'the small commit beside it');
    ingest.commitOf('small').finish();
    await until(() => small.acked === 1, 'the small message acknowledged');
    expect(bigMessage.acked).toBe(0);
    ingest.commitOf('bighost').finish();
    await until(() => bigMessage.acked === 1, 'the big message acknowledged');
  });

  it('sends a host it does not know (from an in-order transport) to the slow lane, and its next message after it, in order', async () => {
    const ingest = new ControlledIngest();
    ingest.known.add('old');
    const { send } = lanes(ingest);
    const first = send('new');
    await until(() => ingest.commits.length === 1, "the new host's commit");
    const second = send('new');
    const old = send('old');
    // The known host commits on its own, beside the new host's first message.
    await until(() => ingest.commits.length === 2, "the known host's commit");
    expect(ingest.commitOf('old').hosts).toEqual(['old']);
    ingest.commitOf('old').finish();
    await until(() => old.acked === 1, 'the known host acknowledged');
    // The second message waits behind the first (same lane, next commit), not beside it.
    await quiet();
    expect(ingest.commits.filter((commit) => commit.hosts.includes('new'))).toHaveLength(1);
    ingest.commitOf('new').finish();
    await until(() => first.acked === 1 && ingest.commits.length === 3, 'the second message committed');
    expect(ingest.commits[2]?.hosts).toEqual(['new']);
    ingest.commits[2]?.finish();
    await until(() => second.acked === 1, 'the second message acknowledged');
    // Stored once, the host is known: its next message takes the fast lane again.
    send('new');
    await until(() => ingest.commits.length === 4, 'the next commit');
    expect(ingest.commits[3]?.hosts).toEqual(['new']);
  });

  it('keeps a new host from an MQTT connection (a delivery with a source) in the fast lane', async () => {
    const ingest = new ControlledIngest();
    const { lanes: committer } = lanes(ingest);
    const fromConnection = delivery('base.metrics.x.gauge\t1\t1700000000', 'connection-1');
    fromConnection.host = 'new';
    committer.add(fromConnection);
    const other = delivery('base.metrics.x.gauge\t1\t1700000000', 'connection-2');
    other.host = 'other';
    committer.add(other);
    await until(() => ingest.commits.length > 0, 'a commit');
    await quiet();
    // Both in one commit of the fast lane, as before lanes existed.
    expect(ingest.commits.map((commit) => commit.hosts)).toEqual([['new', 'other']]);
  });

  it("holds a host's big message until its earlier message in the fast lane is stored", async () => {
    const ingest = new ControlledIngest();
    ingest.known.add('web');
    const { send } = lanes(ingest);
    const earlier = send('web');
    await until(() => ingest.commits.length === 1, 'the first commit');
    const bigMessage = send('web', big);
    await quiet();
    expect(ingest.commits).toHaveLength(1);
    ingest.commitOf('web').finish();
    await until(() => earlier.acked === 1 && ingest.commits.length === 2, 'the big message committed after');
    ingest.commits[1]?.finish();
    await until(() => bigMessage.acked === 1, 'the big message acknowledged');
  });

  it('keeps messages without a host (relayed lines) in the fast lane, even big ones', async () => {
    const ingest = new ControlledIngest();
    const { send } = lanes(ingest);
    const relayed = send(undefined, big);
    const small = send(undefined);
    await until(() => ingest.commits.length === 1, 'a commit');
    await quiet();
    expect(ingest.commits).toHaveLength(1);
    expect(ingest.commits[0]?.hosts).toEqual([undefined, undefined]);
    ingest.commits[0]?.finish();
    await until(() => relayed.acked === 1 && small.acked === 1, 'both acknowledged');
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
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(messages.map((message) => message.acked)).toEqual([1, 1, 1]);
    expect(committer.backlog).toBe(0);
  });
});
