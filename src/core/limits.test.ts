import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { DEFAULT_LIMITS, longerThanBytes } from './limits.js';

function configWith(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'kurado-limits-')), 'kurado.toml');
  writeFileSync(file, text);
  return file;
}

describe('[limits] in kurado.toml', () => {
  it('defaults to DEFAULT_LIMITS and takes each key given', () => {
    expect(loadConfig({ env: {} }).limits).toEqual(DEFAULT_LIMITS);
    const limits = loadConfig({
      env: {},
      configPath: configWith('[limits]\nmax_files_per_host = 20000\nmax_value_bytes = 2048\n'),
    }).limits;
    expect(limits).toEqual({ ...DEFAULT_LIMITS, maxFilesPerHost: 20000, maxValueBytes: 2048 });
  });

  it('refuses unknown keys and values that are not whole numbers', () => {
    expect(() => loadConfig({ env: {}, configPath: configWith('[limits]\nmax_files = 10\n') })).toThrow(
      /unknown key limits\.max_files; known: max_files_per_host, max_meta_per_host/,
    );
    expect(() =>
      loadConfig({ env: {}, configPath: configWith('[limits]\nmax_meta_per_host = -1\n') }),
    ).toThrow(/limits\.max_meta_per_host must be a whole number/);
  });
});

describe('longerThanBytes', () => {
  it('counts UTF-8 bytes', () => {
    expect(longerThanBytes('x'.repeat(1024), 1024)).toBe(false);
    expect(longerThanBytes('€'.repeat(341), 1024)).toBe(false); // 1023 bytes
    expect(longerThanBytes('€'.repeat(342), 1024)).toBe(true); // 1026 bytes
  });
});
