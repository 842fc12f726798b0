import { cpuCollector } from './cpu.js';
import { diskIoCollector } from './disk-io.js';
import { diskUsageCollector } from './disk-usage.js';
import { loadavgCollector } from './loadavg.js';
import { memoryCollector } from './memory.js';
import { processorsCollector } from './processors.js';
import { swapsCollector } from './swaps.js';
import { uptimeCollector, versionCollector } from './system.js';
import { tcpCollector } from './tcp.js';
import { trafficCollector } from './traffic.js';
/** The default collectors, in upstream order (`@FUNC` of Kurado::Agent::Collector). */
export const DEFAULT_COLLECTORS = [
  memoryCollector,
  loadavgCollector,
  uptimeCollector,
  versionCollector,
  processorsCollector,
  cpuCollector,
  tcpCollector,
  diskUsageCollector,
  diskIoCollector,
  swapsCollector,
  trafficCollector,
];
//# sourceMappingURL=index.js.map
