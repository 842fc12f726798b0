import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PluginTemplate, parseTemplate, TemplateError } from './template.js';

/**
 * `templates/graphs` shipped with Kurado: the nearest one above this module (src/core/graphs
 * under tsx, dist/src/core/graphs when built; the package root holds `templates/`).
 */
export const SHIPPED_GRAPHS_DIR = findShippedDir();

function findShippedDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'templates', 'graphs');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return fileURLToPath(new URL('../../../templates/graphs/', import.meta.url));
}

export interface TemplateSet {
  /** Plugin name → template (site files already applied). */
  templates: Map<string, PluginTemplate>;
  /** Every mistake found, with file and line. */
  errors: TemplateError[];
  /** Files read, in order (shipped first, then the site directory). */
  files: string[];
}

const PLUGIN_NAME = /^[A-Za-z0-9_-]+$/;

function readDir(dir: string, errors: TemplateError[], required: boolean): string[] {
  try {
    if (!statSync(dir).isDirectory()) {
      errors.push(new TemplateError(dir, 0, 'graphs directory is not a directory'));
      return [];
    }
    return readdirSync(dir)
      .filter((f) => f.endsWith('.toml'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch (error) {
    if (required || (error as NodeJS.ErrnoException).code !== 'ENOENT') {
      errors.push(new TemplateError(dir, 0, `cannot read graphs directory: ${(error as Error).message}`));
    } else {
      errors.push(new TemplateError(dir, 0, 'graphs directory does not exist'));
    }
    return [];
  }
}

function loadDir(dir: string, errors: TemplateError[], files: string[], required: boolean): PluginTemplate[] {
  const out: PluginTemplate[] = [];
  for (const file of readDir(dir, errors, required)) {
    files.push(file);
    const plugin = path.basename(file, '.toml');
    if (!PLUGIN_NAME.test(plugin)) {
      errors.push(
        new TemplateError(file, 1, `file name must be <plugin>.toml with letters, digits, "_" or "-" only`),
      );
      continue;
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      errors.push(new TemplateError(file, 0, `cannot read: ${(error as Error).message}`));
      continue;
    }
    const parsed = parseTemplate(file, text, plugin);
    errors.push(...parsed.errors);
    if (parsed.template) out.push(parsed.template);
  }
  return out;
}

/**
 * Load the shipped templates, then the site directory: a site file replaces the shipped file of
 * the same plugin, or with `merge = true` replaces only the graphs whose key it defines and
 * appends the others.
 */
export function loadTemplates(options: { siteDir?: string; shippedDir?: string } = {}): TemplateSet {
  const errors: TemplateError[] = [];
  const files: string[] = [];
  const templates = new Map<string, PluginTemplate>();
  for (const t of loadDir(options.shippedDir ?? SHIPPED_GRAPHS_DIR, errors, files, true))
    templates.set(t.plugin, t);
  if (options.siteDir) {
    for (const site of loadDir(options.siteDir, errors, files, false)) {
      const base = templates.get(site.plugin);
      if (!site.merge || !base) {
        templates.set(site.plugin, site);
        continue;
      }
      const graphs = base.graphs.map((g) => site.graphs.find((s) => s.key === g.key) ?? g);
      for (const g of site.graphs) if (!base.graphs.some((b) => b.key === g.key)) graphs.push(g);
      templates.set(site.plugin, { ...base, graphs, file: `${base.file} + ${site.file}` });
    }
  }
  return { templates, errors, files };
}
