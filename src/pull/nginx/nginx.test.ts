import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHttpFixture } from '../../../test/helpers/http-fixture.js';
import { hostHeader } from '../net.js';
import { FetchError } from '../types.js';
import { parseNginxStatus } from './nginx.js';

const fixture = (name: string) => readHttpFixture(path.join(import.meta.dirname, 'fixtures', name));

describe('parseNginxStatus', () => {
  it('reads connections and the request counter of a recorded nginx 1.22 stub_status page', () => {
    const reply = fixture('stub_status.http');
    expect(parseNginxStatus(reply.body, reply.headers.server, 'x')).toEqual([
      'metrics.read.gauge\t0',
      'metrics.write.gauge\t1',
      'metrics.wait.gauge\t0',
      'metrics.reqs.derive\t6',
      'meta.server\tnginx/1.22.1',
    ]);
  });

  it('names the URL and quotes the start of a page that is not stub_status', () => {
    const reply = fixture('not_status.http');
    expect(() => parseNginxStatus(reply.body, reply.headers.server, 'http://127.0.0.1:8080/')).toThrow(
      new FetchError(
        'http://127.0.0.1:8080/ did not answer an nginx stub_status page (is "stub_status" enabled at that location?): "ok"',
      ),
    );
  });

  it('keeps a header with a tab on one field', () => {
    const reply = fixture('stub_status.http');
    expect(parseNginxStatus(reply.body, 'nginx\tcustom', 'x').at(-1)).toBe('meta.server\tnginx custom');
  });
});

describe('hostHeader', () => {
  it('puts an IPv6 address in brackets and leaves names and IPv4 alone', () => {
    expect(hostHeader('::1')).toBe('[::1]');
    expect(hostHeader('192.0.2.1')).toBe('192.0.2.1');
    expect(hostHeader('web01.example.com')).toBe('web01.example.com');
  });
});
