import { type AddressInfo, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linesToMap, pullTarget, runFetch, timed } from '../../../test/helpers/pull.js';
import {
  NGINX_STATUS_PATH,
  type RunningServer,
  refusingPort,
  startBlackHole,
  startNginx,
} from '../../../test/helpers/servers.js';
import { FetchError } from '../types.js';
import { nginxFetcher } from './nginx.js';

describe('nginx fetcher against a private nginx', () => {
  let nginx: RunningServer;
  beforeAll(async () => {
    nginx = await startNginx();
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('reads stub_status, and the request counter grows with the requests made', async () => {
    const target = pullTarget('nginx', [String(nginx.port), NGINX_STATUS_PATH]);
    const before = linesToMap(await runFetch(nginxFetcher, target));
    expect(before.get('meta.server')).toMatch(/^nginx\//);
    expect(Number(before.get('metrics.write.gauge'))).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${nginx.port}/`)).status).toBe(200);
    const after = linesToMap(await runFetch(nginxFetcher, target));
    // Five page requests plus the first status read.
    expect(Number(after.get('metrics.reqs.derive'))).toBeGreaterThanOrEqual(
      Number(before.get('metrics.reqs.derive')) + 6,
    );
  });

  it('a path without stub_status is a garbage reply naming the URL', async () => {
    const target = pullTarget('nginx', [String(nginx.port), '/']);
    await expect(runFetch(nginxFetcher, target)).rejects.toThrow(
      `http://127.0.0.1:${nginx.port}/ did not answer an nginx stub_status page`,
    );
  });

  it('a missing page is an HTTP error naming the URL and Host header', async () => {
    const target = pullTarget('nginx', [String(nginx.port), '/nope/nginx_status', 'status.example']);
    await expect(runFetch(nginxFetcher, target)).rejects.toThrow(
      `HTTP 404 from http://127.0.0.1:${nginx.port}/nope/nginx_status (Host: status.example)`,
    );
  });
});

describe('nginx fetcher against bad targets', () => {
  it('a refused connection names the address and port', async () => {
    const port = await refusingPort();
    await expect(runFetch(nginxFetcher, pullTarget('nginx', [String(port)]))).rejects.toThrow(
      new FetchError(`connection refused by 127.0.0.1:${port} (nothing listens on that port?)`),
    );
  });

  it('a target that accepts and never answers costs only the timeout', async () => {
    const hole = await startBlackHole();
    try {
      const { ms, error } = await timed(
        runFetch(nginxFetcher, pullTarget('nginx', [String(hole.port)]), 400),
      );
      expect(error).toEqual(new FetchError(`no answer from 127.0.0.1:${hole.port} within 400 ms`));
      expect(hole.connections()).toBe(1);
      expect(ms).toBeGreaterThanOrEqual(350);
      expect(ms).toBeLessThan(3000);
    } finally {
      await hole.stop();
    }
  });

  it('a server that stalls in the middle of its reply costs only the timeout', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nActive connections: 1 \n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const { ms, error } = await timed(runFetch(nginxFetcher, pullTarget('nginx', [String(port)]), 400));
      expect(error).toEqual(new FetchError(`no answer from 127.0.0.1:${port} within 400 ms`));
      expect(ms).toBeLessThan(3000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a port argument that is not a port is refused before connecting', async () => {
    await expect(runFetch(nginxFetcher, pullTarget('nginx', ['80x']))).rejects.toThrow(
      'nginx:80x: "80x" is not a TCP port (1-65535)',
    );
  });
});
