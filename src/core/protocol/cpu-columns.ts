/**
 * The ten `/proc/stat` cpu columns in kernel order. The agent sends each as the derive metric
 * `cpu-<column>` (older kernels print fewer; the agent sends 0 for the missing ones), and
 * rankings and summaries read the same ten keys.
 */
export const CPU_COLUMNS = [
  'user',
  'nice',
  'system',
  'idle',
  'iowait',
  'irq',
  'softirq',
  'steal',
  'guest',
  'guest-nice',
] as const;
