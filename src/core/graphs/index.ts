export { checkTemplatesWithRrdtool } from './check.js';
export { loadTemplates, SHIPPED_GRAPHS_DIR, type TemplateSet } from './loader.js';
export { RenderPool } from './pool.js';
export {
  createGraphService,
  type GraphServiceOptions,
  type KuradoGraphService,
  parseXport,
  TemplateLoadError,
} from './service.js';
export { GRAPH_STYLE } from './style.js';
export { type PluginTemplate, TemplateError } from './template.js';
export { resolveRange, TERM_SPECS } from './terms.js';
export * from './types.js';
