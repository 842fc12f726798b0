import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { topicForHost } from '../../../src/core/protocol/index.js';
import {
  type RunningProcess,
  startAgentProcess,
  subscribe,
  tempDir,
  uniqueSelf,
  waitFor,
} from './helpers.js';

const BROKER = 'mqtt://127.0.0.1:1883';
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function exitOf(agent: RunningProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (agent.child.exitCode !== null) resolve(agent.child.exitCode);
    else agent.child.on('exit', (code) => resolve(code));
  });
}

describe('kurado agent as a process', () => {
  it('reloads conf.d on SIGHUP, refuses a second start on the same pidfile, stops cleanly on SIGTERM', async () => {
    const dir = tempDir('process');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const confD = path.join(dir, 'conf.d');
    mkdirSync(confD);
    const pidfile = path.join(dir, 'agent.pid');
    const self = uniqueSelf('process');
    const { client, messages } = await subscribe(BROKER, topicForHost(self));
    cleanups.push(() => client.endAsync());
    const args = ['--mqtt', BROKER, '--self', self, '--conf-d', confD, '--pidfile', pidfile];
    const agent = startAgentProcess([
      ...args,
      '--state-dir',
      path.join(dir, 'state'),
      '--interval-seconds',
      '1',
    ]);
    cleanups.push(() => agent.stop());
    await waitFor('a first tick', () => messages.length >= 1, 20_000, agent.output);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(agent.child.pid));

    const second = startAgentProcess([...args, '--state-dir', path.join(dir, 'state2')]);
    cleanups.push(() => second.stop());
    expect(await exitOf(second)).toBe(1);
    expect(second.output()).toContain(
      `--pidfile ${pidfile}: another agent is running as pid ${agent.child.pid}`,
    );

    writeFileSync(
      path.join(confD, 'late.toml'),
      `[plugin.metrics.late]\ncommand = "printf 'answer\\\\t42\\\\n'"\n`,
    );
    agent.child.kill('SIGHUP');
    await waitFor(
      'a tick with the plugin added before SIGHUP',
      () => messages.some((message) => message.payload.includes('late.metrics.answer.gauge\t42\t')),
      20_000,
      agent.output,
    );
    expect(agent.output()).toMatch(/reloaded .*conf\.d: 1 plugin\(s\)/);

    agent.child.kill('SIGTERM');
    expect(await exitOf(agent)).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });

  it('reports a conf.d file it cannot use as base.warn.conf-d and keeps publishing', async () => {
    const dir = tempDir('badconf');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const confD = path.join(dir, 'conf.d');
    mkdirSync(confD);
    writeFileSync(path.join(confD, 'broken.toml'), '[plugin.metrics.x\ncommand = "true"\n');
    const self = uniqueSelf('badconf');
    const { client, messages } = await subscribe(BROKER, topicForHost(self));
    cleanups.push(() => client.endAsync());
    const agent = startAgentProcess([
      '--mqtt',
      BROKER,
      '--self',
      self,
      '--conf-d',
      confD,
      '--state-dir',
      path.join(dir, 'state'),
      '--interval-seconds',
      '1',
    ]);
    cleanups.push(() => agent.stop());
    await waitFor('a tick', () => messages.length >= 1, 20_000, agent.output);
    expect(messages[0]!.payload).toMatch(/^base\.warn\.conf-d\t.*broken\.toml: not valid TOML/m);
    expect(messages[0]!.payload).toMatch(/^base\.metrics\.cpu-user\.derive\t\d+\t\d+$/m);
  });

  it('warns on every tick when the spool cannot be on disk', async () => {
    const dir = tempDir('nospool');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const notADirectory = path.join(dir, 'file');
    writeFileSync(notADirectory, '');
    const self = uniqueSelf('nospool');
    const { client, messages } = await subscribe(BROKER, topicForHost(self));
    cleanups.push(() => client.endAsync());
    const agent = startAgentProcess([
      '--mqtt',
      BROKER,
      '--self',
      self,
      '--state-dir',
      notADirectory,
      '--interval-seconds',
      '1',
    ]);
    cleanups.push(() => agent.stop());
    await waitFor('two ticks', () => messages.length >= 2, 20_000, agent.output);
    for (const message of messages) {
      expect(message.payload).toMatch(
        /^base\.warn\.spool\t.*file\/spool is not writable .*memory only\t\d+$/m,
      );
    }
  });
});
