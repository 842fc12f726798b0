import { describe, expect, it } from 'vitest';
import { pullTarget } from '../../../test/helpers/pull.js';
import { FetchError } from '../types.js';
import { commandArguments, parseCommandOutput } from './command.js';

describe('parseCommandOutput', () => {
  it('passes plugin lines on and drops blank and comment lines', () => {
    expect(parseCommandOutput('# stats\nqueue\t42\n\n// note\r\nmeta.version\t1.2\r\n', 'x')).toEqual([
      'queue\t42',
      'meta.version\t1.2',
    ]);
  });

  it('no output is no lines', () => {
    expect(parseCommandOutput('', 'x')).toEqual([]);
  });

  it('text without one key<TAB>value line is a garbage reply', () => {
    expect(() => parseCommandOutput('<html>Service Unavailable</html>\n', 'command:q (/bin/q)')).toThrow(
      new FetchError('command:q (/bin/q) printed no key<TAB>value line: "<html>Service Unavailable</html>"'),
    );
  });
});

describe('commandArguments', () => {
  it('gives address, hostname and the arguments after the instance name', () => {
    expect(commandArguments(pullTarget('command', ['queue', '5555', 'jobs']))).toEqual([
      '--address',
      '127.0.0.1',
      '--hostname',
      'pull-test.example',
      '--plugin-arguments',
      '5555',
      '--plugin-arguments',
      'jobs',
    ]);
  });
});
