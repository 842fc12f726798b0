/**
 * `kurado serve` under load: 200 concurrent clients (autocannon) load host pages and every PNG
 * graph on them, for 60 s, against a fleet of 500 hosts with RRD files (SQLite store, private
 * rrdcached, the compiled CLI as its own process). Checks: no 5xx, no failed PNG, RSS of the
 * serve process and its rrdtool processes bounded (sampled every second). Reports requests/s and
 * latency p50/p95/p99.
 *
 *   npm run bench -- web-load      (HOSTS=500 CLIENTS=200 SECONDS=60 to change)
 */
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { spawnKurado } from '../test/helpers/cli.js';
import { freePort } from '../test/helpers/mosquitto.js';
import { startWebFixture } from '../test/helpers/web-fixture.js';

const HOSTS = Number(process.env.HOSTS ?? 500);
const CLIENTS = Number(process.env.CLIENTS ?? 200);
const SECONDS = Number(process.env.SECONDS ?? 60);
const VIEWER_HEADER = 'X-Forwarded-User';

/** RSS of `pid` in MB, or 0 once it is gone. */
function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The rrdtool processes whose parent is `pid`, with their RSS. */
function rrdtoolChildren(pid: number): { count: number; rssMb: number } {
  let count = 0;
  let rss = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const parent = Number(stat.slice(close + 2).split(' ')[1]);
      if (parent === pid && name === 'rrdtool') {
        count++;
        rss += rssMb(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return { count, rssMb: rss };
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const setupStart = Date.now();
const fixture = await startWebFixture({ extraHosts: HOSTS, extraHostsWithData: true, hours: 2 });
// The fixture's in-process server is not used: `kurado serve` runs as production runs it.
await fixture.graphs.close();
const port = await freePort();
const serve = spawnKurado([
  'serve',
  ...['--listen', `127.0.0.1:${port}`, '--store', fixture.storeUrl],
  ...['--data-dir', fixture.dataDir, '--rrdcached', fixture.rrdcached.address],
  // 200 viewers behind an authenticating proxy, each its own user: the per-client render limit
  // applies per viewer as in production, not to the one loopback address they all share here.
  ...['--trusted-proxy-header', VIEWER_HEADER],
]);
let failed = false;
try {
  await serve.waitForLog(/kurado serve listening/, 60_000);
  const pid = serve.child.pid as number;
  const base = `http://127.0.0.1:${port}`;
  const dataHosts = fixture.hosts.filter((host) => host.data && host.address.startsWith('10.1'));
  const fleet = dataHosts.slice(-HOSTS);

  // The PNGs of a host page, found in its HTML; the same set for every bulk host.
  const sample = fleet[0]!.address;
  const html = await (
    await fetch(`${base}/host/${encodeURIComponent(sample)}`, { headers: { [VIEWER_HEADER]: 'check' } })
  ).text();
  const pngs = [...html.matchAll(/src="(\/graph\/[^"]+\.png[^"]*)"/g)].map((match) =>
    (match[1] as string).replaceAll('&amp;', '&'),
  );
  if (pngs.length === 0) throw new Error(`no PNG on the host page of ${sample}:\n${html.slice(0, 2000)}`);
  const paths: string[] = [];
  for (const host of fleet) {
    const encoded = encodeURIComponent(host.address);
    paths.push(`/host/${encoded}`);
    for (const png of pngs)
      paths.push(png.replace(`/graph/${encodeURIComponent(sample)}/`, `/graph/${encoded}/`));
  }
  // Every kind of path answers 200 before the load starts (one host's page and PNGs).
  for (const path of paths.slice(0, pngs.length + 1)) {
    const response = await fetch(`${base}${path}`, { headers: { [VIEWER_HEADER]: 'check' } });
    if (response.status !== 200)
      throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  }
  console.log(
    `fleet of ${fleet.length} hosts with RRD files ready in ${((Date.now() - setupStart) / 1000).toFixed(0)} s; ` +
      `each host page has ${pngs.length} PNGs; ${CLIENTS} clients for ${SECONDS} s`,
  );

  let next = 0;
  let viewers = 0;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let pngRequests = 0;
  let maxRss = 0;
  let maxRrdtool = 0;
  let maxRrdtoolRss = 0;
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssMb(pid));
    const children = rrdtoolChildren(pid);
    maxRrdtool = Math.max(maxRrdtool, children.count);
    maxRrdtoolRss = Math.max(maxRrdtoolRss, children.rssMb);
  }, 1000);
  const rssBefore = rssMb(pid);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: base,
        connections: CLIENTS,
        duration: SECONDS,
        timeout: 30,
        requests: [
          {
            setupRequest: (request, context) => {
              const path = paths[next++ % paths.length] as string;
              if (path.startsWith('/graph/')) pngRequests++;
              const viewer = context as { viewer?: string };
              viewer.viewer ??= `viewer-${viewers++}`;
              return { ...request, path, headers: { ...request.headers, [VIEWER_HEADER]: viewer.viewer } };
            },
          },
        ],
      },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
    });
  });
  clearInterval(sampler);
  latencies.sort((a, b) => a - b);
  const serverErrors = [...statuses].filter(([code]) => code >= 500).reduce((sum, [, n]) => sum + n, 0);
  const other = [...statuses].filter(([code]) => code !== 200);
  console.log(
    [
      `requests: ${result.requests.total} in ${result.duration.toFixed(0)} s = ${result.requests.average.toFixed(0)} req/s (${pngRequests} PNG requests sent)`,
      `latency: p50 ${percentile(latencies, 0.5)} ms, p95 ${percentile(latencies, 0.95)} ms, p99 ${percentile(latencies, 0.99)} ms, max ${latencies[latencies.length - 1]} ms`,
      `statuses: ${JSON.stringify(Object.fromEntries(statuses))}; errors ${result.errors}, timeouts ${result.timeouts}`,
      `serve RSS: ${rssBefore.toFixed(0)} MB before, max ${maxRss.toFixed(0)} MB under load; rrdtool processes: max ${maxRrdtool} (${maxRrdtoolRss.toFixed(0)} MB together)`,
    ].join('\n'),
  );
  if (serverErrors > 0 || other.length > 0 || result.errors > 0 || result.timeouts > 0) {
    console.error(`FAIL: not every request answered 200: ${JSON.stringify(other)}`);
    failed = true;
  }
  if (maxRss > 1024 || maxRrdtool > 16) {
    console.error('FAIL: serve RSS over 1 GB or more than 16 rrdtool processes');
    failed = true;
  }
} finally {
  await serve.stop('SIGTERM');
  await fixture.close();
}
process.exit(failed ? 1 : 0);
