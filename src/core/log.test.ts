import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, formatTextMessage, MAX_TEXT_FIELD_LENGTH, resolveLogFormat } from './log.js';

/** A destination that keeps what the logger wrote. */
function memory(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, lines: () => text.split('\n').filter((line) => line !== '') };
}

describe('resolveLogFormat', () => {
  it('auto is text on a terminal and JSON when piped', () => {
    expect(resolveLogFormat('auto', { isTerminal: true, env: {} })).toBe('text');
    expect(resolveLogFormat('auto', { isTerminal: false, env: {} })).toBe('json');
  });

  it('auto is JSON under systemd, even when its output is a terminal', () => {
    expect(resolveLogFormat('auto', { isTerminal: true, env: { JOURNAL_STREAM: '8:12345' } })).toBe('json');
    expect(resolveLogFormat('auto', { isTerminal: true, env: { INVOCATION_ID: 'a1b2' } })).toBe('json');
  });

  it('an explicit choice wins over the terminal and systemd', () => {
    expect(resolveLogFormat('json', { isTerminal: true, env: {} })).toBe('json');
    expect(resolveLogFormat('text', { isTerminal: false, env: { INVOCATION_ID: 'a1b2' } })).toBe('text');
  });
});

describe('formatTextMessage', () => {
  it('puts the message first, then the fields as key=value', () => {
    expect(
      formatTextMessage({ level: 30, time: 1, pid: 7, msg: 'subscribed', topic: 'kurado/#', connections: 2 }),
    ).toBe('subscribed topic=kurado/# connections=2');
  });

  it('quotes strings with spaces, shows objects as JSON and ends with the error message', () => {
    const line = formatTextMessage({
      msg: 'cannot store',
      file: '/var/lib/kurado/a b.rrd',
      missing: [1, 2],
      err: { type: 'Error', message: 'disk full', stack: 'Error: disk full\n    at …' },
    });
    expect(line).toBe('cannot store file="/var/lib/kurado/a b.rrd" missing=[1,2] err="disk full"');
  });

  it('cuts long values and counts the fields beyond the first six', () => {
    const record: Record<string, unknown> = { msg: 'summary', long: 'x'.repeat(500) };
    for (let field = 0; field < 8; field++) record[`f${field}`] = field;
    const line = formatTextMessage(record);
    expect(line).toContain(`long=${'x'.repeat(MAX_TEXT_FIELD_LENGTH - 1)}… `);
    expect(line).toContain('f4=4');
    expect(line).not.toContain('f5=');
    expect(line.endsWith('(+3 fields)')).toBe(true);
  });
});

describe('createLogger', () => {
  it('writes one readable line per record in text format: time, level, message, fields', () => {
    const out = memory();
    const logger = createLogger('up', { format: 'text', destination: out.stream, colorize: false });
    logger.info({ port: 1883 }, 'MQTT broker listening');
    logger.warn('store is slow');
    logger.debug('not shown at level info');
    expect(out.lines()).toHaveLength(2);
    expect(out.lines()[0]).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: MQTT broker listening port=1883$/);
    expect(out.lines()[1]).toMatch(/^\[\d\d:\d\d:\d\d\] WARN: store is slow$/);
  });

  it('writes JSON lines with every field in json format', () => {
    const out = memory();
    const logger = createLogger('receive', { format: 'json', destination: out.stream, level: 'debug' });
    logger.debug({ port: 1883 }, 'MQTT broker listening');
    const record = JSON.parse(out.lines()[0] as string) as Record<string, unknown>;
    expect(record).toMatchObject({
      level: 20,
      name: 'receive',
      pid: process.pid,
      port: 1883,
      msg: 'MQTT broker listening',
    });
  });
});
