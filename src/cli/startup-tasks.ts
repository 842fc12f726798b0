import { Listr } from 'listr2';
import type { LogFormat } from '../core/log.js';

/** One start-up step of a long-running command; `start` may return a better title once done. */
export interface StartupStep {
  title: string;
  /** Steps that do not apply (the agent with --no-agent) are left out of the list. */
  enabled?: boolean;
  start: () => Promise<string | undefined> | string | undefined;
}

/**
 * Run start-up steps in order. With text logs (a person at a terminal) they show as a task list
 * that ticks off each part, or marks the failing one with its reason; log lines written meanwhile
 * are held back and printed below the list. With JSON logs (a pipe, systemd) nothing is drawn:
 * the JSON log lines stay the only output. The first failing step stops the rest and rejects.
 */
export async function runStartupSteps(steps: readonly StartupStep[], logFormat: LogFormat): Promise<void> {
  const list = new Listr(
    steps
      .filter((step) => step.enabled !== false)
      .map((step) => ({
        title: step.title,
        task: async (_context: unknown, task: { title: string }) => {
          const done = await step.start();
          if (done) task.title = done;
        },
      })),
    {
      renderer: logFormat === 'text' ? 'default' : 'silent',
      exitOnError: true,
      // The command's Lifecycle owns SIGINT/SIGTERM, also while starting.
      registerSignalListeners: false,
      rendererOptions: { collapseErrors: false },
    },
  );
  await list.run();
}
