#!/usr/bin/env -S node --import tsx
// Runs the CLI from the TypeScript sources (tsx is loaded by the shebang). The oclif transpiler
// lookup is switched off and pointed straight at src/commands: its tsx registration fails
// inside a process that already runs under tsx.
import { readFileSync } from 'node:fs';
import { execute, settings } from '@oclif/core';

const root = new URL('..', import.meta.url).pathname;
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
pjson.oclif.commands.target = './src/commands';
settings.enableAutoTranspile = false;
await execute({ development: true, dir: import.meta.url, loadOptions: { root, pjson } });
