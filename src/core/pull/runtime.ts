import type { Lifecycle } from '../runtime/lifecycle.js';
import { PullScheduler, type PullSchedulerOptions } from './scheduler.js';
import { PullWorker, type PullWorkerOptions } from './worker.js';

/**
 * The pull roles as parts of a long-running command (`schedule`, `pull-worker`, `up`): each
 * registers its stop with the Lifecycle, so at shutdown the scheduler finishes its round and the
 * worker stores and acknowledges its jobs before the writer and store they use close.
 */

/** Start scheduling rounds; a stop lets the round in flight finish, then closes the backend. */
export function startPullScheduler(life: Lifecycle, options: PullSchedulerOptions): PullScheduler {
  const scheduler = new PullScheduler(options);
  life.onStop('pull scheduler', async () => {
    await scheduler.stop();
    await options.backend.close();
  });
  scheduler.start();
  return scheduler;
}

/** Start taking jobs; registered before the source connects, so a signal meanwhile stops it too. */
export async function startPullWorker(life: Lifecycle, options: PullWorkerOptions): Promise<PullWorker> {
  const worker = new PullWorker(options);
  life.onStop('pull worker', () => worker.stop());
  await worker.start();
  return worker;
}
