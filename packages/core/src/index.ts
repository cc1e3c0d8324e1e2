export * from './circuit-breaker/index.js';
export * from './config/index.js';
export * from './contract/index.js';
export * from './errors/index.js';
export * from './ip/index.js';
export * from './log/index.js';
export * from './redis-watch/index.js';
export * from './state/index.js';
