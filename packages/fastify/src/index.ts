export * from './adapter/index.js';
export * from './compression/index.js';
export * from './problems/index.js';
