export * from './cpu-columns.js';
export * from './host.js';
export * from './lines.js';
export * from './plugin-output.js';
export * from './types.js';
